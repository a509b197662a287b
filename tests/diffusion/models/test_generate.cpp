// generate_images reads the U-Net's output as the model's own prediction type; image_sampler_options builds each
// sampler.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "diffusion/models/generate.h"
#include "diffusion/process/schedule.h"
#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/sampler.h"

using namespace tinydiff;

namespace {

// A micro model whose U-Net outputs exactly 0 (every U-Net weight and bias is zero), read as `p`.
std::unique_ptr<TextToImageModel> zero_unet_model(Prediction p) {
  Generator init(0);
  auto model = std::make_unique<TextToImageModel>(model_config("micro", 1), init, p);
  for (auto& [name, param] : model->unet.named_parameters()) {
    Tensor v = param.value();
    v.copy_(Tensor::zeros(v.shape(), v.dtype()));
  }
  return model;
}

}  // namespace

TEST_CASE("generate_images reads the output as the model's prediction type", "[model][generate]") {
  // The U-Net's output is 0 at every step. Read as v it means x0_hat = sqrt(abar) x_t, read as eps it
  // means x0_hat = x_t / sqrt(abar): two different trajectories. generate_images must follow the
  // model's own type, i.e. equal ddim_sample with a zero denoiser of that type (exactly: same
  // arithmetic), clamped to [-1, 1].
  const NoiseSchedule schedule = make_schedule("linear", {.num_timesteps = 20});
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  TokenizerOptions to;
  to.max_length = model_config("micro", 1).max_length;
  to.max_vocab = model_config("micro", 1).vocab_size;
  const Tokenizer tok = Tokenizer::build(prompts, to);
  Generator noise(3);
  const Tensor x_T = noise.normal({2, 1, 32, 32});  // (N, C, S, S)
  GenerateOptions g;
  g.sampler = image_sampler_options(SamplerKind::Ddim, 5);
  std::vector<Tensor> results;
  for (Prediction p : {Prediction::V, Prediction::Epsilon}) {
    INFO(prediction_name(p));
    const auto model = zero_unet_model(p);
    CHECK(model->prediction() == p);
    Generator unused(0);
    const Tensor images = generate_images(*model, tok, schedule, prompts, x_T, unused, g);  // (2, 1, 32, 32)
    const Denoiser zero([](const Tensor& x, const Tensor&) { return Tensor::zeros(x.shape(), x.dtype()); }, p);
    Generator unused2(0);
    const Tensor expected = clamp(ddim_sample(zero, schedule, x_T, unused2, std::get<DdimOptions>(g.sampler)), -1, 1);
    CHECK(max_abs_diff(images, expected) == 0.0);
    results.push_back(images);
  }
  CHECK(max_abs_diff(results[0], results[1]) > 0.1);
}

TEST_CASE("image_sampler_options builds every sampler with x0 clipped and Karras sigmas by default",
          "[model][generate]") {
  for (const std::string& name : sampler_names()) {
    INFO(name);
    const SamplerKind kind = parse_sampler_kind(name);
    const SamplerOptions o = image_sampler_options(kind, 12);
    CHECK(sampler_kind(o) == kind);
    std::visit(
        [&](const auto& v) {
          CHECK(v.clip_x0);
          if constexpr (requires { v.steps; }) CHECK(v.steps == 12);
          if constexpr (requires { v.sigmas; }) CHECK(v.sigmas == SigmaSpacing::Karras);
        },
        o);
    if (kind != SamplerKind::Ddim && kind != SamplerKind::Ddpm) {
      const SamplerOptions u = image_sampler_options(kind, 12, 0.0, SigmaSpacing::Uniform);
      std::visit(
          [&](const auto& v) {
            if constexpr (requires { v.sigmas; }) CHECK(v.sigmas == SigmaSpacing::Uniform);
          },
          u);
    }
  }
  CHECK(std::get<EulerAncestralOptions>(image_sampler_options(SamplerKind::EulerAncestral, 10)).eta == 1.0);
  CHECK(std::get<DdimOptions>(image_sampler_options(SamplerKind::Ddim, 10, 0.5)).eta == 0.5);
}

TEST_CASE("chunk_ranges cuts n items into batches in order, the last one smaller", "[generate]") {
  const std::vector<ChunkRange> c = chunk_ranges(10, 4);
  REQUIRE(c.size() == 3);
  CHECK((c[0].start == 0 && c[0].end == 4));
  CHECK((c[1].start == 4 && c[1].end == 8));
  CHECK((c[2].start == 8 && c[2].end == 10));
  CHECK(chunk_ranges(8, 4).size() == 2);
  CHECK(chunk_ranges(0, 4).empty());
  CHECK(chunk_ranges(3, 64).size() == 1);
  CHECK_THROWS_WITH(chunk_ranges(3, 0), Catch::Contains("expected batch >= 1"));
}

TEST_CASE("generate_images guides as u + w (c - u): conditional and negative rows in their places",
          "[model][generate]") {
  // The guided path of the real model against a denoiser built by hand from two separate forward passes (prompt
  // and empty or negative prompt), combined as the guidance equation says. An x0-prediction model with small
  // random U-Net weights keeps x0_hat inside [-1, 1], so no clipping hides a difference. Swapping the two halves
  // (c + w (u - c)) must be caught: it is checked to move the result by far more than the tolerance.
  Generator init(5);
  TextToImageModel model(model_config("micro", 1), init, Prediction::X0);
  for (auto& [name, param] : model.unet.named_parameters()) {
    Tensor v = param.value();
    v.copy_(init.normal(v.shape(), 0.0, 0.05, v.dtype()));
  }
  const NoiseSchedule schedule = make_schedule("linear", {.num_timesteps = 20});
  const std::vector<std::string> prompts = {"a red circle", "a blue square"};
  TokenizerOptions to;
  to.max_length = model_config("micro", 1).max_length;
  to.max_vocab = model_config("micro", 1).vocab_size;
  const Tokenizer tok = Tokenizer::build({"a red circle", "a blue square", "a green triangle"}, to);
  Generator noise(9);
  const Tensor x_T = noise.normal({2, 1, 32, 32});  // (N, C, S, S)
  const double w = 3.0;
  GenerateOptions g;
  g.sampler = image_sampler_options(SamplerKind::Ddim, 3);
  g.guidance = w;
  const DdimOptions ddim = std::get<DdimOptions>(g.sampler);
  for (const std::vector<std::string>& negative :
       {std::vector<std::string>{}, std::vector<std::string>{"a green triangle", "a red circle"}}) {
    INFO((negative.empty() ? "empty prompt" : "negative prompts"));
    g.negative_prompts = negative;
    Generator unused(0);
    const Tensor images = generate_images(model, tok, schedule, prompts, x_T, unused, g);  // (2, 1, 32, 32)

    const Tokenizer::Batch c = tok.encode_batch(prompts);
    const Tokenizer::Batch u = tok.encode_batch(negative.empty() ? std::vector<std::string>{"", ""} : negative);
    NoGradGuard no_grad;
    const auto by_hand = [&](bool swapped) {
      const Denoiser d(
          [&](const Tensor& x, const Tensor& t) {
            const Tensor out_c = model.forward(Variable(x), t, c.ids, c.mask).value();  // (2, 1, 32, 32)
            const Tensor out_u = model.forward(Variable(x), t, u.ids, u.mask).value();  // (2, 1, 32, 32)
            return swapped ? out_c + (out_u - out_c) * w : out_u + (out_c - out_u) * w;
          },
          Prediction::X0);
      Generator unused2(0);
      return clamp(ddim_sample(d, schedule, x_T, unused2, ddim), -1, 1);
    };
    const Tensor expected = by_hand(false), swapped = by_hand(true);
    const double tol = 1e-6;  // one batched U-Net call against two: float32 rounding only (6e-8 seen)
    CHECK(max_abs_diff(images, expected) < tol);
    CHECK(max_abs_diff(swapped, expected) > 100 * tol);
    CHECK(max_abs_diff(images, swapped) > 100 * tol);
  }
}
