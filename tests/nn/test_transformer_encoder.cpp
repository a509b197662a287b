// TransformerEncoder: PyTorch's names and counts, the layers applied in order, the padding mask
// passed to each, and a float64 gradient check.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "autograd/autograd.h"
#include "nn/nn.h"
#include "tensor/tensor.h"
#include "tests/autograd/check_gradcheck.h"

using namespace tinydiff;

namespace {

const TransformerEncoderLayerOptions kOptions{.d_model = 8, .nhead = 2, .dim_feedforward = 16};

}  // namespace

TEST_CASE("TransformerEncoder names its layers layers.N and counts N layers' parameters", "[nn][transformer]") {
  Generator gen(0);
  // PyTorch 1.13: sum(p.numel() for p in nn.TransformerEncoderLayer(128, 4, 512).parameters()) == 198272.
  TransformerEncoder big({.d_model = 128, .nhead = 4, .dim_feedforward = 512}, 2, gen);
  CHECK(big.parameter_count() == 2 * 198272);
  CHECK(big.layers.size() == 2);

  TransformerEncoder enc(kOptions, 3, gen);
  std::vector<std::string> names;
  for (const auto& [name, p] : enc.named_parameters()) names.push_back(name);
  REQUIRE(names.size() == 3 * 12);  // 12 tensors a layer
  CHECK(names.front() == "layers.0.self_attn.in_proj_weight");
  CHECK(names[12] == "layers.1.self_attn.in_proj_weight");
  CHECK(names.back() == "layers.2.norm2.bias");
  CHECK_THROWS_WITH(TransformerEncoder(kOptions, -1, gen), Catch::Contains("must not be negative"));
}

TEST_CASE("TransformerEncoder applies its layers in order with the same padding mask", "[nn][transformer]") {
  Generator gen(1);
  TransformerEncoder enc(kOptions, 2, gen);
  const Tensor x = gen.normal({2, 5, 8});                                          // (B, L, d)
  const Tensor pad = Tensor::from_vector({1, 1, 1, 0, 0, 1, 1, 1, 1, 1}, {2, 5});  // (B, L): 1 = token
  NoGradGuard no_grad;
  const Tensor y = enc.forward(Variable(x), pad).value();  // (2, 5, 8)
  const Tensor by_hand = enc.layers[1].forward(enc.layers[0].forward(Variable(x), pad), pad).value();
  CHECK(y.shape() == Shape({2, 5, 8}));
  CHECK(max_abs_diff(y, by_hand) == 0.0);

  // Padded keys are ignored: changing the padded tokens of example 0 leaves its real tokens' outputs alone.
  Tensor x2 = x.clone();
  for (int64_t l = 3; l < 5; ++l)
    for (int64_t c = 0; c < 8; ++c) x2.set({0, l, c}, 100.0);
  const Tensor y2 = enc.forward(Variable(x2), pad).value();
  CHECK(max_abs_diff(y.slice(1, 0, 3).slice(0, 0, 1), y2.slice(1, 0, 3).slice(0, 0, 1)) < 1e-6);

  TransformerEncoder none(kOptions, 0, gen);  // no layers: the identity
  CHECK(none.parameter_count() == 0);
  CHECK(max_abs_diff(none.forward(Variable(x)).value(), x) == 0.0);
}

TEST_CASE("gradcheck: TransformerEncoder of two layers, with a padding mask", "[nn][transformer][gradcheck]") {
  Generator gen(2);
  TransformerEncoder enc({.d_model = 4, .nhead = 2, .dim_feedforward = 8}, 2, gen);
  enc.to(DType::F64);
  const Tensor pad = Tensor::from_vector({1, 1, 0, 1, 1, 1}, {2, 3});  // (B, L)
  // With respect to the input; the parameters' gradients are checked layer by layer in test_layers.cpp.
  CHECK_GRADCHECK("transformer_encoder(x)", [&](const std::vector<Variable>& in) { return enc.forward(in[0], pad); },
                  {gen.normal({2, 3, 4}, 0.0, 1.0, DType::F64)});
}
