// Tests of evaluate_images (diffusion/evaluation/evaluate.h): a folder of PNG images made elsewhere is
// scored by the evaluation's own prompts, judge and references — ground-truth Shapes images
// near 100% and wrong images lower by the expected amount, Fashion-MNIST images exactly as the
// same images in memory — and bad folders give errors naming the line or the file.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "diffusion/data/captions.h"
#include "diffusion/data/image_io.h"
#include "diffusion/evaluation/evaluate.h"
#include "tensor/tensor.h"
#include "tests/temp_dir.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

// A folder of its own under the system temp folder, removed at the end of the test.
struct TempDir : test::TempDir {
  explicit TempDir(const std::string& name) : test::TempDir("evalimg", name) {}
};

// A PromptSampler that hands out `images` (N, C, S, S) in order, ignoring prompts, guidance and noise.
PromptSampler in_order(const Tensor& images) {
  return [images, next = int64_t{0}](const std::vector<std::string>& p, double, const Tensor&, int64_t) mutable {
    const int64_t b = static_cast<int64_t>(p.size());
    Tensor out = images.slice(0, next, next + b).contiguous();  // (b, C, S, S)
    next += b;
    return out;
  };
}

void write_lines(const fs::path& path, const std::vector<std::string>& lines) {
  std::ofstream out(path, std::ios::binary);
  for (const std::string& l : lines) out << l << "\n";
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

// The attributes each Shapes prompt asks for.
std::vector<ShapeAttributes> shapes_truth(const std::vector<std::string>& prompts) {
  std::map<std::string, ShapeAttributes> by_caption;
  for (const ShapeAttributes& a : all_shape_attributes()) by_caption[shapes_caption(a)] = a;
  std::vector<ShapeAttributes> out;
  for (const std::string& p : prompts) out.push_back(by_caption.at(p));
  return out;
}

// A Shapes folder for `o`: prompts.txt and each prompt's true attributes drawn by the generator.
// Returns the images as written (byte-quantised), (N, 3, 32, 32).
Tensor write_shapes_folder(const fs::path& dir, const EvalOptions& o) {
  const std::vector<std::string> prompts = eval_prompts("shapes", o);
  write_lines(dir / "prompts.txt", prompts);
  Generator gen(9);
  std::vector<Tensor> images;
  const std::vector<ShapeAttributes> truth = shapes_truth(prompts);
  for (size_t i = 0; i < truth.size(); ++i) {
    const Tensor image = render_shape(truth[i], gen);  // (3, 32, 32)
    save_png((dir / eval_image_name(static_cast<int64_t>(i))).string(), image);
    images.push_back(load_png((dir / eval_image_name(static_cast<int64_t>(i))).string()));
  }
  return stack(images, 0);
}

void check_same(const ShapeScores& a, const ShapeScores& b) {
  CHECK(a.count == b.count);
  CHECK(a.shape == b.shape);
  CHECK(a.colour == b.colour);
  CHECK(a.size == b.size);
  CHECK(a.position == b.position);
  CHECK(a.all == b.all);
}

}  // namespace

TEST_CASE("eval_prompts is the list the evaluations use, and image names are 6-digit", "[evaluation][images]") {
  EvalOptions o;
  o.samples = 3;
  o.seed = 4;
  const std::vector<std::string> shapes = eval_prompts("shapes", o);
  CHECK(shapes == shapes_eval_prompts(3, 5).prompts);  // seed + 1: the seed itself draws x_T
  CHECK(shapes.size() == 21 * 3);
  const std::vector<std::string> fashion = eval_prompts("fashion", o);
  REQUIRE(fashion.size() == 30);
  for (int64_t i = 0; i < 30; ++i) CHECK(fashion[static_cast<size_t>(i)] == fashion_class_prompt(i / 3));
  o.seed = 5;
  CHECK(eval_prompts("shapes", o) != shapes);
  CHECK(eval_prompts("fashion", o) == fashion);  // the class prompts do not depend on the seed
  CHECK_THROWS_WITH(eval_prompts("mnist", o), Catch::Contains("'mnist' has no evaluation"));
  o.samples = 0;
  CHECK_THROWS_WITH(eval_prompts("shapes", o), Catch::Contains("samples must be at least 1"));

  // The prompts a PromptSampler is asked for are exactly eval_prompts, in order.
  EvalOptions q;
  q.samples = 2;
  q.batch = 5;
  std::vector<std::string> asked;
  const PromptSampler record = [&](const std::vector<std::string>& p, double, const Tensor& x_T, int64_t) {
    asked.insert(asked.end(), p.begin(), p.end());
    return Tensor::zeros(x_T.shape());
  };
  evaluate_shapes(record, q);
  CHECK(asked == eval_prompts("shapes", q));

  CHECK(eval_image_name(0) == "000000.png");
  CHECK(eval_image_name(41) == "000041.png");
  CHECK(eval_image_name(1234567) == "1234567.png");
  CHECK_THROWS(eval_image_name(-1));

  // Sampler options: names, eta range, labels.
  EvalOptions s;
  CHECK(eval_sampler_label(s) == "DDIM 50 steps");
  s.eta = 0.5;
  CHECK(eval_sampler_label(s) == "DDIM 50 steps, eta 0.5");
  s.sampler = SamplerKind::Ddpm;
  CHECK_THROWS_WITH(validate(s), Catch::Contains("eta is a DDIM setting"));
  s.sampler = SamplerKind::Heun;
  CHECK_THROWS_WITH(validate(s), Catch::Contains("eta is a DDIM setting; heun has its own noise"));
  s.eta = 0;
  s.sampler = SamplerKind::Ddpm;
  CHECK(eval_sampler_label(s, 1000) == "DDPM (all 1000 steps)");
  CHECK(eval_sampler_label(s) == "DDPM (all T steps)");
  s.steps = 10;
  s.sampler = SamplerKind::Heun;
  CHECK(eval_sampler_label(s) == "Heun 10 steps (19 evaluations)");
  s.sampler = SamplerKind::DpmSolver2M;
  CHECK(eval_sampler_label(s) == "DPM-Solver++(2M) 10 steps");
  s.sampler = SamplerKind::EulerAncestral;
  s.sigmas = SigmaSpacing::Uniform;
  CHECK(eval_sampler_label(s) == "Euler ancestral 10 steps, uniform sigmas");
  s.sampler = SamplerKind::Euler;
  CHECK(eval_sampler_label(s) == "Euler 10 steps, uniform sigmas");
  s.sampler = SamplerKind::Ddim;
  s.eta = 2;
  CHECK_THROWS_WITH(validate(s), Catch::Contains("eta must be in [0, 1]"));
}

TEST_CASE("a Shapes folder of ground-truth images scores near 100%, and blank or swapped images lower",
          "[evaluation][images][shapes]") {
  TempDir dir("shapes");
  EvalOptions o;
  o.samples = 2;  // 42 images: 36 of seen pairs, 6 of held-out pairs
  o.batch = 16;
  const Tensor images = write_shapes_folder(dir.path, o);
  const std::vector<ShapeAttributes> truth = shapes_truth(eval_prompts("shapes", o));
  const EvalReport r = evaluate_images(dir.path.string(), "shapes", o);
  CHECK(r.images_dir == dir.path.string());
  CHECK(r.image_count == 42);
  CHECK(r.dataset == "shapes");
  CHECK(r.checkpoint.empty());
  REQUIRE(r.shapes);
  REQUIRE(r.shapes->rows.size() == 1);
  const ShapesEvalRow& row = r.shapes->rows[0];
  CHECK(row.guidance == 3.0);
  CHECK(row.seen.count == 36);
  CHECK(row.held_out.count == 6);
  // The detector reads generated images back at (or within one image of) 100%, as in
  // test_evaluation.cpp; the PNG's byte quantisation does not change that.
  CHECK(row.seen.all >= 1.0 - 1.5 / 36);
  CHECK(row.held_out.all == Approx(1.0));

  // The same images in memory through evaluate_shapes: the same scores, exactly.
  const PromptSampler memory = in_order(images);
  const ShapesEvalResult direct = evaluate_shapes(memory, o);
  check_same(direct.rows[0].seen, row.seen);
  check_same(direct.rows[0].held_out, row.held_out);

  // The table and the JSON name the folder instead of a checkpoint.
  const std::string table = eval_table(r);
  CHECK(table.find(fmt::format("images     {} (42 images, shapes, made at guidance 3)", dir.path.string())) == 0);
  CHECK(table.find("images made elsewhere") != std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(eval_json(r));
  CHECK(j["images"] == dir.path.string());
  CHECK(j["image_count"] == 42);
  CHECK(j["checkpoint"].is_null());
  CHECK(j["train_steps"].is_null());
  CHECK(j["settings"]["sampler"].is_null());
  CHECK(j["results"][0]["seen"]["all_four"].get<double>() == row.seen.all);

  // Swap the files of a seen circle and a seen shape of another kind but the same colour: both
  // now show the wrong shape, so the seen shape score drops by exactly 2 of 36 images.
  size_t other = 0;
  while (truth[other].shape == truth[0].shape || truth[other].colour != truth[0].colour ||
         is_held_out(truth[other].shape, truth[other].colour))
    ++other;
  REQUIRE_FALSE(is_held_out(truth[0].shape, truth[0].colour));
  for (size_t k : {size_t{0}, other})  // both read correctly before the swap
    REQUIRE(score_shapes(images.slice(0, static_cast<int64_t>(k), static_cast<int64_t>(k) + 1), {truth[k]}).shape ==
            1.0);
  const fs::path a = dir.path / eval_image_name(0), b = dir.path / eval_image_name(static_cast<int64_t>(other));
  fs::rename(a, dir.path / "tmp.png");
  fs::rename(b, a);
  fs::rename(dir.path / "tmp.png", b);
  const ShapesEvalRow swapped = evaluate_images(dir.path.string(), "shapes", o).shapes->rows[0];
  CHECK(swapped.seen.shape == Approx(row.seen.shape - 2.0 / 36).margin(1e-12));
  CHECK(swapped.seen.colour == row.seen.colour);  // same colour: unaffected
  check_same(swapped.held_out, row.held_out);

  // Blank (black) images for the 6 held-out pairs: held-out scores fall to 0, seen ones stay.
  for (size_t i = 0; i < truth.size(); ++i)
    if (is_held_out(truth[i].shape, truth[i].colour))
      save_png((dir.path / eval_image_name(static_cast<int64_t>(i))).string(), Tensor::full({3, 32, 32}, -1.0));
  const ShapesEvalRow blank = evaluate_images(dir.path.string(), "shapes", o).shapes->rows[0];
  CHECK(blank.held_out.count == 6);
  CHECK(blank.held_out.all == 0.0);
  CHECK(blank.held_out.colour == 0.0);
  check_same(blank.seen, swapped.seen);
}

TEST_CASE("bad image folders give errors naming the line or the file", "[evaluation][images][errors]") {
  TempDir dir("errors");
  EvalOptions o;
  o.samples = 2;
  write_shapes_folder(dir.path, o);
  const std::string d = dir.path.string();
  const fs::path list = dir.path / "prompts.txt";
  const std::vector<std::string> good = read_lines(list);
  REQUIRE(good.size() == 42);
  REQUIRE_NOTHROW(evaluate_images(d, "shapes", o));

  // One line changed: the error names line 5, both texts and the command that writes the list.
  std::vector<std::string> lines = good;
  lines[4] = "a small purple hexagon in the corner";
  write_lines(list, lines);
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o),
                    Catch::Contains("line 5 is 'a small purple hexagon in the corner'") && Catch::Contains(good[4]) &&
                        Catch::Contains("tinydiff eval --dataset shapes --samples 2 --seed 0 --print-prompts"));
  // A line missing at the end, and one too many.
  lines = good;
  lines.pop_back();
  write_lines(list, lines);
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o), Catch::Contains("has 41 lines") && Catch::Contains("42 prompts"));
  lines = good;
  lines.push_back("a large red circle in the center");
  write_lines(list, lines);
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o), Catch::Contains("has 43 lines") && Catch::Contains("line 43"));
  // Windows line ends are accepted.
  {
    std::ofstream out(list, std::ios::binary);
    for (const std::string& l : good) out << l << "\r\n";
  }
  CHECK_NOTHROW(evaluate_images(d, "shapes", o));
  write_lines(list, good);
  // Another seed or sample count than the folder was written for: line 1 differs.
  EvalOptions other = o;
  other.seed = 1;
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", other), Catch::Contains("line") && Catch::Contains("--seed 1"));
  other = o;
  other.samples = 3;
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", other), Catch::Contains("line"));
  // The folder is for shapes, not fashion.
  CHECK_THROWS_WITH(evaluate_images(d, "fashion", o), Catch::Contains("line 1"));

  // Images: one missing, one grayscale, one of another size.
  const std::string seventh = (dir.path / "000007.png").string();
  fs::rename(seventh, dir.path / "moved.png");
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o), Catch::Contains(seventh) && Catch::Contains("no such file"));
  fs::rename(dir.path / "moved.png", seventh);
  const std::string third = (dir.path / "000003.png").string();
  save_png(third, Tensor::zeros({1, 32, 32}));
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o),
                    Catch::Contains(third) && Catch::Contains("(1, 32, 32)") && Catch::Contains("(3, 32, 32)"));
  save_png(third, Tensor::zeros({3, 16, 16}));
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o), Catch::Contains(third) && Catch::Contains("(3, 16, 16)"));
  std::ofstream(third, std::ios::binary) << "not a png";
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o), Catch::Contains(third) && Catch::Contains("not a PNG"));

  // The folder, the list, the data set and the guidance list.
  CHECK_THROWS_WITH(evaluate_images((dir.path / "none").string(), "shapes", o), Catch::Contains("does not exist"));
  fs::remove(list);
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o),
                    Catch::Contains("prompts.txt' does not exist") && Catch::Contains("--print-prompts"));
  CHECK_THROWS_WITH(evaluate_images(d, "mnist", o), Catch::Contains("'mnist' has no evaluation"));
  o.guidance = {1.0, 3.0};
  CHECK_THROWS_WITH(evaluate_images(d, "shapes", o), Catch::Contains("one guidance scale"));
}

TEST_CASE("a Fashion-MNIST folder scores exactly as the same images in memory", "[evaluation][images][fashion]") {
  TempDir dir("fashion");
  // An untrained classifier, cached so that evaluate_images loads it instead of training one:
  // the scores are arbitrary, but must equal those of the same images fed from memory.
  Generator init(3);
  FashionClassifier judge(init);
  FashionClassifierReport rep;
  rep.test_accuracy = 0.1;
  const std::string clf_path = (dir.path / "clf.safetensors").string();
  save_fashion_classifier(clf_path, judge, rep);

  EvalOptions o;
  o.samples = 6;  // 60 images: 6 real test images per class, unseen by the reference set
  o.batch = 16;
  o.real_images = 100;
  o.baseline_images = 40;
  o.classifier_path = clf_path;
  o.guidance = {2.0};
  const FashionMnist test = load_fashion_mnist(FashionSplit::Test);
  std::map<int64_t, std::vector<int64_t>> by_class;
  for (int64_t i = 5000; i < 10000; ++i) by_class[static_cast<int64_t>(test.labels.at({i}))].push_back(i);
  std::vector<int64_t> idx;
  std::vector<int64_t> labels;
  for (int64_t l = 0; l < 10; ++l)
    for (int64_t k = 0; k < o.samples; ++k) {
      idx.push_back(by_class[l][static_cast<size_t>(k)]);
      labels.push_back(l);
    }
  const Tensor images = index_select(test.images, 0, Tensor::from_indices(idx, {60}));  // (60, 1, 32, 32)
  const fs::path folder = dir.path / "images";
  fs::create_directories(folder);
  write_lines(folder / "prompts.txt", eval_prompts("fashion", o));
  for (int64_t i = 0; i < 60; ++i)
    save_png((folder / eval_image_name(i)).string(), images.slice(0, i, i + 1).squeeze(0));
  // Fashion-MNIST pixels are bytes: the PNGs hold them exactly.
  const std::vector<double> first = images.slice(0, 0, 1).squeeze(0).to_vector();
  const std::vector<double> back = load_png((folder / "000000.png").string()).to_vector();
  REQUIRE(first == back);

  const EvalReport r = evaluate_images(folder.string(), "fashion", o);
  REQUIRE(r.fashion);
  const FashionEvalResult& f = *r.fashion;
  CHECK(f.classifier.loaded);
  CHECK(f.classifier_path == clf_path);
  CHECK(f.real_images == 100);
  CHECK(f.baseline_images == 40);
  REQUIRE(f.rows.size() == 1);
  CHECK(f.rows[0].guidance == 2.0);
  CHECK(f.rows[0].samples == 60);

  // The same images from memory, with the same judge and references.
  FashionClassifier loaded(init);
  load_fashion_classifier(clf_path, loaded);
  const PromptSampler memory = in_order(images);
  const Tensor reference = test.images.slice(0, 0, 100);
  const Tensor baseline = load_fashion_mnist(FashionSplit::Train, kFashionMnistDir, 40).images;
  const FashionEvalResult m = evaluate_fashion(memory, loaded, reference, baseline, o);
  CHECK(f.rows[0].prompt_accuracy == m.rows[0].prompt_accuracy);
  CHECK(f.rows[0].class_accuracy == m.rows[0].class_accuracy);
  CHECK(f.rows[0].frechet == m.rows[0].frechet);
  CHECK(f.baseline_frechet == m.baseline_frechet);
  CHECK(f.noise_frechet == m.noise_frechet);

  // Per-class accuracy by hand from the judge's predictions, in prompt order.
  const Tensor pred = loaded.predict(images);
  std::vector<double> per_class(10, 0.0);
  for (int64_t i = 0; i < 60; ++i)
    if (static_cast<int64_t>(pred.at({i})) == labels[static_cast<size_t>(i)])
      per_class[static_cast<size_t>(labels[static_cast<size_t>(i)])] += 1.0 / 6;
  for (size_t k = 0; k < 10; ++k) CHECK(f.rows[0].class_accuracy[k] == Approx(per_class[k]).margin(1e-12));

  // Reversing the folder's order moves the images away from their prompts: per-class accuracy
  // follows the same hand computation with reversed predictions.
  for (int64_t i = 0; i < 30; ++i) {
    const fs::path a = folder / eval_image_name(i), b = folder / eval_image_name(59 - i);
    fs::rename(a, folder / "tmp.png");
    fs::rename(b, a);
    fs::rename(folder / "tmp.png", b);
  }
  const EvalReport rev = evaluate_images(folder.string(), "fashion", o);
  std::vector<double> rev_class(10, 0.0);
  for (int64_t i = 0; i < 60; ++i)
    if (static_cast<int64_t>(pred.at({59 - i})) == labels[static_cast<size_t>(i)])
      rev_class[static_cast<size_t>(labels[static_cast<size_t>(i)])] += 1.0 / 6;
  for (size_t k = 0; k < 10; ++k) CHECK(rev.fashion->rows[0].class_accuracy[k] == Approx(rev_class[k]).margin(1e-12));
  // The Frechet distance does not depend on the order of the set (up to summation round-off).
  CHECK(rev.fashion->rows[0].frechet == Approx(f.rows[0].frechet).epsilon(1e-6));

  // The table and JSON of a folder.
  CHECK(eval_table(r).find("images made elsewhere") != std::string::npos);
  const nlohmann::json j = nlohmann::json::parse(eval_json(r));
  CHECK(j["images"] == folder.string());
  CHECK(j["prompts"].size() == 10);
  CHECK(j["results"][0]["guidance"] == 2.0);
}
