// nn layers against PyTorch 1.13: outputs and gradients of every layer, in float32.
//
// tests/golden/nn_layers.safetensors is written by tools/make_nn_goldens.py (see its docstring
// for the layout): for each case the input(s), the parameters under their PyTorch names, the
// output, an upstream gradient g, and the gradients of sum(output * g) w.r.t. the float inputs
// and every parameter. Here the parameters are loaded by name with load_state_dict (strict, so
// every PyTorch name must exist in the C++ layer with the same shape, and no other), the same
// forward and backward run, and every tensor is compared elementwise with
//
//     |actual - expected| <= rtol * |expected| + atol_rel * max|expected|,
//
// rtol = 1e-5 and atol_rel = 1e-5 by default (float32 rounding of a few dozen operations; the
// floor relative to the tensor's largest element covers entries that cancel to near zero).
// The worst element is reported on failure.
#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "nn/safetensors.h"
#include "nn/state_dict.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

const SafetensorsData& goldens() {
  static const SafetensorsData data =
      load_safetensors(std::string(TINYDIFF_SOURCE_DIR) + "/tests/golden/nn_layers.safetensors");
  return data;
}

/// Compares elementwise (see the file comment); reports the worst element.
void check_close(const std::string& what, const Tensor& actual, const Tensor& expected, double rtol = 1e-5,
                 double atol_rel = 1e-5) {
  INFO(what);
  REQUIRE(actual.shape() == expected.shape());
  const std::vector<double> a = actual.to_vector(), e = expected.to_vector();
  double scale = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  size_t worst = 0;
  double worst_excess = -1, max_rel = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double diff = std::abs(a[i] - e[i]);
    const double tol = rtol * std::abs(e[i]) + atol_rel * scale;
    const double excess = std::isnan(diff) ? INFINITY : diff / tol;
    if (excess > worst_excess) worst_excess = excess, worst = i;
    max_rel = std::max(max_rel, diff / (scale > 0 ? scale : 1.0));
  }
  INFO(fmt::format(
      "worst element {}: actual {:.9g}, expected {:.9g}, |diff| / tol = {:.3g}; max |diff| / max|e| = {:.3g}", worst,
      a.empty() ? 0.0 : a[worst], e.empty() ? 0.0 : e[worst], worst_excess, max_rel));
  CHECK(worst_excess <= 1.0);
}

/// Runs one golden case: loads the parameters into `module` (may be null) by their PyTorch names,
/// runs `forward` on the recorded input(s), backpropagates the recorded upstream gradient, and
/// compares the output and all gradients.
void run_case(const std::string& name, Module* module,
              const std::function<Variable(const std::vector<Variable>&)>& forward, double rtol = 1e-5,
              double atol_rel = 1e-5) {
  const SafetensorsData& d = goldens();
  // Inputs: "<case>.input" or "<case>.input.0", "<case>.input.1", ...
  std::vector<std::string> input_names;
  if (d.contains(name + ".input")) {
    input_names.push_back("input");
  } else {
    for (int i = 0; d.contains(fmt::format("{}.input.{}", name, i)); ++i)
      input_names.push_back(fmt::format("input.{}", i));
  }
  REQUIRE(!input_names.empty());
  std::vector<Variable> inputs;
  for (const auto& in : input_names) {
    const Tensor& t = d.at(name + "." + in);
    inputs.emplace_back(t.clone(), t.dtype() != DType::I64);
  }
  if (module != nullptr) {
    NamedTensors params = strip_prefix(d.tensors, name + ".param.");
    REQUIRE(params.size() == module->named_parameters().size());
    load_state_dict(*module, params, /*strict=*/true);  // every PyTorch name and shape must match
  }

  Variable y = forward(inputs);
  check_close(name + ": output", y.value(), d.at(name + ".output"), rtol, atol_rel);
  y.backward(d.at(name + ".grad_output"));
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].requires_grad()) continue;
    REQUIRE(inputs[i].has_grad());
    check_close(name + ": grad of " + input_names[i], inputs[i].grad(), d.at(name + ".grad." + input_names[i]), rtol,
                atol_rel);
  }
  if (module != nullptr) {
    for (const auto& [pname, p] : module->named_parameters()) {
      REQUIRE(p.has_grad());
      check_close(name + ": grad of " + pname, p.grad(), d.at(name + ".grad.param." + pname), rtol, atol_rel);
    }
  }
}

}  // namespace

TEST_CASE("golden file: present, small, made by the generator", "[nn][golden]") {
  const SafetensorsData& d = goldens();
  CHECK(d.metadata.at("generator") == "tools/make_nn_goldens.py");
  CHECK(d.tensors.size() > 100);
}

TEST_CASE("golden: Linear, Conv2d (stride 2, padding 1), GroupNorm, LayerNorm, Embedding", "[nn][golden]") {
  Generator gen(0);  // initial values are overwritten by the goldens
  Linear linear({.in_features = 8, .out_features = 6}, gen);
  run_case("linear", &linear, [&](const auto& v) { return linear.forward(v[0]); });
  Conv2d conv({.in_channels = 3, .out_channels = 5, .kernel_size = 3, .stride = 2, .padding = 1}, gen);
  run_case("conv2d", &conv, [&](const auto& v) { return conv.forward(v[0]); });
  GroupNorm gn({.num_groups = 2, .num_channels = 6});
  run_case("group_norm", &gn, [&](const auto& v) { return gn.forward(v[0]); });
  LayerNorm ln({.normalized_shape = 10});
  run_case("layer_norm", &ln, [&](const auto& v) { return ln.forward(v[0]); });
  Embedding emb({.num_embeddings = 11, .embedding_dim = 5}, gen);
  run_case("embedding", &emb, [&](const auto& v) { return emb.forward(v[0].value()); });
}

TEST_CASE("golden: GELU (erf and tanh), SiLU", "[nn][golden]") {
  GELU gelu;
  GELU gelu_tanh_layer({.approximate = GeluApproximation::Tanh});
  SiLU silu_layer;
  run_case("gelu", nullptr, [&](const auto& v) { return gelu.forward(v[0]); });
  run_case("gelu_tanh", nullptr, [&](const auto& v) { return gelu_tanh_layer.forward(v[0]); });
  run_case("silu", nullptr, [&](const auto& v) { return silu_layer.forward(v[0]); });
}

TEST_CASE("golden: MultiHeadAttention self, cross (kdim != embed_dim), cross with packed weights",
          "[nn][golden][attention]") {
  Generator gen(0);
  const SafetensorsData& d = goldens();
  MultiHeadAttention self_attn({.embed_dim = 16, .num_heads = 4}, gen);
  const Tensor keep5 = d.at("mha_self.mask");  // (2, 5), 1 = keep
  run_case("mha_self", &self_attn, [&](const auto& v) { return self_attn.forward(v[0], keep5); });

  MultiHeadAttention cross({.embed_dim = 16, .num_heads = 4, .kdim = 12, .vdim = 10}, gen);
  const Tensor keep7 = d.at("mha_cross.mask");  // (2, 7)
  run_case("mha_cross", &cross, [&](const auto& v) { return cross.forward(v[0], v[1], v[2], keep7); });

  MultiHeadAttention packed({.embed_dim = 16, .num_heads = 2}, gen);
  run_case("mha_cross_packed", &packed, [&](const auto& v) { return packed.forward(v[0], v[1], v[2]); });
}

TEST_CASE("golden: TransformerEncoderLayer pre-norm GELU with mask, post-norm ReLU", "[nn][golden][transformer]") {
  Generator gen(0);
  TransformerEncoderLayer pre({.d_model = 16, .nhead = 4, .dim_feedforward = 64}, gen);
  const Tensor keep5 = goldens().at("transformer.mask");
  run_case("transformer", &pre, [&](const auto& v) { return pre.forward(v[0], keep5); });

  TransformerEncoderLayer post({.d_model = 16,
                                .nhead = 2,
                                .dim_feedforward = 32,
                                .activation = TransformerActivation::Relu,
                                .norm_first = false},
                               gen);
  run_case("transformer_post", &post, [&](const auto& v) { return post.forward(v[0]); });
}

TEST_CASE("golden: sinusoidal timestep embedding", "[nn][golden]") {
  const SafetensorsData& d = goldens();
  // Arguments t * freq reach ~1000, where one float32 ulp of the argument is 6e-5; both sides
  // round the same float32 operations, so the remaining difference is sin/cos rounding (~1 ulp).
  check_close("timestep int64", timestep_embedding(d.at("timestep.input"), 32), d.at("timestep.output"));
  check_close("timestep float", timestep_embedding(d.at("timestep_float.input"), 64), d.at("timestep_float.output"));
}
