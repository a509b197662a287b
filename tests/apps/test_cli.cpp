// The tinydiff command, run as a subprocess (build/tinydiff): exit codes and one-line messages for
// bad input, nothing left behind by failed commands, a tiny train -> sample -> info run, eval of a
// folder of PNG images (--images, --print-prompts), and Ctrl-C during training (exit 130 with a
// checkpoint).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "diffusion/data/image_io.h"
#include "diffusion/evaluation/evaluate.h"
#include "diffusion/models/trained_model.h"
#include "nn/safetensors.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

const std::string kBinary = std::string(TINYDIFF_BINARY_DIR) + "/tinydiff";

struct Run {
  int code = -1;
  std::string out, err;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// CTest runs each TEST_CASE as its own process, several at once: each process gets its own
// folder (a shared one let one test's stdout.txt and run/ clobber another's).
fs::path work_dir() {
  static const fs::path dir = [] {
    const fs::path d = fs::path(TINYDIFF_BINARY_DIR) / "test_runs" / ("cli-" + std::to_string(::getpid()));
    fs::remove_all(d);
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

// Runs build/tinydiff with `args` (one thread, quiet progress) in the test folder.
// `prefix`: a command that runs tinydiff (e.g. setpriv with its options), or "".
Run run_tinydiff(const std::vector<std::string>& args, const std::string& prefix = "") {
  const fs::path dir = work_dir();
  std::string cmd = "cd " + quote(dir.string()) + " && OMP_NUM_THREADS=1 " + prefix + quote(kBinary);
  for (const auto& a : args) {
    cmd += ' ';
    cmd += quote(a);  // (not `" " + quote(a)`: GCC 12 warns falsely about it, -Wrestrict)
  }
  cmd += " >stdout.txt 2>stderr.txt";
  const int status = std::system(cmd.c_str());
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_file((dir / "stdout.txt").string());
  r.err = read_file((dir / "stderr.txt").string());
  return r;
}

int count_lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

// A bad input: the exit code, and one line on stderr naming the problem (`what`) with a hint.
void check_error(const std::vector<std::string>& args, int code, const std::string& what,
                 const std::string& prefix = "") {
  std::string cmd;
  for (const auto& a : args) cmd += a + " ";
  INFO(prefix << "tinydiff " << cmd);
  const Run r = run_tinydiff(args, prefix);
  INFO("stderr: " << r.err);
  CHECK(r.code == code);
  CHECK(count_lines(r.err) == 1);
  CHECK(r.err.rfind("tinydiff: error: ", 0) == 0);
  CHECK(r.err.find("; hint: ") != std::string::npos);
  CHECK(r.err.find(what) != std::string::npos);
}

// A micro model trained for 3 steps once for the whole file: train -> checkpoint.
const std::string& trained_checkpoint() {
  static const std::string path = [] {
    fs::remove_all(work_dir() / "run");
    const Run r = run_tinydiff({"train", "--dataset", "fashion", "--out", "run", "--steps", "3", "--batch", "4",
                                "--config", "micro", "--progress", "none"});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    REQUIRE(r.code == 0);
    return (work_dir() / "run" / "checkpoint.safetensors").string();
  }();
  return path;
}

}  // namespace

TEST_CASE("tinydiff train -> sample -> info on a micro model", "[cli]") {
  const std::string ckpt = trained_checkpoint();
  REQUIRE(fs::exists(ckpt));
  CHECK(fs::exists(work_dir() / "run" / "log.jsonl"));
  CHECK(count_lines(read_file((work_dir() / "run" / "log.jsonl").string())) == 3);
  CHECK(fs::exists(work_dir() / "run" / "samples" / "step_000003.png"));

  fs::remove_all(work_dir() / "images");
  Run r = run_tinydiff({"sample", "--checkpoint", ckpt, "--prompt", "a photo of a sneaker", "--count", "3", "--steps",
                        "4", "--out", "images"});
  INFO("stderr: " << r.err);
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  for (const char* f : {"000.png", "001.png", "002.png", "grid.png"}) CHECK(fs::exists(work_dir() / "images" / f));
  CHECK_FALSE(fs::exists(work_dir() / "images" / "003.png"));
  const std::string png = read_file((work_dir() / "images" / "000.png").string());
  CHECK(png.substr(1, 3) == "PNG");

  // Warnings (one line each) for unknown words and truncation; the empty prompt is fine.
  r = run_tinydiff({"sample", "--checkpoint", ckpt, "--prompt", "a photo of a zebra", "--count", "1", "--steps", "2",
                    "--out", "images"});
  CHECK(r.code == 0);
  CHECK(r.err.find("warning: unknown word 'zebra'") != std::string::npos);
  CHECK(count_lines(r.err) == 1);
  r = run_tinydiff({"sample", "--checkpoint", ckpt, "--prompt", "a a a a a a a a a a a a a a a a a a a", "--count", "1",
                    "--steps", "2", "--out", "images"});
  CHECK(r.code == 0);
  CHECK(r.err.find("warning: the prompt is longer than the model's 16 tokens") != std::string::npos);
  r = run_tinydiff({"sample", "--checkpoint", ckpt, "--prompt", "", "--count", "1", "--steps", "2", "--out", "images"});
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  // The ODE samplers, by name and by stable-diffusion.cpp's alias; no progress bar when stderr is not a terminal.
  r = run_tinydiff({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--count", "1", "--steps", "3", "--sampler",
                    "dpm++2m", "--out", "images"});
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("(dpmpp_2m, 3 steps, karras sigmas, guidance") != std::string::npos);
  r = run_tinydiff({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--count", "1", "--steps", "2", "--sampler",
                    "heun", "--sigmas", "uniform", "--out", "images"});
  CHECK(r.code == 0);
  CHECK(r.out.find("(heun, 2 steps = 3 model evaluations, uniform sigmas, guidance") != std::string::npos);
  // stable-diffusion.cpp's spellings: -p, -o FILE.png (one file), -s -1 (a random seed, printed), --cfg-scale,
  // --sampling-method. Two random seeds differ (a fixed "random" seed would print the same number twice).
  std::vector<std::string> seeds;
  for (int run = 0; run < 2; ++run) {
    fs::remove(work_dir() / "bag.png");
    r = run_tinydiff({"sample", "--checkpoint", ckpt, "-p", "a bag", "-o", "bag.png", "-s", "-1", "--cfg-scale", "2",
                      "--sampling-method", "euler", "--steps", "2"});
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.code == 0);
    CHECK(r.out.find("sampling 1 image of \"a bag\" (euler, 2 steps, karras sigmas, guidance 2, seed ") !=
          std::string::npos);
    CHECK(r.out.find("tinydiff: wrote bag.png\n") != std::string::npos);
    CHECK(read_file((work_dir() / "bag.png").string()).substr(1, 3) == "PNG");
    const size_t at = r.out.find("seed ");
    REQUIRE(at != std::string::npos);
    seeds.push_back(r.out.substr(at + 5, r.out.find(',', at) - at - 5));
  }
  CHECK(seeds[0] != seeds[1]);
  // -s 7 is --seed 7: the same picture twice.
  r = run_tinydiff({"sample", "--checkpoint", ckpt, "-p", "a bag", "-o", "s7a.png", "-s", "7", "--steps", "2"});
  CHECK(r.code == 0);
  r = run_tinydiff({"sample", "--checkpoint", ckpt, "-p", "a bag", "-o", "s7b.png", "--seed", "7", "--steps", "2"});
  CHECK(r.code == 0);
  CHECK(read_file((work_dir() / "s7a.png").string()) == read_file((work_dir() / "s7b.png").string()));

  r = run_tinydiff({"info", "--checkpoint", ckpt});
  CHECK(r.code == 0);
  CHECK(r.out.find("config 'micro'") != std::string::npos);
  CHECK(r.out.find("3 steps on 'fashion'") != std::string::npos);
  CHECK(r.out.find(" sneaker") != std::string::npos);  // the vocabulary
  CHECK(r.out.find("76,441") != std::string::npos);    // the micro config's parameter count
  // --json: the same facts for scripts (one object; the numbers as numbers).
  const Run j = run_tinydiff({"info", "--checkpoint", ckpt, "--json"});
  CHECK(j.code == 0);
  CHECK(j.out.rfind("{\n", 0) == 0);
  CHECK(j.out.find("\"total\": 76441") != std::string::npos);
  CHECK(j.out.find("\"step\": 3,") != std::string::npos);
  CHECK(j.out.find("\"dataset\": \"fashion\"") != std::string::npos);
  CHECK(j.out.find("\"sneaker\"") != std::string::npos);
  // The checkpoint names the tinydiff that wrote it, as --version does.
  const Run v = run_tinydiff({"--version"});
  CHECK(v.code == 0);
  REQUIRE(v.out.rfind("tinydiff 0.", 0) == 0);
  CHECK(r.out.find("written by   " + v.out.substr(0, v.out.find('\n')) + "\n") != std::string::npos);
}

TEST_CASE("bad command lines: exit code 1 and one line naming the problem", "[cli]") {
  check_error({"frobnicate"}, 1, "unknown command 'frobnicate'");
  check_error({"train", "--out", "x", "--bogus"}, 1, "--bogus");
  check_error({"train", "--steps", "3"}, 1, "--out is required");
  check_error({"train", "--out", "x", "--steps"}, 1, "--steps");
  check_error({"train", "--out", "x", "--steps", "0"}, 1, "--steps must be 1..1000000000000, got 0");
  check_error({"train", "--out", "x", "--steps", "-4"}, 1, "--steps must be 1..1000000000000, got -4");
  check_error({"train", "--out", "x", "--steps", "many"}, 1, "--steps");
  check_error({"train", "--out", "x", "--minutes", "0"}, 1, "--minutes must be positive");
  check_error({"train", "--out", "x"}, 1, "say how long to train");
  check_error({"train", "--out", "x", "--steps", "3", "--dataset", "mnist"}, 1, "unknown data set 'mnist'");
  check_error({"train", "--out", "x", "--steps", "3", "--config", "huge"}, 1, "unknown config 'huge'");
  check_error({"train", "--out", "x", "--steps", "3", "--batch", "0"}, 1, "--batch must be at least 1");
  check_error({"train", "--out", "x", "--steps", "3", "--lr", "-1"}, 1, "lr must be positive");
  const std::string ckpt = trained_checkpoint();
  check_error({"sample", "--checkpoint", ckpt, "--out", "y"}, 1, "--prompt is required");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--count", "0"}, 1,
              "--count must be 1..10000, got 0");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--steps", "-1"}, 1,
              "--steps must be at least 1");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--steps", "5000"}, 1,
              "more than the model's 1000 timesteps");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--sampler", "lms"}, 1,
              "unknown sampler 'lms'; hint: choose --sampler ddim, ddpm, euler, euler_a, heun, dpmpp_2m");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--sampler", "heun", "--sigmas",
               "exponential"},
              1, "unknown --sigmas 'exponential'");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--sigmas", "uniform"}, 1,
              "--sigmas does not apply to ddim");
  check_error(
      {"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--sampler", "euler_a", "--eta", "0.5"}, 1,
      "--eta 0.5 applies to ddim only");
  check_error(
      {"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--sampler", "heun", "--steps", "5000"}, 1,
      "more than the model's 1000 timesteps");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "y", "--eta", "2"}, 1,
              "--eta must be in [0, 1]");
  check_error({"info"}, 1, "tinydiff info needs --checkpoint FILE or --system");
  // An existing run is not overwritten; resuming it with another config or data set is refused.
  check_error({"train", "--out", "run", "--steps", "3"}, 1, "already holds a checkpoint");
  check_error({"train", "--out", "run", "--resume", "--config", "tiny"}, 1, "--config 'micro', not 'tiny'");
  check_error({"train", "--out", "run", "--resume", "--dataset", "shapes"}, 1, "--dataset 'fashion', not 'shapes'");
  CHECK_FALSE(fs::exists(work_dir() / "x"));
  CHECK_FALSE(fs::exists(work_dir() / "y"));
}

TEST_CASE("bad files and folders: exit code 2, one line, nothing left behind", "[cli]") {
  const fs::path dir = work_dir();
  const std::string ckpt = trained_checkpoint();
  {
    std::ofstream garbage(dir / "garbage.safetensors");
    garbage << "this is not a checkpoint at all";
  }
  {
    const std::string bytes = read_file(ckpt);
    std::ofstream truncated(dir / "truncated.safetensors", std::ios::binary);
    truncated << bytes.substr(0, bytes.size() / 2);
  }
  save_safetensors((dir / "plain.safetensors").string(), {{"w", Tensor::ones({2})}});
  for (const char* cmd : {"sample", "info"}) {
    std::vector<std::string> extra;
    if (std::string(cmd) == "sample") extra = {"--prompt", "a bag", "--out", "y"};
    const auto with = [&](const std::string& file) {
      std::vector<std::string> args = {cmd, "--checkpoint", file};
      args.insert(args.end(), extra.begin(), extra.end());
      return args;
    };
    check_error(with("missing.safetensors"), 2, "'missing.safetensors' does not exist");
    check_error(with("garbage.safetensors"), 2, "cannot load the checkpoint");
    check_error(with("truncated.safetensors"), 2, "cannot load the checkpoint");
    check_error(with("plain.safetensors"), 2, "not a text-to-image checkpoint");
  }
  check_error({"train", "--out", "nothing_here", "--resume", "--steps", "5"}, 2, "no checkpoint to resume");
  check_error({"train", "--out", "x", "--steps", "3", "--config", "micro", "--data-dir", "/nonexistent"}, 2,
              "cannot load the 'fashion' data set");
  check_error({"train", "--out", "garbage.safetensors", "--steps", "3", "--dataset", "shapes"}, 2, "is a file");
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "garbage.safetensors/y"}, 2,
              "cannot create the folder");
  // A folder its user may not write. Root writes anywhere, so as root (how CI runs) tinydiff runs without the
  // two capabilities that let root ignore file permissions (setpriv, util-linux: Debian's essential set).
  fs::create_directories(dir / "readonly");
  fs::permissions(dir / "readonly", fs::perms::owner_read | fs::perms::owner_exec);
  const std::string as_user = ::geteuid() == 0 ? "setpriv --bounding-set=-dac_override,-dac_read_search -- " : "";
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "readonly/y"}, 2, "readonly/y", as_user);
  CHECK(fs::is_empty(dir / "readonly"));
  check_error({"sample", "--checkpoint", ckpt, "--prompt", "a bag", "--out", "/proc/tinydiff/y"}, 2,
              "cannot create the folder");
  CHECK_FALSE(fs::exists(dir / "x"));
  CHECK_FALSE(fs::exists(dir / "y"));
  CHECK_FALSE(fs::exists(dir / "nothing_here"));
}

TEST_CASE("tinydiff eval scores a folder of PNG images and prints its prompt list", "[cli][eval]") {
  const fs::path dir = work_dir();
  // --print-prompts: the evaluation's list, one per line, without a checkpoint.
  Run r = run_tinydiff({"eval", "--dataset", "shapes", "--samples", "2", "--print-prompts"});
  INFO("stderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  EvalOptions o;
  o.samples = 2;
  const std::vector<std::string> prompts = eval_prompts("shapes", o);
  REQUIRE(prompts.size() == 42);
  std::string expected;
  for (const std::string& p : prompts) expected += p + "\n";
  CHECK(r.out == expected);
  r = run_tinydiff({"eval", "--dataset", "shapes", "--samples", "2", "--seed", "3", "--print-prompts"});
  CHECK(r.code == 0);
  CHECK(r.out != expected);
  r = run_tinydiff({"eval", "--dataset", "fashion", "--samples", "1", "--print-prompts"});
  CHECK(r.code == 0);
  CHECK(count_lines(r.out) == 10);
  CHECK(r.out.rfind("a photo of a t-shirt/top\n", 0) == 0);

  // A peer's folder: prompts.txt as printed above, each prompt's true attributes drawn.
  const fs::path peer = dir / "peer";
  fs::remove_all(peer);
  fs::create_directories(peer);
  std::ofstream(peer / "prompts.txt") << expected;
  std::map<std::string, ShapeAttributes> by_caption;
  for (const ShapeAttributes& a : all_shape_attributes()) by_caption[shapes_caption(a)] = a;
  Generator gen(1);
  for (size_t i = 0; i < prompts.size(); ++i)
    save_png((peer / eval_image_name(static_cast<int64_t>(i))).string(), render_shape(by_caption.at(prompts[i]), gen));
  r = run_tinydiff({"eval", "--images", "peer", "--dataset", "shapes", "--samples", "2"});
  INFO("stdout: " << r.out);
  REQUIRE(r.code == 0);
  CHECK(r.err.empty());
  CHECK(r.out.find("images     peer (42 images, shapes, made at guidance 3)") != std::string::npos);
  REQUIRE(fs::exists(peer / "eval.json"));  // the default --out
  const nlohmann::json j = nlohmann::json::parse(read_file((peer / "eval.json").string()));
  CHECK(j["images"] == "peer");
  CHECK(j["dataset"] == "shapes");
  // Ground truth: the detector reads it back at (or near) 100%.
  CHECK(j["results"][0]["seen"]["all_four"].get<double>() >= 0.95);
  CHECK(j["results"][0]["held_out"]["all_four"].get<double>() >= 0.95);
  CHECK(j["results"][0]["seen"]["count"] == 36);

  // Usage errors (exit 1).
  check_error({"eval", "--images", "peer"}, 1, "--images needs --dataset");
  check_error({"eval", "--images", "peer", "--checkpoint", "x.safetensors"}, 1,
              "give --checkpoint FILE or --images DIR, not both");
  check_error({"eval", "--dataset", "shapes"}, 1, "give --checkpoint FILE or --images DIR");
  check_error({"eval", "--print-prompts"}, 1, "--print-prompts needs --dataset");
  check_error({"eval", "--dataset", "mnist", "--print-prompts"}, 1, "unknown --dataset 'mnist'");
  check_error({"eval", "--images", "peer", "--dataset", "shapes", "--samples", "2", "--guidance", "1,3"}, 1,
              "one --guidance value");
  check_error({"eval", "--images", "peer", "--dataset", "shapes", "--samples", "2", "--sampler", "ddpm"}, 1,
              "--sampler does not apply to --images");
  check_error({"eval", "--checkpoint", "x.safetensors", "--sampler", "foo"}, 1, "unknown sampler 'foo'");
  check_error({"eval", "--checkpoint", "x.safetensors", "--sampler", "euler", "--sigmas", "cosine"}, 1,
              "unknown --sigmas 'cosine'");
  check_error({"eval", "--checkpoint", "x.safetensors", "--sampler", "ddpm", "--sigmas", "karras"}, 1,
              "--sigmas does not apply to ddpm");
  check_error({"eval", "--checkpoint", "x.safetensors", "--sampler", "heun", "--eta", "0.5"}, 1,
              "applies to ddim only");
  check_error({"eval", "--checkpoint", "x.safetensors", "--eta", "2"}, 1, "--eta must be in [0, 1], got 2");
  check_error({"eval", "--checkpoint", "x.safetensors", "--sampler", "ddpm", "--eta", "0.5"}, 1,
              "applies to ddim only");
  // Bad folders and files (exit 2).
  check_error({"eval", "--images", "missing_folder", "--dataset", "shapes"}, 2,
              "the image folder 'missing_folder' does not exist");
  check_error({"eval", "--images", "peer", "--dataset", "shapes", "--samples", "3"}, 2, "prompts.txt line");
  check_error({"eval", "--images", "peer", "--dataset", "shapes", "--samples", "2", "--seed", "1"}, 2,
              "--print-prompts");
  fs::rename(peer / "000005.png", peer / "moved.png");
  check_error({"eval", "--images", "peer", "--dataset", "shapes", "--samples", "2"}, 2, "000005.png");
  fs::rename(peer / "moved.png", peer / "000005.png");
  fs::remove(peer / "prompts.txt");
  check_error({"eval", "--images", "peer", "--dataset", "shapes", "--samples", "2"}, 2, "prompts.txt' does not exist");
  fs::remove_all(peer);
}

TEST_CASE("Ctrl-C during training saves a checkpoint and exits with 130, --resume continues", "[cli][signal]") {
  const fs::path dir = work_dir() / "interrupted";
  fs::remove_all(dir);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int out = ::open((work_dir() / "interrupt_out.txt").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(out, STDOUT_FILENO);
    ::dup2(out, STDERR_FILENO);
    ::setenv("OMP_NUM_THREADS", "1", 1);
    ::execl(kBinary.c_str(), kBinary.c_str(), "train", "--dataset", "shapes", "--config", "micro", "--batch", "4",
            "--steps", "100000", "--sample-every", "0", "--checkpoint-every", "0", "--progress", "none", "--out",
            dir.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Wait until it has logged two steps, then interrupt it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (count_lines(read_file((dir / "log.jsonl").string())) < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ::kill(pid, SIGINT);
  int status = 0;
  ::waitpid(pid, &status, 0);
  INFO(read_file((work_dir() / "interrupt_out.txt").string()));
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 130);
  const int logged = count_lines(read_file((dir / "log.jsonl").string()));
  const TrainedModel m = load_trained_model((dir / "checkpoint.safetensors").string());
  CHECK(m.step == logged);  // the step in flight was finished, logged and saved
  CHECK(read_file((work_dir() / "interrupt_out.txt").string()).find("continue with: tinydiff train") !=
        std::string::npos);

  const Run r = run_tinydiff({"train", "--out", dir.string(), "--resume", "--steps", std::to_string(logged + 2),
                              "--progress", "none", "--sample-every", "0"});
  INFO(r.err);
  CHECK(r.code == 0);
  CHECK(load_trained_model((dir / "checkpoint.safetensors").string()).step == logged + 2);
  CHECK(count_lines(read_file((dir / "log.jsonl").string())) == logged + 2);
}
