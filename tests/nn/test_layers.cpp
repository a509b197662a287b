// nn layers: gradcheck of every layer's forward w.r.t. its input and all its parameters (float64
// central differences, autograd/gradcheck.h), plus behaviour checks against hand-computed values
// and naive references. PyTorch agreement is in test_layers_golden.cpp.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "autograd/ops_attention.h"
#include "nn/nn.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

/// Gradchecks `forward` (which runs `module`) w.r.t. the float64 `inputs` AND every parameter of
/// `module` (converted to float64 first).
///
/// gradcheck() differentiates w.r.t. the Variables it creates itself, while the module computes
/// with its own parameter Variables. Two things bridge them: (1) the parameter tensors are passed
/// to gradcheck as inputs, so its in-place perturbations of those tensors are what the module
/// reads (same storage); (2) on the analytic side, f returns the module's output through a node
/// whose inputs are gradcheck's parameter leaves and whose backward runs the module's own
/// backward and hands on each parameter's gradient. Input gradients reach gradcheck's input
/// leaves directly, since `forward` uses them.
GradcheckResult gradcheck_module(const std::string& name, Module& module,
                                 const std::function<Variable(const std::vector<Variable>&)>& forward,
                                 const std::vector<Tensor>& inputs, const GradcheckOptions& options = {}) {
  module.to(DType::F64);
  const std::vector<Variable> params = module.parameters();
  std::vector<Tensor> all = inputs;
  for (const Variable& p : params) all.push_back(p.value());  // shared storage: perturbations reach the module
  const size_t n_in = inputs.size();
  return gradcheck(
      name,
      [&](const std::vector<Variable>& vs) {
        Variable y = forward(std::vector<Variable>(vs.begin(), vs.begin() + static_cast<std::ptrdiff_t>(n_in)));
        if (!grad_enabled() || params.empty() || !y.requires_grad()) return y;  // the numeric side
        std::vector<Variable> leaves(vs.begin() + static_cast<std::ptrdiff_t>(n_in), vs.end());
        return make_result("route_parameter_grads", y.value(), leaves, [y, params](const Tensor& g) {
          for (Variable p : params) p.zero_grad();
          y.backward(g);  // into the module's parameters and gradcheck's input leaves
          std::vector<Tensor> grads;
          for (const Variable& p : params)
            grads.push_back(p.has_grad() ? p.grad() : Tensor::zeros(p.shape(), p.dtype()));
          return grads;
        });
      },
      all, options);
}

Tensor randn64(Generator& gen, const Shape& shape) { return gen.normal(shape, 0.0, 1.0, DType::F64); }

}  // namespace

TEST_CASE("gradcheck: Linear, Conv2d (stride 2, padding 1), GroupNorm, LayerNorm", "[nn][layers][gradcheck]") {
  Generator gen(10);
  {
    Linear m({.in_features = 5, .out_features = 4}, gen);
    auto r = gradcheck_module("Linear", m, [&](const auto& v) { return m.forward(v[0]); }, {randn64(gen, {2, 3, 5})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    Linear m({.in_features = 5, .out_features = 4, .bias = false}, gen);
    auto r = gradcheck_module("Linear(bias=false)", m, [&](const auto& v) { return m.forward(v[0]); },
                              {randn64(gen, {3, 5})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    Conv2d m({.in_channels = 2, .out_channels = 3, .kernel_size = 3, .stride = 2, .padding = 1}, gen);
    auto r =
        gradcheck_module("Conv2d", m, [&](const auto& v) { return m.forward(v[0]); }, {randn64(gen, {2, 2, 5, 5})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    GroupNorm m({.num_groups = 2, .num_channels = 4});
    auto r =
        gradcheck_module("GroupNorm", m, [&](const auto& v) { return m.forward(v[0]); }, {randn64(gen, {2, 4, 3, 3})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    LayerNorm m({.normalized_shape = 6});
    auto r =
        gradcheck_module("LayerNorm", m, [&](const auto& v) { return m.forward(v[0]); }, {randn64(gen, {2, 3, 6})});
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("gradcheck: Embedding, SiLU, GELU (both), Dropout, Sequential", "[nn][layers][gradcheck]") {
  Generator gen(11);
  {
    Embedding m({.num_embeddings = 6, .embedding_dim = 3}, gen);
    // int64 ids are constants; id 2 appears twice, so its row accumulates two adjoints.
    Tensor ids = Tensor::from_indices({2, 0, 5, 2, 1, 3}, {2, 3});
    auto r = gradcheck_module("Embedding", m, [&](const auto& v) { return m.forward(v[0].value()); }, {ids});
    INFO(r.message);
    CHECK(r.ok);
  }
  SiLU silu_layer;
  GELU gelu_layer, gelu_tanh_layer({.approximate = GeluApproximation::Tanh});
  for (Module* m : std::vector<Module*>{&silu_layer, &gelu_layer, &gelu_tanh_layer}) {
    auto r = gradcheck_module("activation", *m,
                              [&](const auto& v) {
                                if (m == &silu_layer) return silu_layer.forward(v[0]);
                                return m == &gelu_layer ? gelu_layer.forward(v[0]) : gelu_tanh_layer.forward(v[0]);
                              },
                              {randn64(gen, {3, 4})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    Dropout m({.p = 0.3});
    // A fresh generator with the same seed per call: the same mask every time, as finite differences need.
    auto r = gradcheck_module("Dropout", m,
                              [&](const auto& v) {
                                Generator g(99);
                                return m.forward(v[0], g);
                              },
                              {randn64(gen, {4, 5})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    Sequential m;
    m.emplace_back<Linear>(LinearOptions{.in_features = 3, .out_features = 5}, gen);
    m.emplace_back<SiLU>();
    m.emplace_back<LayerNorm>(LayerNormOptions{.normalized_shape = 5});
    m.emplace_back<Linear>(LinearOptions{.in_features = 5, .out_features = 2}, gen);
    auto r = gradcheck_module("Sequential", m, [&](const auto& v) { return m.forward(v[0]); }, {randn64(gen, {4, 3})});
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("gradcheck: MultiHeadAttention self and cross (kdim != embed_dim) with a key padding mask",
          "[nn][layers][gradcheck][attention]") {
  Generator gen(12);
  // keep: (B, Lk), 1 = keep; sample 1 ignores its last keys.
  const Tensor keep4 = Tensor::from_vector({1, 1, 1, 1, 1, 1, 0, 0}, {2, 4});
  {
    MultiHeadAttention m({.embed_dim = 6, .num_heads = 2}, gen);
    // Random biases (they start at 0) so their gradients are exercised in a generic position.
    m.in_proj_bias.mutable_value().copy_(gen.normal({18}));
    m.out_proj.bias.mutable_value().copy_(gen.normal({6}));
    auto r = gradcheck_module("MHA self", m, [&](const auto& v) { return m.forward(v[0], keep4); },
                              {randn64(gen, {2, 4, 6})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    MultiHeadAttention m({.embed_dim = 6, .num_heads = 3, .kdim = 4, .vdim = 5}, gen);
    m.in_proj_bias.mutable_value().copy_(gen.normal({18}));
    auto r = gradcheck_module("MHA cross", m, [&](const auto& v) { return m.forward(v[0], v[1], v[2], keep4); },
                              {randn64(gen, {2, 3, 6}), randn64(gen, {2, 4, 4}), randn64(gen, {2, 4, 5})});
    INFO(r.message);
    CHECK(r.ok);
  }
  {
    // Packed weights used for cross-attention (key != query): the sliced in_proj_weight path.
    MultiHeadAttention m({.embed_dim = 4, .num_heads = 2}, gen);
    m.in_proj_bias.mutable_value().copy_(gen.normal({12}));
    auto r = gradcheck_module("MHA cross packed", m, [&](const auto& v) { return m.forward(v[0], v[1], v[1]); },
                              {randn64(gen, {2, 3, 4}), randn64(gen, {2, 5, 4})});
    INFO(r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("gradcheck: TransformerEncoderLayer pre-norm and post-norm", "[nn][layers][gradcheck][transformer]") {
  Generator gen(13);
  const Tensor keep3 = Tensor::from_vector({1, 1, 1, 1, 0, 1}, {2, 3});
  for (bool norm_first : {true, false}) {
    TransformerEncoderLayer m({.d_model = 4, .nhead = 2, .dim_feedforward = 8, .norm_first = norm_first}, gen);
    m.self_attn.in_proj_bias.mutable_value().copy_(gen.normal({12}));
    m.norm1.weight.mutable_value().copy_(gen.normal({4}, 1.0, 0.3));
    m.norm2.bias.mutable_value().copy_(gen.normal({4}));
    auto r = gradcheck_module("TransformerEncoderLayer", m, [&](const auto& v) { return m.forward(v[0], keep3); },
                              {randn64(gen, {2, 3, 4})});
    INFO("norm_first " << norm_first << ": " << r.message);
    CHECK(r.ok);
  }
}

TEST_CASE("layers agree with naive references and hand values", "[nn][layers]") {
  Generator gen(14);
  SECTION("Linear: x W^T + b by the naive matmul") {
    Linear m({.in_features = 4, .out_features = 3}, gen);
    Tensor x = gen.normal({5, 4});
    Tensor expected = matmul_naive(x, m.weight.value().transpose(0, 1)) + m.bias.value();
    CHECK(max_abs_diff(m.forward(Variable(x)).value(), expected) < 1e-6);
  }
  SECTION("Conv2d: the naive convolution") {
    Conv2d m({.in_channels = 2, .out_channels = 3, .kernel_size = 3, .stride = 2, .padding = 1}, gen);
    Tensor x = gen.normal({1, 2, 7, 7});
    Tensor y = m.forward(Variable(x)).value();
    CHECK(y.shape() == Shape{1, 3, 4, 4});
    CHECK(max_abs_diff(y, conv2d_naive(x, m.weight.value(), m.bias.value(), 2, 1)) < 1e-5);
  }
  SECTION("SiLU and GELU at hand-computed points") {
    Variable x(Tensor::from_vector({-1.0, 0.0, 1.0}, {3}, DType::F64));
    // silu(1) = 1 / (1 + e^-1); gelu(1) = Phi(1) = 0.5 (1 + erf(1/sqrt 2)); tanh form from its formula.
    const double s1 = 1.0 / (1.0 + std::exp(-1.0));
    const double g1 = 0.5 * (1.0 + std::erf(1.0 / std::sqrt(2.0)));
    const double t1 = 0.5 * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (1.0 + 0.044715)));
    auto si = SiLU().forward(x).value().to_vector();
    CHECK(si[0] == Approx(-(1.0 - s1)).epsilon(1e-14));
    CHECK(si[1] == 0.0);
    CHECK(si[2] == Approx(s1).epsilon(1e-14));
    auto ge = GELU().forward(x).value().to_vector();
    CHECK(ge[2] == Approx(g1).epsilon(1e-14));
    CHECK(ge[0] == Approx(-(1.0 - g1)).epsilon(1e-14));
    auto gt = GELU({.approximate = GeluApproximation::Tanh}).forward(x).value().to_vector();
    CHECK(gt[2] == Approx(t1).epsilon(1e-14));
    CHECK(std::abs(gt[2] - ge[2]) > 1e-4);  // the two formulas differ
  }
  SECTION("Dropout: identity in eval mode; in training a scaled Bernoulli mask") {
    Dropout m({.p = 0.25});
    Variable x(Tensor::ones({100, 100}));
    Generator g(5);
    Tensor y = m.forward(x, g).value();
    const std::vector<double> v = y.to_vector();
    int64_t zeros = 0;
    for (double e : v) {
      if (e == 0.0)
        ++zeros;
      else
        CHECK(e == Approx(1.0 / 0.75));
    }
    // 10000 draws with p = 0.25: standard deviation sqrt(10000 * 0.25 * 0.75) ~ 43; allow 5 sigma.
    CHECK(std::abs(zeros - 2500) < 220);
    m.eval();
    CHECK(max_abs_diff(m.forward(x, g).value(), x.value()) == 0.0);
    CHECK_THROWS_WITH(Dropout({.p = 1.5}), Catch::Contains("[0, 1]"));
  }
  SECTION("Embedding: rows of the table; ids outside the table throw") {
    Embedding m({.num_embeddings = 4, .embedding_dim = 3}, gen);
    Tensor y = m.forward(Tensor::from_indices({3, 0, 3}, {3})).value();
    CHECK(y.shape() == Shape{3, 3});
    for (int64_t j = 0; j < 3; ++j) {
      CHECK(y.at({0, j}) == m.weight.value().at({3, j}));
      CHECK(y.at({1, j}) == m.weight.value().at({0, j}));
    }
    CHECK_THROWS(m.forward(Tensor::from_indices({4}, {1})));
    CHECK_THROWS_WITH(m.forward(Tensor::zeros({2})), Catch::Contains("int64"));
  }
  SECTION("timestep_embedding: hand values") {
    // dim 4: half 2, freqs (1, exp(-ln(10000) / 2) = 0.01); t = 0 -> (0, 0, 1, 1).
    Tensor t = Tensor::from_vector({0.0, 1.0, 2.5}, {3}, DType::F64);
    Tensor e = timestep_embedding(t, 4, DType::F64);
    REQUIRE(e.shape() == Shape{3, 4});
    const std::vector<double> expected = {0,
                                          0,
                                          1,
                                          1,  //
                                          std::sin(1.0),
                                          std::sin(0.01),
                                          std::cos(1.0),
                                          std::cos(0.01),
                                          std::sin(2.5),
                                          std::sin(0.025),
                                          std::cos(2.5),
                                          std::cos(0.025)};
    const std::vector<double> got = e.to_vector();
    for (size_t i = 0; i < expected.size(); ++i) CHECK(got[i] == Approx(expected[i]).margin(1e-14));
    CHECK(timestep_embedding(Tensor::from_indices({7, 999}, {2}), 32).shape() == Shape{2, 32});
    CHECK(timestep_embedding(Tensor::from_indices({7}, {1}), 32).dtype() == DType::F32);
    CHECK_THROWS_WITH(timestep_embedding(t, 5), Catch::Contains("even"));
    CHECK_THROWS_WITH(timestep_embedding(Tensor::zeros({2, 1}), 4), Catch::Contains("(B)"));
  }
}

TEST_CASE("MultiHeadAttention: masking equals dropping the keys, self = forward(x, x, x)", "[nn][layers][attention]") {
  Generator gen(15);
  MultiHeadAttention m({.embed_dim = 8, .num_heads = 2, .kdim = 6, .vdim = 6}, gen);
  m.in_proj_bias.mutable_value().copy_(gen.normal({24}));
  m.to(DType::F64);
  Tensor q = gen.normal({1, 3, 8}, 0, 1, DType::F64), kv = gen.normal({1, 5, 6}, 0, 1, DType::F64);
  // Keep the first 3 keys: the output must equal attention over those 3 keys alone.
  Tensor keep = Tensor::from_vector({1, 1, 1, 0, 0}, {1, 5});
  Tensor masked = m.forward(Variable(q), Variable(kv), Variable(kv), keep).value();
  Variable kv3(kv.slice(1, 0, 3).contiguous());
  Tensor truncated = m.forward(Variable(q), kv3, kv3).value();
  CHECK(max_abs_diff(masked, truncated) < 1e-12);
  // An int64 mask works the same (converted to the dtype of the queries).
  Tensor keep_i = Tensor::from_indices({1, 1, 1, 0, 0}, {1, 5});
  CHECK(max_abs_diff(m.forward(Variable(q), Variable(kv), Variable(kv), keep_i).value(), masked) == 0.0);

  MultiHeadAttention s({.embed_dim = 8, .num_heads = 4}, gen);
  s.in_proj_bias.mutable_value().copy_(gen.normal({24}));
  s.to(DType::F64);
  Variable x(gen.normal({2, 3, 8}, 0, 1, DType::F64));
  // The fused qkv projection and the three sliced projections give the same result.
  CHECK(max_abs_diff(s.forward(x).value(), s.forward(x, x, x).value()) < 1e-12);

  CHECK_THROWS_WITH(s.forward(x, Tensor::ones({2, 4})), Catch::Contains("key_padding_mask"));
  CHECK_THROWS_WITH(m.forward(Variable(q), Variable(q), Variable(kv)), Catch::Contains("MultiHeadAttention"));
  CHECK_THROWS_WITH(MultiHeadAttention({.embed_dim = 6, .num_heads = 4}, gen), Catch::Contains("multiple"));
}

TEST_CASE("TransformerEncoderLayer is the documented composition of its children", "[nn][layers][transformer]") {
  Generator gen(16);
  Variable x(gen.normal({2, 3, 8}));
  const Tensor keep = Tensor::from_vector({1, 1, 1, 1, 1, 0}, {2, 3});
  for (bool norm_first : {true, false}) {
    TransformerEncoderLayer m({.d_model = 8, .nhead = 2, .dim_feedforward = 16, .norm_first = norm_first}, gen);
    auto ff = [&](const Variable& h) { return m.linear2.forward(gelu_erf(m.linear1.forward(h))); };
    Variable expected;
    if (norm_first) {
      Variable h = x + m.self_attn.forward(m.norm1.forward(x), keep);
      expected = h + ff(m.norm2.forward(h));
    } else {
      Variable h = m.norm1.forward(x + m.self_attn.forward(x, keep));
      expected = m.norm2.forward(h + ff(h));
    }
    CHECK(max_abs_diff(m.forward(x, keep).value(), expected.value()) == 0.0);
  }
  TransformerEncoderLayer relu_layer(
      {.d_model = 8, .nhead = 2, .dim_feedforward = 16, .activation = TransformerActivation::Relu}, gen);
  Variable h = x + relu_layer.self_attn.forward(relu_layer.norm1.forward(x));
  Variable expected = h + relu_layer.linear2.forward(relu(relu_layer.linear1.forward(relu_layer.norm2.forward(h))));
  CHECK(max_abs_diff(relu_layer.forward(x).value(), expected.value()) == 0.0);
}

TEST_CASE("layer input errors name the layer and the expected shape", "[nn][layers]") {
  Generator gen(17);
  Linear fc({.in_features = 4, .out_features = 2}, gen);
  CHECK_THROWS_WITH(fc.forward(Variable(Tensor::zeros({3, 5}))), Catch::Contains("Linear") && Catch::Contains("4"));
  Conv2d conv({.in_channels = 3, .out_channels = 2, .kernel_size = 3}, gen);
  CHECK_THROWS_WITH(conv.forward(Variable(Tensor::zeros({1, 2, 5, 5}))), Catch::Contains("(B, 3, H, W)"));
  CHECK_THROWS_WITH(GroupNorm({.num_groups = 3, .num_channels = 4}), Catch::Contains("multiple of num_groups"));
  LayerNorm ln({.normalized_shape = 4});
  CHECK_THROWS_WITH(ln.forward(Variable(Tensor::zeros({2, 3}))), Catch::Contains("LayerNorm"));
  TransformerEncoderLayer block({.d_model = 4, .nhead = 2, .dim_feedforward = 8}, gen);
  CHECK_THROWS_WITH(block.forward(Variable(Tensor::zeros({2, 4}))), Catch::Contains("(B, L, 4)"));
  CHECK_THROWS_WITH(Linear({.in_features = 0, .out_features = 2}, gen), Catch::Contains("positive"));
  CHECK_THROWS_WITH(TransformerEncoderLayer({.d_model = 6, .nhead = 4, .dim_feedforward = 8}, gen),
                    Catch::Contains("TransformerEncoderLayer") && Catch::Contains("multiple of nhead"));
}
