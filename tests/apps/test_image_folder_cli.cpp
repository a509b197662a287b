// `tinydiff train --data DIR` as a subprocess: a micro model trained on a generated folder of PNG
// and JPEG files (both conventions) lowers its loss, the banner states the preparation, the second
// run reads the cache, `tinydiff info` shows the folder; bad folders end with one line naming the
// file and line.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "tests/apps/cli_process.h"
#include "tests/diffusion/data/image_folder_fixture.h"

using namespace tinydiff::test_cli;

namespace {

// `tinydiff args...` in `dir` with its own cache folder (dir/cache).
Ended run_in(const std::vector<std::string>& args, const fs::path& dir, const std::string& tag) {
  Launch l = tinydiff_launch(args);
  l.env.push_back("XDG_CACHE_HOME=" + (dir / "cache").string());
  Child c(l, dir, tag);
  return c.wait();
}

// The loss of every step in a run's log.jsonl.
std::vector<double> losses(const fs::path& log) {
  std::vector<double> out;
  std::istringstream in(read_file(log));
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line).at("loss").get<double>());
  return out;
}

double mean(const std::vector<double>& v, size_t begin, size_t end) {
  double s = 0.0;
  for (size_t i = begin; i < end; ++i) s += v[i];
  return s / static_cast<double>(end - begin);
}

std::vector<std::string> train_folder_args(const std::string& data, const std::string& out, int64_t steps) {
  return {"train",
          "--data",
          data,
          "--config",
          "micro",
          "--batch",
          "8",
          "--seed",
          "3",
          "--warmup",
          "5",
          "--lr",
          "3e-3",
          "--steps",
          std::to_string(steps),
          "--sample-every",
          "0",
          "--progress",
          "lines",
          "--out",
          out};
}

}  // namespace

TEST_CASE("tinydiff train --data trains a micro model on a folder of PNG and JPEG files", "[cli][image_folder][slow]") {
  const fs::path dir = fresh_dir("imagefolder-train");
  fs::create_directories(dir / "jsonl");
  tinydiff::test::write_test_folder(dir / "jsonl", tinydiff::test::FolderConvention::Metadata);
  constexpr int64_t kSteps = 60;
  const Ended r = run_in(train_folder_args("jsonl", "run", kSteps), dir, "train");
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.code == 0);
  CHECK(r.out.find("data: folder 'jsonl' (metadata.jsonl): 6 images, 1 without a caption") != std::string::npos);
  CHECK(r.out.find("preparation: centre crop to a square, then 32x32 RGB; alpha over white") != std::string::npos);
  CHECK(r.out.find("in memory: N*S*S*C = 6*32*32*3 = 0.02 MB") != std::string::npos);
  CHECK(r.out.find("decoded on") != std::string::npos);
  CHECK(r.out.find("vocabulary: 11 of 11 distinct words (--vocab-size 256, most frequent first); 0 of 18 caption "
                   "tokens are <unk>") != std::string::npos);
  // The loss falls: the mean of the last 15 steps against the first 10 (measured: 0.90 -> 0.35).
  const std::vector<double> loss = losses(dir / "run" / "log.jsonl");
  REQUIRE(loss.size() == static_cast<size_t>(kSteps));
  const double early = mean(loss, 0, 10), late = mean(loss, kSteps - 15, kSteps);
  INFO("early " << early << ", late " << late);
  CHECK(late < 0.6 * early);

  // `info` shows what the model was trained on.
  const Ended info = run_in({"info", "--checkpoint", "run/checkpoint.safetensors"}, dir, "info");
  INFO(info.err);
  REQUIRE(info.code == 0);
  CHECK(info.out.find("training     60 steps on 'folder'") != std::string::npos);
  CHECK(info.out.find("(metadata.jsonl): 6 images, 1 without a caption, 0 skipped; prepared as 32x32 with 3 "
                      "channels, crop, background white") != std::string::npos);
  CHECK(info.out.find((dir / "jsonl").string()) != std::string::npos);

  // The memorisation check finds the folder from the checkpoint: 6 training images, a nearest one for each.
  const Ended near = run_in({"eval", "--checkpoint", "run/checkpoint.safetensors", "--nearest", "--nearest-captions",
                             "2", "--steps", "5", "--out", "near.json"},
                            dir, "nearest");
  INFO(near.err);
  REQUIRE(near.code == 0);
  CHECK(near.out.find("nearest of 6 training images") != std::string::npos);
  CHECK(fs::exists(dir / "near.png"));

  // A second run on the same folder reads the cache; one on caption files, grey and padded, decodes.
  const Ended again = run_in(train_folder_args("jsonl", "run2", 2), dir, "again");
  INFO(again.err);
  REQUIRE(again.code == 0);
  CHECK(again.out.find("read from the cache") != std::string::npos);
  fs::create_directories(dir / "txt");
  tinydiff::test::write_test_folder(dir / "txt", tinydiff::test::FolderConvention::CaptionFiles);
  std::vector<std::string> grey = train_folder_args("txt", "run3", 2);
  grey.insert(grey.end(), {"--channels", "1", "--resize", "pad", "--background", "black", "--hflip"});
  const Ended g = run_in(grey, dir, "grey");
  INFO(g.err);
  REQUIRE(g.code == 0);
  CHECK(g.out.find("data: folder 'txt' (caption files): 6 images") != std::string::npos);
  CHECK(g.out.find("padded to a square with black, then 32x32 grey; alpha over black; RGB to grey as Rec. 601 luma") !=
        std::string::npos);
  CHECK(g.out.find("horizontal flips on (--hflip)") != std::string::npos);
}

TEST_CASE("tinydiff train --data with a bad folder: one line naming the file and line", "[cli][image_folder]") {
  const fs::path dir = fresh_dir("imagefolder-bad");
  fs::create_directories(dir / "bad");
  tinydiff::test::write_test_image(dir / "bad" / "ok.png", 0, 8, 8, 3);
  std::ofstream(dir / "bad" / "metadata.jsonl") << "{\"file_name\": \"ok.png\", \"text\": \"fine\"}\n"
                                                << "{\"file_name\": \"ok.png\", \"txt\": \"typo\"}\n";
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string words;
  };
  const std::vector<Case> cases = {
      {{"--data", "nowhere"}, 2, "the folder 'nowhere' does not exist"},
      {{"--data", "bad"}, 2, "metadata.jsonl:2: no \"text\" field"},
      {{"--data", "bad", "--dataset", "fashion"}, 1, "give --dataset or --data, not both"},
      {{"--data", "bad", "--resize", "stretch"}, 1, "unknown --resize 'stretch'; choose one of: crop, pad"},
      {{"--data", "bad", "--channels", "2"}, 1, "channels must be 0 (from the data), 1 or 3"},
      {{"--dataset", "folder"}, 1, "needs a folder"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = {"train", "--out", "o", "--steps", "2", "--config", "micro"};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const Ended r = run_in(args, dir, "bad");
    INFO(fmt::format("{}\nstderr: {}", fmt::join(c.args, " "), r.err));
    CHECK(r.code == c.code);
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.rfind("tinydiff: error: ", 0) == 0);
    CHECK(r.err.find(c.words) != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "o"));  // nothing left behind
  }
  // --skip-bad: a warning with the count, and training runs.
  const Ended skip = run_in({"train", "--out", "o", "--steps", "1", "--config", "micro", "--batch", "2", "--data",
                             "bad", "--skip-bad", "--progress", "none", "--sample-every", "0"},
                            dir, "skip");
  INFO(skip.err);
  CHECK(skip.code == 0);
  CHECK(skip.err.find("tinydiff: warning: skipped 1 bad entry (--skip-bad); the first: ") != std::string::npos);
  CHECK(skip.err.find("metadata.jsonl:2") != std::string::npos);
}
