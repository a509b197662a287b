// Tests of the text-to-image model: parameter count and names against the PyTorch peer,
// shapes, a PyTorch golden forward/backward, and a float64 gradient check of a miniature.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <string>

#include "diffusion/models/text_to_image.h"
#include "diffusion/process/objective.h"
#include "diffusion/process/schedule.h"
#include "nn/safetensors.h"
#include "nn/state_dict.h"
#include "tests/autograd/check_gradcheck.h"

using namespace tinydiff;

namespace {
// The miniature of tools/make_model_golden.py.
ModelConfig mini_config() {
  ModelConfig c;
  c.name = "mini";
  c.image_channels = 1;
  c.image_size = 16;
  c.base_channels = 16;
  c.channel_mults = {1, 2};
  c.attention_resolutions = {8};
  c.text_width = 24;
  c.text_layers = 1;
  c.text_heads = 4;
  c.vocab_size = 32;
  c.max_length = 8;
  return c;
}

Tensor find(const NamedTensors& tensors, const std::string& name) {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  FAIL("golden file has no tensor " << name);
  return Tensor();
}
}  // namespace

TEST_CASE("the tiny config has exactly the PyTorch peer's parameter count and names", "[model]") {
  Generator gen(0);
  // Counted with /usr/bin/python3 on bench/torch_ref.py: TextEncoder 431,616 + UNet(cimg=1)
  // 860,385 = 1,292,001; with cimg=3 the total is 1,293,155.
  TextToImageModel model(model_config("tiny", 1), gen);
  CHECK(model.text_encoder.parameter_count() == 431616);
  CHECK(model.unet.parameter_count() == 860385);
  CHECK(model.parameter_count() == 1292001);
  TextToImageModel rgb(model_config("tiny", 3), gen);
  CHECK(rgb.parameter_count() == 1293155);

  std::vector<std::string> names;
  for (const auto& [n, p] : model.named_parameters()) names.push_back(n);
  CHECK(names.size() == 28 + 134);  // PyTorch: 28 text-encoder tensors (2 layers x 12 + 4), 134 U-Net tensors
  for (const char* expected : {"unet.temb.0.weight", "unet.down.0.c1.weight", "unet.down.1.skip.weight",
                               "unet.downsample.1.weight", "unet.mid_attn.cross.q_proj_weight", "unet.up.0.n1.weight",
                               "unet.up_attn.2.self_attn.in_proj_weight", "unet.upconv.1.bias", "unet.out.weight",
                               "text_encoder.pos", "text_encoder.enc.layers.1.linear2.bias", "text_encoder.ln.weight"})
    CHECK(std::find(names.begin(), names.end(), expected) != names.end());
  CHECK_THROWS_WITH(model_config("huge"), Catch::Contains("choose one of: tiny, tiny64, small, micro"));
}

TEST_CASE("the U-Net's blocks are reached by level under the peer's state-dict names", "[model][unet]") {
  Generator gen(3);
  ModelConfig cfg = model_config("micro", 1);
  cfg.blocks_per_level = 2;             // so the flat index and the level differ
  cfg.attention_resolutions = {16, 8};  // levels 1 and 2 of 32, 16, 8
  const UNet unet(cfg, gen);
  std::map<const Module*, std::string> name;
  for (const auto& [n, m] : unet.named_modules()) name[m] = n;
  const int64_t n = cfg.levels(), b = cfg.blocks_per_level;
  REQUIRE(n == 3);
  for (int64_t level = 0; level < n; ++level) {
    for (int64_t j = 0; j < b; ++j) {
      CHECK(name.at(&unet.down_block(level, j)) == fmt::format("down.{}", level * b + j));
      CHECK(name.at(&unet.up_block(level, j)) == fmt::format("up.{}", (n - 1 - level) * b + j));
    }
    if (level < n - 1) CHECK(name.at(&unet.downsample_conv(level)) == fmt::format("downsample.{}", level));
    if (level > 0) CHECK(name.at(&unet.upsample_conv(level)) == fmt::format("upconv.{}", n - 1 - level));
  }
  CHECK(unet.up_attention(0) == nullptr);  // 32x32: no attention
  REQUIRE(unet.up_attention(1) != nullptr);
  CHECK(name.at(unet.up_attention(1)) == "up_attn.1");
  CHECK(name.at(unet.up_attention(2)) == "up_attn.2");
  // The first up block of level 1 takes h from level 2 and the skip of level 1, side by side.
  const int64_t h_channels = unet.down_block(2, 1).c2.weight.size(0),
                skip_channels = unet.down_block(1, 1).c2.weight.size(0);
  CHECK(unet.up_block(1, 0).c1.weight.size(1) == h_channels + skip_channels);  // weight: (Cout, Cin, 3, 3)

  CHECK_THROWS_WITH(unet.down_block(3, 0), Catch::Contains("level 3 is out of range; the U-Net has levels 0..2"));
  CHECK_THROWS_WITH(unet.up_block(0, 2), Catch::Contains("block 2 is out of range; a level has blocks 0..1"));
  CHECK_THROWS_WITH(unet.downsample_conv(2), Catch::Contains("the deepest level 2 has no downsampling conv"));
  CHECK_THROWS_WITH(unet.upsample_conv(0), Catch::Contains("level 0 has no upsampling conv"));
  CHECK_THROWS_WITH(unet.up_attention(-1), Catch::Contains("level -1 is out of range"));
}

TEST_CASE("shapes flow through the tiny model", "[model]") {
  Generator gen(1);
  ModelConfig cfg = model_config("tiny", 3);
  TextToImageModel model(cfg, gen);
  Tensor x = gen.normal({2, 3, 32, 32});
  Tensor t = Tensor::from_indices({0, 999}, {2});
  Tensor ids = Tensor::from_indices(std::vector<int64_t>(32, 5), {2, 16});
  Tensor mask = Tensor::ones({2, 16});
  NoGradGuard no_grad;
  Variable eps = model.forward(Variable(x), t, ids, mask);
  CHECK(eps.shape() == Shape{2, 3, 32, 32});
  CHECK(all_finite(eps.value()));
  CHECK_THROWS_WITH(model.forward(Variable(gen.normal({2, 1, 32, 32})), t, ids, mask),
                    Catch::Contains("expected x of shape (B, 3, 32, 32)"));
}

TEST_CASE("every parameter of the tiny model receives a non-zero gradient in a training step", "[model][train]") {
  // One step of the real objective (eps-prediction MSE at two timesteps, prompts with padding): a parameter
  // the loss does not reach (a layer left out of forward, a detached path, a frozen flag) would end with no
  // gradient or an all-zero one. All 162 parameter tensors of the text encoder and the U-Net are checked.
  Generator gen(4);
  const ModelConfig cfg = model_config("tiny", 1);
  TextToImageModel model(cfg, gen);
  const NoiseSchedule schedule = make_schedule("linear");
  const Tensor x0 = gen.uniform({2, 1, 32, 32}, -1.0, 1.0);  // (B, C, H, W)
  const Tensor noise = gen.normal({2, 1, 32, 32});
  const Tensor t = Tensor::from_indices({10, 900}, {2});
  const Tensor x_t = x0 * 0.7 + noise * 0.7;  // any input: the gradient's reach is what is tested
  std::vector<int64_t> tokens(32, 0);         // (2, 16): prompt 0 has 5 tokens, prompt 1 has 3, the rest padding
  for (int i = 0; i < 5; ++i) tokens[i] = 3 + i;
  for (int i = 0; i < 3; ++i) tokens[16 + i] = 8 + i;
  const Tensor ids = Tensor::from_indices(tokens, {2, 16});
  std::vector<double> m(32, 0.0);
  for (int i = 0; i < 5; ++i) m[i] = 1.0;
  for (int i = 0; i < 3; ++i) m[16 + i] = 1.0;
  const Tensor mask = Tensor::from_vector(m, {2, 16});
  const Variable out = model.forward(Variable(x_t), t, ids, mask);
  diffusion_loss(out, x0, noise, t, schedule, Prediction::Epsilon).backward();
  int64_t checked = 0;
  for (const auto& [name, param] : model.named_parameters()) {
    INFO(name);
    REQUIRE(param.has_grad());
    const Tensor& g = param.grad();
    CHECK(g.shape() == param.shape());
    CHECK(all_finite(g));
    CHECK(max_abs_diff(g, Tensor::zeros(g.shape(), g.dtype())) > 0.0);
    ++checked;
  }
  CHECK(checked == 162);
}

TEST_CASE("the model reproduces PyTorch's forward and gradients (golden)", "[model][golden]") {
  const SafetensorsData g = load_safetensors(std::string(TINYDIFF_SOURCE_DIR) + "/tests/golden/model_mini.safetensors");
  Generator gen(2);
  TextToImageModel model(mini_config(), gen);
  load_state_dict(model, strip_prefix(g.tensors, "param."));  // strict: every name and shape must match

  Variable x(find(g.tensors, "input.x"));
  // No padding mask: the PyTorch peer's text encoder attends to every token.
  Variable eps = model.forward(x, find(g.tensors, "input.t"), find(g.tensors, "input.ids"), Tensor());
  const Tensor expected = find(g.tensors, "output.eps");
  // float32 through ~40 layers: agreement to 2e-5 absolute (outputs are O(1)).
  CHECK(max_abs_diff(eps.value(), expected) < 2e-5);

  sum(mul(eps, Variable(find(g.tensors, "loss.weight")))).backward();
  for (const auto& [name, p] : model.named_parameters()) {
    for (const auto& [gname, gt] : g.tensors) {
      if (gname != "grad." + name) continue;
      INFO(name);
      REQUIRE(p.has_grad());
      // Gradients summed over many terms: relative agreement 1e-4 of the largest entry.
      const double scale = std::max(1.0, max(abs(gt)).item());
      CHECK(max_abs_diff(p.grad(), gt) < 1e-4 * scale);
    }
  }
}

TEST_CASE("a miniature text encoder + U-Net passes gradcheck in float64", "[model][gradcheck]") {
  ModelConfig c;
  c.image_channels = 1;
  c.image_size = 8;
  c.base_channels = 8;
  c.channel_mults = {1, 2};
  c.attention_resolutions = {4};
  c.groups = 4;
  c.attention_heads = 2;
  c.text_width = 8;
  c.text_layers = 1;
  c.text_heads = 2;
  c.vocab_size = 10;
  c.max_length = 4;
  Generator gen(3);
  TextToImageModel model(c, gen);
  model.to(DType::F64);
  // Non-zero positions and a padding mask so every path carries gradient.
  model.text_encoder.pos.mutable_value().copy_(gen.normal({1, 4, 8}, 0, 0.5, DType::F64));
  const Tensor t = Tensor::from_indices({7, 400}, {2});
  const Tensor ids = Tensor::from_indices({2, 5, 7, 0, 2, 9, 0, 0}, {2, 4});
  Tensor mask = Tensor::from_vector({1, 1, 1, 0, 1, 1, 0, 0}, {2, 4});

  // With respect to the input image.
  CHECK_GRADCHECK("text_to_image(x)",
                  [&](const std::vector<Variable>& in) { return model.forward(in[0], t, ids, mask); },
                  {gen.normal({2, 1, 8, 8}, 0, 1, DType::F64)});

  // With respect to parameters of both networks: central differences on sampled elements.
  const Tensor x = gen.normal({2, 1, 8, 8}, 0, 1, DType::F64);
  const Tensor w = gen.normal({2, 1, 8, 8}, 0, 1, DType::F64);
  auto loss = [&]() { return sum(mul(model.forward(Variable(x), t, ids, mask), Variable(w))); };
  auto loss_value = [&]() {
    NoGradGuard no_grad;
    return loss().item();
  };
  model.zero_grad();
  loss().backward();
  int checked = 0;
  for (auto& [name, p] : model.named_parameters()) {
    if (name != "text_encoder.tok.weight" && name != "text_encoder.enc.layers.0.self_attn.in_proj_weight" &&
        name != "unet.mid_attn.cross.k_proj_weight" && name != "unet.down.1.c1.weight" && name != "unet.temb.0.weight")
      continue;
    Tensor value = p.value();
    double* data = value.data<double>();
    for (int k = 0; k < 4; ++k) {
      const int64_t i = gen.randint_scalar(0, value.numel());
      if (name == "text_encoder.tok.weight") {  // only rows of used tokens get gradient; pick one
        const int64_t row = 5;
        const int64_t col = gen.randint_scalar(0, 8);
        const int64_t j = row * 8 + col;
        const double saved = data[j];
        data[j] = saved + 1e-6;
        const double up = loss_value();
        data[j] = saved - 1e-6;
        const double down = loss_value();
        data[j] = saved;
        INFO(name << " element " << j);
        CHECK(p.grad().data<double>()[j] == Approx((up - down) / 2e-6).epsilon(1e-4).margin(1e-6));
        ++checked;
        continue;
      }
      const double saved = data[i];
      data[i] = saved + 1e-6;
      const double up = loss_value();
      data[i] = saved - 1e-6;
      const double down = loss_value();
      data[i] = saved;
      INFO(name << " element " << i);
      CHECK(p.grad().data<double>()[i] == Approx((up - down) / 2e-6).epsilon(1e-4).margin(1e-6));
      ++checked;
    }
  }
  CHECK(checked == 20);
}
