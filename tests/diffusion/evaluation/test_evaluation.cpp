// Tests of the evaluation tools: the Fashion-MNIST classifier (a small CNN trained by the
// framework: issue 4's CNN test), the Fréchet distance and its eigensolvers, the Shapes and
// Fashion-MNIST scoring pipelines on ground-truth images, and guidance-list parsing.
#include <fmt/format.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "diffusion/data/captions.h"
#include "diffusion/evaluation/evaluate.h"
#include "diffusion/evaluation/frechet.h"
#include "nn/safetensors.h"
#include "tensor/tensor.h"
#include "tests/temp_dir.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

// A folder of its own under the system temp folder, removed at the end of the test.
struct TempDir : test::TempDir {
  explicit TempDir(const std::string& name) : test::TempDir("w4", name) {}
};

// The feature sets of tools/frechet_reference.py, rebuilt from their closed forms.
Tensor reference_set_a() {
  std::vector<double> v;
  for (int n = 0; n < 40; ++n)
    for (int j = 0; j < 5; ++j) v.push_back(std::sin(0.37 * (n + 1) * (j + 1)) + 0.5 * std::cos(1.3 * n + 0.7 * j));
  return Tensor::from_vector(v, {40, 5}, DType::F64);
}
Tensor reference_set_b() {
  std::vector<double> v;
  for (int n = 0; n < 50; ++n)
    for (int j = 0; j < 5; ++j)
      v.push_back(0.8 * std::sin(0.91 * n + 0.4 * j * j) + 0.3 * j + std::cos(0.23 * (n + 1) * (j + 2)));
  return Tensor::from_vector(v, {50, 5}, DType::F64);
}

// A random symmetric n x n matrix (row-major) with entries N(0, 1).
std::vector<double> random_symmetric(int64_t n, uint64_t seed) {
  Generator gen(seed);
  const std::vector<double> g = gen.normal({n, n}, 0, 1, DType::F64).to_vector();
  std::vector<double> a(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      a[static_cast<size_t>(i * n + j)] = g[static_cast<size_t>(i * n + j)] + g[static_cast<size_t>(j * n + i)];
  return a;
}

// The classifier of issue 4's CNN test, trained once per test process: 5,000 training images,
// one epoch, batch 64; accuracy measured on the first 2,000 test images.
struct TrainedClassifier {
  Generator gen{0};
  FashionClassifier model{gen};
  FashionClassifierReport report;
};
TrainedClassifier& trained_classifier() {
  static TrainedClassifier* c = [] {
    auto* t = new TrainedClassifier;
    FashionClassifierTrainOptions o;
    o.train_limit = 5000;
    o.test_limit = 2000;
    o.epochs = 1;
    o.batch_size = 64;
    o.warmup_steps = 10;
    t->report = train_fashion_classifier(t->model, o);
    return t;
  }();
  return *c;
}

}  // namespace

TEST_CASE("a small CNN trains on a Fashion-MNIST subset to at least 75% test accuracy",
          "[evaluation][classifier][slow]") {
  TrainedClassifier& c = trained_classifier();
  // Measured: 0.81 after one epoch over 5,000 images (79 steps of 64); chance is 0.10. The bar
  // leaves room for other thread counts (different summation orders) without letting a broken
  // network or optimizer through.
  CHECK(c.report.test_accuracy >= 0.75);
  CHECK(c.report.train_images == 5000);
  CHECK(c.report.test_images == 2000);
  CHECK(c.report.steps == 79);
  CHECK(c.model.parameter_count() == 393738);

  const FashionMnist test = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, 300);
  const Tensor f = c.model.features(test.images, 128);  // batches of 128, 128, 44
  REQUIRE(f.shape() == Shape{300, FashionClassifier::kFeatureDim});
  // Features are SiLU outputs: bounded below by min silu = -0.2785.
  for (double v : f.to_vector()) REQUIRE(v >= -0.2785);
  // The batched no-grad path equals the recorded forward, and predict is the logits' argmax.
  const Tensor logits = c.model.logits(test.images);
  REQUIRE(logits.shape() == Shape{300, 10});
  const Tensor direct = c.model.forward(Variable(test.images.slice(0, 0, 7).contiguous())).value();
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t k = 0; k < 10; ++k) CHECK(direct.at({i, k}) == Approx(logits.at({i, k})).margin(1e-5));
  const Tensor pred = c.model.predict(test.images);
  REQUIRE(pred.shape() == Shape{300});
  const Tensor best = argmax(logits, 1);
  for (int64_t i = 0; i < 300; ++i) CHECK(pred.at({i}) == best.at({i}));
  CHECK(classification_accuracy(c.model, test.images, test.labels) >= 0.7);

  CHECK_THROWS_WITH(c.model.features(Tensor::zeros({2, 1, 28, 28})), Catch::Contains("expected (N, 1, 32, 32)"));
}

TEST_CASE("the classifier cache round-trips, and a corrupt cache is rebuilt with a warning",
          "[evaluation][classifier][slow]") {
  TrainedClassifier& c = trained_classifier();
  TempDir dir("classifier");
  const std::string path = (dir.path / "sub" / "clf.safetensors").string();  // the folder is created
  save_fashion_classifier(path, c.model, c.report);
  Generator gen(5);
  FashionClassifier loaded(gen);
  const FashionClassifierReport r = load_fashion_classifier(path, loaded);
  CHECK(r.loaded);
  CHECK(r.test_accuracy == Approx(c.report.test_accuracy).margin(1e-6));
  CHECK(r.steps == c.report.steps);
  const FashionMnist test = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, 16);
  const std::vector<double> a = c.model.features(test.images).to_vector();
  const std::vector<double> b = loaded.features(test.images).to_vector();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i] == b[i]);  // identical weights, identical features

  // Missing file, corrupt file, another safetensors file: each a clear Error.
  CHECK_THROWS_WITH(load_fashion_classifier((dir.path / "none.safetensors").string(), loaded),
                    Catch::Contains("no such file"));
  const std::string bad = (dir.path / "bad.safetensors").string();
  std::ofstream(bad) << "this is not a safetensors file";
  CHECK_THROWS_WITH(load_fashion_classifier(bad, loaded), Catch::Contains("bad.safetensors"));
  const std::string other = (dir.path / "other.safetensors").string();
  save_safetensors(other, {{"w", Tensor::zeros({2})}}, {{"format", "something-else"}});
  CHECK_THROWS_WITH(load_fashion_classifier(other, loaded), Catch::Contains("not a classifier file"));

  // load_or_train: a readable cache is loaded without training; a corrupt one warns and is
  // rebuilt (here with a tiny training run, to keep the test fast) and then loads.
  std::vector<std::string> lines;
  const auto log = [&](const std::string& line) { lines.push_back(line); };
  FashionClassifierTrainOptions tiny;
  tiny.train_limit = 256;
  tiny.test_limit = 100;
  tiny.epochs = 1;
  const FashionClassifierReport cached = load_or_train_fashion_classifier(path, loaded, tiny, log);
  CHECK(cached.loaded);
  CHECK(lines.empty());
  const FashionClassifierReport rebuilt = load_or_train_fashion_classifier(bad, loaded, tiny, log);
  CHECK_FALSE(rebuilt.loaded);
  CHECK(rebuilt.train_images == 256);
  REQUIRE(lines.size() == 2);
  CHECK_THAT(lines[0], Catch::Contains("warning") && Catch::Contains("unreadable") && Catch::Contains("retraining"));
  CHECK_THAT(lines[1], Catch::Contains("saved"));
  CHECK(load_fashion_classifier(bad, loaded).train_images == 256);
}

TEST_CASE("LAPACK's dsyev agrees with the naive Jacobi eigensolver", "[evaluation][frechet]") {
  for (int64_t n : {1, 2, 7, 20}) {
    const std::vector<double> a = random_symmetric(n, static_cast<uint64_t>(n));
    const SymmetricEigen fast = symmetric_eigen(a, n);
    const SymmetricEigen slow = symmetric_eigen_naive(a, n);
    REQUIRE(fast.values.size() == static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      // Eigenvalues of O(1)-entry matrices agree to 1e-10 (both are backward stable).
      CHECK(fast.values[static_cast<size_t>(k)] == Approx(slow.values[static_cast<size_t>(k)]).margin(1e-10));
      if (k > 0) CHECK(fast.values[static_cast<size_t>(k)] >= fast.values[static_cast<size_t>(k - 1)]);
    }
    for (const SymmetricEigen* e : {&fast, &slow}) {
      // A v_k = lambda_k v_k and V^T V = I, to 1e-10.
      for (int64_t k = 0; k < n; ++k) {
        for (int64_t i = 0; i < n; ++i) {
          double av = 0;
          for (int64_t j = 0; j < n; ++j)
            av += a[static_cast<size_t>(i * n + j)] * e->vectors[static_cast<size_t>(j * n + k)];
          CHECK(av ==
                Approx(e->values[static_cast<size_t>(k)] * e->vectors[static_cast<size_t>(i * n + k)]).margin(1e-10));
        }
        for (int64_t l = 0; l < n; ++l) {
          double dot = 0;
          for (int64_t i = 0; i < n; ++i)
            dot += e->vectors[static_cast<size_t>(i * n + k)] * e->vectors[static_cast<size_t>(i * n + l)];
          CHECK(dot == Approx(k == l ? 1.0 : 0.0).margin(1e-10));
        }
      }
    }
  }
  // sqrt_psd squares back to a PSD matrix (a a^T).
  const std::vector<double> g = random_symmetric(6, 11);
  std::vector<double> psd(36, 0.0);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j)
      for (int k = 0; k < 6; ++k)
        psd[static_cast<size_t>(i * 6 + j)] += g[static_cast<size_t>(i * 6 + k)] * g[static_cast<size_t>(j * 6 + k)];
  const std::vector<double> r = sqrt_psd(psd, 6);
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      double rr = 0;
      for (int k = 0; k < 6; ++k) rr += r[static_cast<size_t>(i * 6 + k)] * r[static_cast<size_t>(k * 6 + j)];
      CHECK(rr == Approx(psd[static_cast<size_t>(i * 6 + j)]).margin(1e-9));
    }
  CHECK_THROWS_WITH(symmetric_eigen({1, 2, 3}, 2), Catch::Contains("expected an n x n matrix"));
}

TEST_CASE("the Frechet distance matches closed forms and a numpy reference", "[evaluation][frechet]") {
  const Tensor a = reference_set_a(), b = reference_set_b();

  // Mean and unbiased covariance as numpy computes them (tools/frechet_reference.py prints these).
  const GaussianFit fit = fit_gaussian(a);
  const std::vector<double> mean_ref = {0.13313079555548, 0.037498958903144, 0.006072616936411, 0.020957443801074,
                                        -0.020140884656412};
  const std::vector<double> cov_row0_ref = {0.659398077616829, 0.096842365405467, 0.034222951039279, -0.02284746306755,
                                            -0.133890008445592};
  for (size_t j = 0; j < 5; ++j) {
    CHECK(fit.mean[j] == Approx(mean_ref[j]).margin(1e-13));
    CHECK(fit.cov[j] == Approx(cov_row0_ref[j]).margin(1e-13));
  }

  // numpy (eigh on S1^1/2 S2 S1^1/2, and eigvals of S1 S2, agree to 15 digits): 3.47758219071533;
  // against 2a + 1: 8.50957526891461. Tolerance 1e-10 relative: float64 round-off only.
  CHECK(frechet_distance(a, b) == Approx(3.47758219071533).epsilon(1e-10));
  CHECK(frechet_distance(b, a) == Approx(3.47758219071533).epsilon(1e-10));  // symmetric, though the formula is not
  CHECK(frechet_distance(a, add(mul(a, 2.0), 1.0)) == Approx(8.50957526891461).epsilon(1e-10));
  // The same set from float32 features (converted exactly to float64) and in float32 input.
  CHECK(frechet_distance(a.to(DType::F32), b.to(DType::F32)) == Approx(3.47758219071533).epsilon(1e-5));

  // Identical sets: 0 (up to round-off of a trace of about 1.5).
  CHECK(std::abs(frechet_distance(a, a)) < 1e-10);

  // 1-D: (m1 - m2)^2 + (s1 - s2)^2 with unbiased standard deviations.
  const Tensor x = Tensor::from_vector({1, 2, 4, 7}, {4, 1}, DType::F64);  // mean 3.5, var 7
  const Tensor y = Tensor::from_vector({0, 10, 5}, {3, 1}, DType::F64);    // mean 5, var 25
  CHECK(frechet_distance(x, y) == Approx(1.5 * 1.5 + std::pow(std::sqrt(7.0) - 5.0, 2)).epsilon(1e-12));

  // Diagonal covariances: ||m1 - m2||^2 + sum (sqrt a_i - sqrt b_i)^2. Build uncorrelated sets
  // from +-1 patterns whose cross products cancel exactly.
  const std::vector<double> s1 = {1.0, 2.0, 0.5}, s2 = {3.0, 0.1, 0.5}, m1 = {0, 1, 2}, m2 = {1, -1, 0.5};
  const int signs[4][3] = {{1, 1, 1}, {1, -1, -1}, {-1, 1, -1}, {-1, -1, 1}};
  std::vector<double> va, vb;
  for (const auto& s : signs)
    for (int j = 0; j < 3; ++j) {
      va.push_back(m1[static_cast<size_t>(j)] + s[j] * s1[static_cast<size_t>(j)]);
      vb.push_back(m2[static_cast<size_t>(j)] + s[j] * s2[static_cast<size_t>(j)]);
    }
  // Each column has variance 4 s^2 / 3 (unbiased over 4 rows); off-diagonal covariances are 0.
  double expected = 0;
  for (size_t j = 0; j < 3; ++j) {
    const double sa = std::sqrt(4.0 / 3.0) * s1[j], sb = std::sqrt(4.0 / 3.0) * s2[j];
    expected += (m1[j] - m2[j]) * (m1[j] - m2[j]) + (sa - sb) * (sa - sb);
  }
  CHECK(frechet_distance(Tensor::from_vector(va, {4, 3}, DType::F64), Tensor::from_vector(vb, {4, 3}, DType::F64)) ==
        Approx(expected).epsilon(1e-12));

  CHECK_THROWS_WITH(frechet_distance(a, Tensor::zeros({4, 3})), Catch::Contains("same D"));
  CHECK_THROWS_WITH(fit_gaussian(Tensor::zeros({1, 3})), Catch::Contains("at least 2"));
  Tensor nan = Tensor::zeros({3, 2});
  nan.set({1, 1}, std::nan(""));
  CHECK_THROWS_WITH(fit_gaussian(nan), Catch::Contains("NaN"));
}

TEST_CASE("the Shapes pipeline scores ground-truth images at 100%, seen and held-out pairs apart",
          "[evaluation][shapes]") {
  // A "model" that draws exactly what each prompt asks for, with the generator.
  std::map<std::string, ShapeAttributes> by_caption;
  for (const ShapeAttributes& a : all_shape_attributes()) by_caption[shapes_caption(a)] = a;
  Generator render_gen(9);
  int colour_shift = 0;
  int64_t calls = 0;
  const PromptSampler truth = [&](const std::vector<std::string>& prompts, double, const Tensor& x_T, int64_t) {
    ++calls;
    std::vector<Tensor> images;
    for (const std::string& p : prompts) {
      ShapeAttributes a = by_caption.at(p);
      a.colour = (a.colour + colour_shift) % 7;
      images.push_back(render_shape(a, render_gen));
    }
    REQUIRE(x_T.size(0) == static_cast<int64_t>(prompts.size()));
    return stack(images, 0);  // (N, 3, 32, 32)
  };
  EvalOptions o;
  o.samples = 6;
  o.batch = 40;
  o.guidance = {1.0, 3.0};
  const ShapesEvalResult r = evaluate_shapes(truth, o);
  REQUIRE(r.rows.size() == 2);
  CHECK(calls == 2 * 4);  // 21 pairs x 6 = 126 prompts in chunks of 40: 4 calls per guidance scale
  for (const ShapesEvalRow& row : r.rows) {
    CHECK(row.seen.count == 18 * 6);
    CHECK(row.held_out.count == 3 * 6);
    // The detector reads generated images back at (or within one image of) 100%.
    CHECK(row.seen.all >= 1.0 - 1.5 / 108);
    CHECK(row.held_out.all == Approx(1.0));
  }
  CHECK(r.rows[1].guidance == 3.0);

  // Wrong colours: colour scores 0, the other attributes are unaffected.
  colour_shift = 1;
  o.guidance = {3.0};
  const ShapesEvalResult wrong = evaluate_shapes(truth, o);
  CHECK(wrong.rows[0].seen.colour == 0.0);
  CHECK(wrong.rows[0].held_out.all == 0.0);
  CHECK(wrong.rows[0].seen.shape >= 1.0 - 1.5 / 108);

  // The prompts: 6 per pair, main template, the held-out pairs included, sizes and positions seeded.
  const ShapesEvalPrompts p = shapes_eval_prompts(6, 1);
  REQUIRE(p.prompts.size() == 126);
  CHECK(p.prompts[0] == shapes_caption(p.truth[0]));
  int64_t held = 0;
  for (const auto& a : p.truth) held += is_held_out(a.shape, a.colour) ? 1 : 0;
  CHECK(held == 18);
  CHECK(shapes_eval_prompts(6, 1).prompts == p.prompts);
  CHECK_THROWS_WITH(evaluate_shapes(truth, o, 1, 32), Catch::Contains("Shapes images are (3, 32, 32)"));
}

TEST_CASE("the Fashion-MNIST pipeline: real images of the prompted class score high, wrong classes low",
          "[evaluation][fashion][slow]") {
  TrainedClassifier& c = trained_classifier();
  const FashionMnist test = load_fashion_mnist(FashionSplit::Test);
  const Tensor reference = test.images.slice(0, 0, 1000);  // the Frechet reference
  // A "model" that answers each prompt with unseen real test images (from index 5000 on) of a
  // class: the prompted one, or the next one.
  std::map<std::string, int64_t> label_of;
  for (int64_t l = 0; l < 10; ++l) label_of[fashion_class_prompt(l)] = l;
  std::map<int64_t, std::vector<int64_t>> pool;
  for (int64_t i = 5000; i < 10000; ++i) pool[static_cast<int64_t>(test.labels.at({i}))].push_back(i);
  int64_t shift = 0;
  const PromptSampler real = [&](const std::vector<std::string>& prompts, double, const Tensor&, int64_t) {
    std::map<int64_t, size_t> used;
    std::vector<int64_t> idx;
    for (const std::string& p : prompts) {
      const int64_t l = (label_of.at(p) + shift) % 10;
      idx.push_back(pool[l][used[l]++ % pool[l].size()]);
    }
    return index_select(test.images, 0, Tensor::from_indices(idx, {static_cast<int64_t>(idx.size())}));
  };
  EvalOptions o;
  o.samples = 30;
  o.guidance = {3.0};
  const Tensor baseline = load_fashion_mnist(FashionSplit::Train, kFashionMnistDir, 300).images;
  const FashionEvalResult good = evaluate_fashion(real, c.model, reference, baseline, o);
  REQUIRE(good.rows.size() == 1);
  const FashionEvalRow& g = good.rows[0];
  CHECK(g.samples == 300);
  CHECK(g.class_accuracy.size() == 10);
  // Real images of the prompted class: prompt accuracy is the classifier's own accuracy (0.81
  // measured on the test set; a 300-image sample of it here).
  CHECK(g.prompt_accuracy >= 0.7);
  CHECK(good.baseline_images == 300);
  CHECK(good.real_images == 1000);
  CHECK(good.noise_frechet > 5 * g.frechet);  // uniform noise: far from real images

  shift = 1;
  const FashionEvalResult wrong = evaluate_fashion(real, c.model, reference, baseline, o);
  const FashionEvalRow& w = wrong.rows[0];
  CHECK(w.prompt_accuracy <= 0.2);
  // The class mix is the same (every class once, shifted), so the Frechet distance stays close
  // to the real-vs-real level; both are far below that of noise.
  const PromptSampler noise = [&](const std::vector<std::string>& prompts, double, const Tensor&, int64_t) {
    Generator gen(3);
    return gen.uniform({static_cast<int64_t>(prompts.size()), 1, 32, 32}, -1.0, 1.0);
  };
  const FashionEvalResult bad = evaluate_fashion(noise, c.model, reference, Tensor(), o);
  CHECK(bad.baseline_images == 0);
  CHECK(bad.rows[0].frechet > 5 * g.frechet);
  CHECK(bad.rows[0].frechet > 5 * w.frechet);
  CHECK(g.frechet < 3 * good.baseline_frechet + 1.0);
}

TEST_CASE("guidance lists parse, and bad lists and options give clear errors", "[evaluation][errors]") {
  CHECK(parse_guidance_list("0,1,3,5") == std::vector<double>{0, 1, 3, 5});
  CHECK(parse_guidance_list(" 2.5 , 7") == std::vector<double>{2.5, 7});
  CHECK(parse_guidance_list("3") == std::vector<double>{3});
  CHECK_THROWS_WITH(parse_guidance_list(""), Catch::Contains("--guidance") && Catch::Contains("empty"));
  CHECK_THROWS_WITH(parse_guidance_list("1,,3"), Catch::Contains("empty item"));
  CHECK_THROWS_WITH(parse_guidance_list("3,"), Catch::Contains("empty item"));
  CHECK_THROWS_WITH(parse_guidance_list("1,abc"), Catch::Contains("'abc' in '1,abc' is not a number"));
  CHECK_THROWS_WITH(parse_guidance_list("1;3"), Catch::Contains("'1;3'") && Catch::Contains("not a number"));
  CHECK_THROWS_WITH(parse_guidance_list("3x"), Catch::Contains("not a number"));
  CHECK_THROWS_WITH(parse_guidance_list("-1"), Catch::Contains("negative"));
  CHECK_THROWS_WITH(parse_guidance_list("nan"), Catch::Contains("not a finite number"));
  CHECK_THROWS_WITH(parse_guidance_list("1,inf"), Catch::Contains("not a finite number"));

  EvalOptions o;
  o.samples = 0;
  CHECK_THROWS_WITH(validate(o), Catch::Contains("samples must be at least 1"));
  o = EvalOptions();
  o.guidance = {};
  CHECK_THROWS_WITH(validate(o), Catch::Contains("guidance list is empty"));
  o = EvalOptions();
  o.real_images = 20000;
  CHECK_THROWS_WITH(validate(o), Catch::Contains("real_images"));

  // A checkpoint of a data set without an evaluation, and a missing checkpoint.
  CHECK(has_evaluation("fashion"));
  CHECK(has_evaluation("shapes"));
  CHECK_FALSE(has_evaluation("mnist"));
  TrainedModel m;
  m.config = model_config("tiny", 1);
  Generator gen(0);
  m.model = std::make_unique<TextToImageModel>(m.config, gen);
  m.dataset = "mnist";
  m.schedule = make_schedule("linear");
  CHECK_THROWS_WITH(evaluate_model(m, "x.safetensors", EvalOptions()),
                    Catch::Contains("data set 'mnist' has no evaluation"));
  CHECK_THROWS(evaluate_checkpoint("/nonexistent/checkpoint.safetensors", EvalOptions()));
}

TEST_CASE("eval with DDPM or DDIM eta > 0 draws the sampler noise deterministically, the same for every scale",
          "[evaluation][sampler]") {
  // An untrained micro Shapes model with a 10-step schedule: the images are noise-like, but
  // exactly reproducible, which is what is checked.
  TrainedModel m;
  m.config = model_config("micro", 3);
  Generator init(0);
  m.model = std::make_unique<TextToImageModel>(m.config, init);
  m.dataset = "shapes";
  ScheduleOptions so;
  so.num_timesteps = 10;
  m.schedule = make_schedule("linear", so);
  EvalOptions o;
  o.samples = 1;  // 21 prompts in chunks of 8, 8, 5
  o.batch = 8;
  o.steps = 4;
  o.guidance = {1.0};
  const std::vector<std::string> all = eval_prompts("shapes", o);
  TokenizerOptions to;
  to.max_length = m.config.max_length;
  to.max_vocab = m.config.vocab_size;
  m.tokenizer = std::make_unique<Tokenizer>(Tokenizer::build(all, to));
  const std::vector<std::string> prompts(all.begin(), all.begin() + 8), last(all.begin() + 16, all.end());
  Generator noise(5);
  const Tensor x = noise.normal({8, 3, 32, 32}), x_last = noise.normal({5, 3, 32, 32});
  const auto same = [](const Tensor& a, const Tensor& b) { return a.to_vector() == b.to_vector(); };

  for (const std::string sampler : {"ddpm", "ddim-eta", "ddim", "euler_a", "heun"}) {
    INFO(sampler);
    EvalOptions s = o;
    s.sampler = parse_sampler_kind(sampler == "ddim-eta" ? "ddim" : sampler);
    s.eta = sampler == "ddim-eta" ? 0.5 : 0.0;
    const PromptSampler first = model_sampler(m, s);
    const Tensor c0 = first(prompts, 1.0, x, 0);                    // chunk 0
    const Tensor later = first(last, 1.0, x_last, 2);               // chunk 2, asked first
    const Tensor c1 = first(prompts, 1.0, x, 1);                    // chunk 1 (same inputs, its own noise)
    const Tensor again = first(prompts, 1.0, x, 0);                 // chunk 0 of the next guidance scale
    CHECK(same(again, c0));                                         // the noise depends on the chunk, not on the calls
    CHECK(same(model_sampler(m, s)(prompts, 1.0, x, 0), c0));       // a fresh run repeats it
    CHECK(same(model_sampler(m, s)(last, 1.0, x_last, 2), later));  // in any order
    if (sampler == "ddim" || sampler == "heun")
      CHECK(same(c1, c0));  // deterministic DDIM and Heun use no noise at all
    else
      CHECK_FALSE(same(c1, c0));
    // Chunk 0's noise is the documented stream: seed, block offset 2^40.
    GenerateOptions g;
    g.sampler = image_sampler_options(s.sampler, s.steps, s.eta);
    g.guidance = 1.0;
    g.batch = s.batch;
    Generator gen(s.seed);
    gen.set_state({s.seed, uint64_t{1} << 40});
    CHECK(same(generate_images(*m.model, *m.tokenizer, m.schedule, prompts, x, gen, g), c0));
  }

  // The report names the sampler: DDPM takes all T steps whatever --steps says.
  EvalOptions d = o;
  d.sampler = SamplerKind::Ddpm;
  d.steps = 50;  // more than T, ignored by DDPM
  const EvalReport r = evaluate_model(m, "micro.safetensors", d);
  CHECK(r.num_timesteps == 10);
  CHECK(eval_table(r).find("DDPM (all 10 steps)") != std::string::npos);
  const std::string json = eval_json(r);
  CHECK(json.find("\"sampler\": \"ddpm\"") != std::string::npos);
  CHECK(json.find("\"steps\": 10") != std::string::npos);
  CHECK(json.find("\"eta\": 0.0") != std::string::npos);
  d.sampler = SamplerKind::Ddim;
  CHECK_THROWS_WITH(evaluate_model(m, "micro.safetensors", d), Catch::Contains("more than the model's 10 timesteps"));
  d.steps = 4;
  d.eta = 0.25;
  CHECK(eval_table(evaluate_model(m, "micro.safetensors", d)).find("DDIM 4 steps, eta 0.25") != std::string::npos);
  // An ODE sampler: its sigmas and model evaluations are recorded; on_step sees every step of every chunk.
  d.eta = 0.0;
  d.sampler = SamplerKind::Heun;
  d.steps = 3;
  int64_t steps_seen = 0;
  d.on_step = [&](int64_t, int64_t, const Tensor&, const Tensor&) { ++steps_seen; };
  const std::string heun = eval_json(evaluate_model(m, "micro.safetensors", d));
  CHECK(heun.find("\"sampler\": \"heun\"") != std::string::npos);
  CHECK(heun.find("\"sigmas\": \"karras\"") != std::string::npos);
  CHECK(heun.find("\"evaluations\": 5") != std::string::npos);
  CHECK(steps_seen == 3 * 3);  // 21 prompts in chunks of 8, 8, 5: 3 chunks of 3 steps
}
