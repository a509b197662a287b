// Editing through generate_images on a micro model with random weights: the negative prompt's context reaches
// the unconditional half of guidance (u_neg + w (c - u_neg), checked against separate U-Net calls), strength 0
// returns the init image, inpainting keeps the black pixels, and invert_images + generate_images round-trip.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "diffusion/models/generate.h"
#include "diffusion/models/invert.h"
#include "diffusion/process/schedule.h"

using namespace tinydiff;

namespace {

// A micro model (1 channel, 32 x 32) whose every weight is redrawn from N(0, 0.2^2), so that the U-Net's output
// depends on x, t and the context (a fresh model may start some layers at zero).
std::unique_ptr<TextToImageModel> random_model() {
  Generator init(0);
  auto model = std::make_unique<TextToImageModel>(model_config("micro", 1), init, Prediction::Epsilon);
  Generator gen(1);
  for (auto& [name, param] : model->named_parameters()) {
    Tensor v = param.value();
    v.copy_(gen.normal(v.shape(), 0.0, 0.2, v.dtype()));
  }
  return model;
}

Tokenizer micro_tokenizer(const std::vector<std::string>& captions) {
  TokenizerOptions to;
  to.max_length = model_config("micro", 1).max_length;
  to.max_vocab = model_config("micro", 1).vocab_size;
  return Tokenizer::build(captions, to);
}

// The U-Net's output for `prompt` at (x, t), computed on its own (no doubled batch).
Tensor unet_alone(const TextToImageModel& m, const Tokenizer& tok, const std::string& prompt, const Tensor& x,
                  const Tensor& t) {
  const Tokenizer::Batch b = tok.encode_batch({prompt});
  const Variable ctx = m.text_encoder.forward(b.ids, b.mask);
  return m.unet.forward(Variable(x), t, ctx, b.mask).value();  // (1, C, S, S)
}

}  // namespace

TEST_CASE("a negative prompt's context replaces the empty prompt's in guidance", "[model][generate][editing]") {
  // guided_denoiser on the doubled batch must equal u_neg + w (c - u_neg) with u_neg and c from separate U-Net
  // calls on the negative and the positive prompt. Tolerance 1e-4 relative to the output's scale: the batched
  // and single calls may round differently in the GEMMs. It must differ from guidance away from the empty prompt.
  const auto model = random_model();
  const Tokenizer tok = micro_tokenizer({"a red circle", "a blue square"});
  NoGradGuard no_grad;
  Generator gen(2);
  const Tensor x = gen.normal({1, 1, 32, 32});
  const Tensor t = Tensor::from_indices({700}, {1});
  const double w = 2.5;
  const Tensor got = guided_denoiser(*model, tok, {"a red circle"}, {"a blue square"}, w)(x, t);
  const Tensor c = unet_alone(*model, tok, "a red circle", x, t);
  const Tensor u_neg = unet_alone(*model, tok, "a blue square", x, t);
  const Tensor u_empty = unet_alone(*model, tok, "", x, t);
  const Tensor expected = u_neg + (c - u_neg) * w;
  const double scale = max_abs_diff(expected, Tensor::zeros(expected.shape()));
  INFO("scale " << scale);
  REQUIRE(scale > 0.1);
  CHECK(max_abs_diff(got, expected) < 1e-4 * scale);
  const Tensor away_from_empty = u_empty + (c - u_empty) * w;
  CHECK(max_abs_diff(got, away_from_empty) > 0.01 * scale);
  CHECK(max_abs_diff(guided_denoiser(*model, tok, {"a red circle"}, {}, w)(x, t), away_from_empty) < 1e-4 * scale);
  // At w = 0 only the negative prompt is evaluated.
  CHECK(max_abs_diff(guided_denoiser(*model, tok, {"a red circle"}, {"a blue square"}, 0.0)(x, t), u_neg) <
        1e-4 * scale);
  CHECK_THROWS_WITH(guided_denoiser(*model, tok, {"a red circle"}, {"a", "b"}, w),
                    Catch::Contains("2 negative prompts for 1 prompts"));
}

TEST_CASE("generate_images with negative prompts, an init image and a mask", "[model][generate][editing]") {
  const NoiseSchedule schedule = make_schedule("linear", {.num_timesteps = 50});
  const auto model = random_model();
  const Tokenizer tok = micro_tokenizer({"a red circle", "a blue square"});
  const std::vector<std::string> prompts = {"a red circle", "a red circle"};
  Generator noise(3);
  const Tensor x_T = noise.normal({2, 1, 32, 32});
  const Tensor init = clamp(noise.normal({2, 1, 32, 32}) * 0.5, -1.0, 1.0);  // (2, 1, 32, 32) in [-1, 1]
  GenerateOptions g;
  g.sampler = image_sampler_options(SamplerKind::Ddim, 5);
  g.guidance = 3.0;

  // One negative prompt for both images = the guided denoiser with it, sampled directly.
  g.negative_prompts = {"a blue square"};
  Generator g1(0), g2(0);
  const Tensor with_neg = generate_images(*model, tok, schedule, prompts, x_T, g1, g);
  Tensor direct;
  {
    NoGradGuard no_grad;
    const Denoiser d = guided_denoiser(*model, tok, prompts, {"a blue square", "a blue square"}, 3.0);
    direct = clamp(sample(d, schedule, x_T, g2, g.sampler), -1.0, 1.0);
  }
  CHECK(max_abs_diff(with_neg, direct) == 0.0);
  g.negative_prompts = {};
  Generator g3(0);
  CHECK(max_abs_diff(generate_images(*model, tok, schedule, prompts, x_T, g3, g), with_neg) > 1e-3);

  // Strength 0 returns the init image; with a mask, the kept (0) pixels are the init image's.
  g.edit.init = init;
  g.edit.strength = 0.0;
  Generator g4(0);
  CHECK(max_abs_diff(generate_images(*model, tok, schedule, prompts, x_T, g4, g), init) == 0.0);
  std::vector<double> m(32 * 32, 0.0);
  for (int64_t i = 0; i < 32 * 16; ++i) m[static_cast<size_t>(i)] = 1.0;  // top half generated
  g.edit.mask = Tensor::from_vector(m, {1, 1, 32, 32});
  g.edit.strength = 1.0;
  g.edit.resample = 2;
  g.batch = 1;  // chunks of one image: the init image is sliced with them
  Generator g5(0);
  const Tensor painted = generate_images(*model, tok, schedule, prompts, x_T, g5, g);
  CHECK(max_abs_diff(painted.slice(2, 16, 32), init.slice(2, 16, 32)) == 0.0);
  CHECK(max_abs_diff(painted.slice(2, 0, 16), init.slice(2, 0, 16)) > 0.1);
  g.edit.mask = Tensor::ones({1, 1, 16, 16});
  Generator g6(0);
  CHECK_THROWS_WITH(generate_images(*model, tok, schedule, prompts, x_T, g6, g),
                    Catch::Contains("does not broadcast to the image"));
}

TEST_CASE("invert_images then generate_images reconstructs the image, better with more steps",
          "[model][generate][editing]") {
  // DDIM inversion of a generated image under guidance 1, undone by inversion_sampler_options (no clipping); the
  // reconstruction error must fall from 5 to 25 to 100 steps. (The micro model is random, so no absolute bound is
  // asserted here: the bound is tested with the optimal denoiser in tests/diffusion/sampling/test_editing.cpp.)
  const NoiseSchedule schedule = make_schedule("linear", {.num_timesteps = 200});
  const auto model = random_model();
  const Tokenizer tok = micro_tokenizer({"a red circle"});
  Generator noise(4);
  GenerateOptions g;
  g.sampler = image_sampler_options(SamplerKind::Ddim, 40);
  g.guidance = 1.0;
  const Tensor image = generate_images(*model, tok, schedule, {"a red circle"}, noise.normal({1, 1, 32, 32}), noise, g);
  double previous = INFINITY;
  for (int64_t steps : {5, 25, 100}) {
    InvertOptions inv;
    inv.steps = steps;
    const Tensor x_T = invert_images(*model, tok, schedule, {"a red circle"}, image, inv);
    g.sampler = inversion_sampler_options(steps);
    CHECK_FALSE(std::get<DdimOptions>(g.sampler).clip_x0);
    Generator unused(0);
    const Tensor back = generate_images(*model, tok, schedule, {"a red circle"}, x_T, unused, g);
    const double rmse = std::sqrt(mean(square(back - image)).item());
    INFO(steps << " steps: RMSE " << rmse);
    CHECK(rmse < previous);
    previous = rmse;
  }
  InvertOptions bad;
  bad.steps = 500;
  CHECK_THROWS_WITH(invert_images(*model, tok, schedule, {"a red circle"}, image, bad),
                    Catch::Contains("steps must be 1..200"));
}
