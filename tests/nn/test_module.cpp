// Module, ModuleList, Sequential and nn/init: names, counts, modes, aliasing, initialisation.
// Expected names and parameter counts were printed by PyTorch 1.13 (/usr/bin/python3), e.g.
//   sum(p.numel() for p in nn.TransformerEncoderLayer(128, 4, 512).parameters()) == 198272.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, p] : m.named_parameters()) out.push_back(name);
  return out;
}

// The PyTorch model
//   class M(nn.Module):
//     scale = Parameter(ones(4)); time_mlp = Sequential(Linear(4, 8), SiLU(), Linear(8, 4))
//     blocks = ModuleList([TransformerEncoderLayer(4, 2, 8, norm_first=True) for _ in range(2)])
//     out = LayerNorm(4)
class ToyModel : public Module {
 public:
  explicit ToyModel(Generator& gen) : out({.normalized_shape = 4}) {
    scale = register_parameter("scale", Tensor::ones({4}));
    time_mlp.emplace_back<Linear>(LinearOptions{.in_features = 4, .out_features = 8}, gen);
    time_mlp.emplace_back<SiLU>();
    time_mlp.emplace_back<Linear>(LinearOptions{.in_features = 8, .out_features = 4}, gen);
    register_module("time_mlp", time_mlp);
    for (int i = 0; i < 2; ++i) blocks.emplace_back(TransformerEncoderLayerOptions{4, 2, 8}, gen);
    register_module("blocks", blocks);
    register_module("out", out);
  }
  Variable scale;
  Sequential time_mlp;
  ModuleList<TransformerEncoderLayer> blocks;
  LayerNorm out;
};

// Exposes the protected registration API for the error tests.
class Open : public Module {
 public:
  using Module::register_module;
  using Module::register_parameter;
};

}  // namespace

TEST_CASE("named_parameters: dotted names in PyTorch order, nested and in lists", "[nn][module]") {
  Generator gen(0);
  ToyModel m(gen);
  // Printed by PyTorch for the same structure (see ToyModel).
  const std::vector<std::string> expected = {
      "scale",
      "time_mlp.0.weight",
      "time_mlp.0.bias",
      "time_mlp.2.weight",
      "time_mlp.2.bias",
      "blocks.0.self_attn.in_proj_weight",
      "blocks.0.self_attn.in_proj_bias",
      "blocks.0.self_attn.out_proj.weight",
      "blocks.0.self_attn.out_proj.bias",
      "blocks.0.linear1.weight",
      "blocks.0.linear1.bias",
      "blocks.0.linear2.weight",
      "blocks.0.linear2.bias",
      "blocks.0.norm1.weight",
      "blocks.0.norm1.bias",
      "blocks.0.norm2.weight",
      "blocks.0.norm2.bias",
      "blocks.1.self_attn.in_proj_weight",
      "blocks.1.self_attn.in_proj_bias",
      "blocks.1.self_attn.out_proj.weight",
      "blocks.1.self_attn.out_proj.bias",
      "blocks.1.linear1.weight",
      "blocks.1.linear1.bias",
      "blocks.1.linear2.weight",
      "blocks.1.linear2.bias",
      "blocks.1.norm1.weight",
      "blocks.1.norm1.bias",
      "blocks.1.norm2.weight",
      "blocks.1.norm2.bias",
      "out.weight",
      "out.bias",
  };
  CHECK(names_of(m) == expected);
  CHECK(m.parameter_count() == 432);  // PyTorch: 432
  CHECK(m.parameters().size() == expected.size());

  // named_modules: pre-order with dotted paths; the root is "".
  std::vector<std::string> mods;
  for (const auto& [name, mod] : m.named_modules()) mods.push_back(name);
  REQUIRE(mods.size() >= 6);
  CHECK(mods[0] == "");
  CHECK(mods[1] == "time_mlp");
  CHECK(mods[2] == "time_mlp.0");
  CHECK(mods[3] == "time_mlp.1");
  CHECK(mods[4] == "time_mlp.2");
  CHECK(mods[5] == "blocks");
  CHECK(mods[6] == "blocks.0");
  CHECK(mods[7] == "blocks.0.self_attn");
  CHECK(mods[8] == "blocks.0.self_attn.out_proj");
  CHECK(mods.back() == "out");
  auto children = m.named_children();
  REQUIRE(children.size() == 3);
  CHECK(children[0].first == "time_mlp");
  CHECK(children[1].second == &m.blocks);
}

TEST_CASE("parameter counts and names match PyTorch for every layer", "[nn][module]") {
  Generator gen(1);
  // Each expected count printed by PyTorch 1.13 for the same constructor arguments.
  CHECK(TransformerEncoderLayer({.d_model = 128, .nhead = 4, .dim_feedforward = 512}, gen).parameter_count() == 198272);
  CHECK(TransformerEncoderLayer({.d_model = 64, .nhead = 4, .dim_feedforward = 256}, gen).parameter_count() == 49984);
  CHECK(Linear({.in_features = 8, .out_features = 6}, gen).parameter_count() == 54);
  CHECK(Linear({.in_features = 8, .out_features = 6, .bias = false}, gen).parameter_count() == 48);
  CHECK(Conv2d({.in_channels = 3, .out_channels = 5, .kernel_size = 3}, gen).parameter_count() == 140);
  CHECK(Conv2d({.in_channels = 64, .out_channels = 128, .kernel_size = 3, .bias = false}, gen).parameter_count() ==
        73728);
  CHECK(GroupNorm({.num_groups = 8, .num_channels = 64}).parameter_count() == 128);
  CHECK(LayerNorm({.normalized_shape = 128}).parameter_count() == 256);
  CHECK(Embedding({.num_embeddings = 1000, .embedding_dim = 128}, gen).parameter_count() == 128000);
  CHECK(MultiHeadAttention({.embed_dim = 128, .num_heads = 4}, gen).parameter_count() == 66048);
  CHECK(SiLU().parameter_count() == 0);
  CHECK(GELU().parameter_count() == 0);

  MultiHeadAttention cross({.embed_dim = 16, .num_heads = 4, .kdim = 8, .vdim = 12}, gen);
  CHECK(cross.parameter_count() == 896);
  CHECK_FALSE(cross.packed());
  CHECK(names_of(cross) == std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                                                    "out_proj.weight", "out_proj.bias"});
  CHECK(cross.q_proj_weight.shape() == Shape{16, 16});
  CHECK(cross.k_proj_weight.shape() == Shape{16, 8});
  CHECK(cross.v_proj_weight.shape() == Shape{16, 12});
  CHECK(cross.in_proj_bias.shape() == Shape{48});

  MultiHeadAttention nobias({.embed_dim = 16, .num_heads = 4, .bias = false}, gen);
  CHECK(nobias.parameter_count() == 1024);
  CHECK(names_of(nobias) == std::vector<std::string>{"in_proj_weight", "out_proj.weight"});
  CHECK(nobias.in_proj_weight.shape() == Shape{48, 16});
}

TEST_CASE("parameters() aliases the module's own parameters", "[nn][module]") {
  Generator gen(2);
  Linear fc({.in_features = 3, .out_features = 2}, gen);
  std::vector<Variable> ps = fc.parameters();
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].requires_grad());
  CHECK(ps[0].is_leaf());
  ps[0].mutable_value().fill_(0.5);  // an optimizer-style in-place update
  CHECK(fc.weight.value().at({1, 2}) == 0.5);

  // Gradients land in the shared state as well, and zero_grad clears them recursively.
  Variable y = sum(fc.forward(Variable(Tensor::ones({4, 3}))));
  y.backward();
  CHECK(ps[0].has_grad());
  CHECK(fc.weight.grad().at({0, 0}) == 4.0);  // d sum(x W^T + b) / dW = sum over the 4 rows of x = 4
  CHECK(ps[1].grad().at({1}) == 4.0);
  fc.zero_grad();
  CHECK_FALSE(ps[0].has_grad());
  CHECK_FALSE(fc.bias.has_grad());
}

TEST_CASE("train / eval are recursive", "[nn][module]") {
  Generator gen(3);
  ToyModel m(gen);
  CHECK(m.is_training());
  m.eval();
  for (const auto& [name, mod] : m.named_modules()) CHECK_FALSE(mod->is_training());
  m.blocks[1].train();  // a subtree only
  CHECK(m.blocks[1].self_attn.out_proj.is_training());
  CHECK_FALSE(m.blocks[0].self_attn.out_proj.is_training());
  CHECK_FALSE(m.is_training());
  m.train();
  for (const auto& [name, mod] : m.named_modules()) CHECK(mod->is_training());
}

TEST_CASE("Module::to converts every parameter in place", "[nn][module]") {
  Generator gen(4);
  ToyModel m(gen);
  Variable alias = m.blocks[0].linear1.weight;
  const double before = alias.value().at({0, 0});
  m.to(DType::F64);
  for (const auto& [name, p] : m.named_parameters()) CHECK(p.dtype() == DType::F64);
  CHECK(alias.dtype() == DType::F64);  // copies share state
  CHECK(alias.value().at({0, 0}) == before);
  CHECK_THROWS_WITH(m.to(DType::I64), Catch::Contains("float32 or float64"));
}

TEST_CASE("registration errors name the problem", "[nn][module]") {
  Open m;
  Generator gen(0);
  Linear child({.in_features = 2, .out_features = 2}, gen);
  m.register_parameter("w", Tensor::zeros({2}));
  CHECK_THROWS_WITH(m.register_parameter("w", Tensor::zeros({2})), Catch::Contains("already registered"));
  CHECK_THROWS_WITH(m.register_module("w", child), Catch::Contains("already registered"));
  CHECK_THROWS_WITH(m.register_parameter("a.b", Tensor::zeros({2})), Catch::Contains("contains '.'"));
  CHECK_THROWS_WITH(m.register_parameter("", Tensor::zeros({2})), Catch::Contains("empty"));
  CHECK_THROWS_WITH(m.register_parameter("ids", Tensor::from_indices({1, 2}, {2})), Catch::Contains("int64"));
  CHECK_THROWS_WITH(m.register_parameter("u", Tensor()), Catch::Contains("undefined"));
  CHECK_THROWS_WITH(m.register_module("self", m), Catch::Contains("own child"));
  m.register_module("child", child);
  CHECK(names_of(m) == std::vector<std::string>{"w", "child.weight", "child.bias"});
}

TEST_CASE("ModuleList and Sequential: numbering, indexing, composition", "[nn][module]") {
  Generator gen(5);
  ModuleList<Linear> list;
  CHECK(list.empty());
  list.emplace_back(LinearOptions{.in_features = 2, .out_features = 3}, gen);
  list.push_back(std::make_unique<Linear>(LinearOptions{.in_features = 3, .out_features = 1}, gen));
  CHECK(list.size() == 2);
  CHECK(list[1].options().in_features == 3);
  CHECK_THROWS_WITH(list[2], Catch::Contains("out of range"));
  CHECK(names_of(list) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
  int count = 0;
  for (const auto& layer : list) count += static_cast<int>(layer->parameter_count());
  CHECK(count == 9 + 4);

  // Sequential(Linear, GELU, Linear) equals the explicit composition.
  Sequential seq;
  auto& l0 = seq.emplace_back<Linear>(LinearOptions{.in_features = 2, .out_features = 4}, gen);
  seq.emplace_back<GELU>();
  auto& l2 = seq.emplace_back<Linear>(LinearOptions{.in_features = 4, .out_features = 3}, gen);
  CHECK(seq.size() == 3);
  CHECK(names_of(seq) == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  CHECK(&seq[0] == &l0);
  CHECK_THROWS_WITH(seq[3], Catch::Contains("out of range"));
  Variable x(gen.normal({5, 2}));
  Tensor expected = l2.forward(gelu_erf(l0.forward(x))).value();
  CHECK(max_abs_diff(seq.forward(x).value(), expected) == 0.0);            // the same ops in the same order
  CHECK(max_abs_diff(Sequential().forward(x).value(), x.value()) == 0.0);  // empty: identity
}

TEST_CASE("init: gains, fans and bounds as torch.nn.init", "[nn][init]") {
  CHECK(calculate_gain(Nonlinearity::Linear) == 1.0);
  CHECK(calculate_gain(Nonlinearity::Tanh) == Approx(5.0 / 3.0));
  CHECK(calculate_gain(Nonlinearity::Relu) == Approx(std::sqrt(2.0)));
  CHECK(calculate_gain(Nonlinearity::LeakyRelu, std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)));
  CHECK(calculate_gain(Nonlinearity::Selu) == 0.75);
  CHECK(calculate_fan_in_and_fan_out({64, 32, 3, 3}) == std::pair<int64_t, int64_t>{288, 576});
  CHECK(calculate_fan_in_and_fan_out({6, 8}) == std::pair<int64_t, int64_t>{8, 6});
  CHECK_THROWS_WITH(calculate_fan_in_and_fan_out({5}), Catch::Contains("at least 2 axes"));

  Generator gen(6);
  // Linear's default: weight and bias U(-1/sqrt(in), 1/sqrt(in)); in = 100 -> bound 0.1.
  Linear fc({.in_features = 100, .out_features = 200}, gen);
  const Tensor& w = fc.weight.value();
  CHECK(max(abs(w)).item() <= 0.1);
  CHECK(max(abs(w)).item() > 0.099);  // 20000 draws reach the edge
  CHECK(std::abs(mean(w).item()) < 0.002);
  CHECK(var(w).item() == Approx(0.01 / 3.0).epsilon(0.03));  // U(-a, a) has variance a^2 / 3
  CHECK(max(abs(fc.bias.value())).item() <= 0.1);

  // Conv2d: fan_in = 4 * 5 * 5 = 100 -> the same bound.
  Conv2d conv({.in_channels = 4, .out_channels = 50, .kernel_size = 5}, gen);
  CHECK(max(abs(conv.weight.value())).item() <= 0.1);
  CHECK(max(abs(conv.weight.value())).item() > 0.099);

  // xavier_uniform_: a = sqrt(6 / (fan_in + fan_out)) = sqrt(6 / 400).
  Tensor x = Tensor::empty({100, 300});
  xavier_uniform_(x, gen);
  const double a = std::sqrt(6.0 / 400.0);
  CHECK(max(abs(x)).item() <= a);
  CHECK(max(abs(x)).item() > 0.99 * a);
  // kaiming_normal_ (relu, fan_in 300): std sqrt(2 / 300).
  kaiming_normal_(x, gen, 0.0, FanMode::FanIn, Nonlinearity::Relu);
  CHECK(std::sqrt(var(x).item()) == Approx(std::sqrt(2.0 / 300.0)).epsilon(0.02));
  // Embedding: N(0, 1).
  Embedding emb({.num_embeddings = 200, .embedding_dim = 100}, gen);
  CHECK(std::sqrt(var(emb.weight.value()).item()) == Approx(1.0).epsilon(0.02));
  // Norms and attention biases start constant, as in PyTorch.
  GroupNorm gn({.num_groups = 2, .num_channels = 4});
  CHECK(gn.weight.value().to_vector() == std::vector<double>{1, 1, 1, 1});
  CHECK(gn.bias.value().to_vector() == std::vector<double>{0, 0, 0, 0});
  MultiHeadAttention mha({.embed_dim = 8, .num_heads = 2}, gen);
  CHECK(max(abs(mha.in_proj_bias.value())).item() == 0.0);
  CHECK(max(abs(mha.out_proj.bias.value())).item() == 0.0);
  CHECK(max(abs(mha.in_proj_weight.value())).item() <= std::sqrt(6.0 / (24 + 8)));

  // The same seed gives the same parameters.
  Generator g1(7), g2(7);
  Linear a1({.in_features = 5, .out_features = 5}, g1), a2({.in_features = 5, .out_features = 5}, g2);
  CHECK(max_abs_diff(a1.weight.value(), a2.weight.value()) == 0.0);
}
