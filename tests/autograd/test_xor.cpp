// End-to-end learning check: a 2 -> 8 -> 2 tanh MLP built from linear, tanh and cross_entropy,
// trained by plain full-batch gradient descent (the update written here with NoGradGuard and
// add_), must learn XOR, which no linear model can.
#include <catch2/catch.hpp>

#include <vector>

#include "autograd/autograd.h"
#include "tensor/tensor.h"

using namespace tinydiff;

TEST_CASE("a tiny MLP learns XOR with gradient descent", "[autograd][xor]") {
  // The four XOR points and their classes, float32 (the training dtype).
  const Tensor x = Tensor::from_vector({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});  // (4, 2)
  const Tensor labels = Tensor::from_indices({0, 1, 1, 0}, {4});           // (4)

  Generator gen(1234);
  Variable w1(gen.normal({8, 2}, 0.0, 1.0), true);  // (8, 2)
  Variable b1(gen.normal({8}, 0.0, 0.1), true);     // (8)
  Variable w2(gen.normal({2, 8}, 0.0, 0.5), true);  // (2, 8)
  Variable b2(Tensor::zeros({2}), true);            // (2)
  std::vector<Variable> params = {w1, b1, w2, b2};

  auto forward = [&] { return linear(tanh(linear(Variable(x), w1, b1)), w2, b2); };  // logits (4, 2)

  const double lr = 0.5;
  const int steps = 2000;
  double first_loss = 0, loss_value = 0;
  for (int step = 0; step < steps; ++step) {
    for (auto& p : params) p.zero_grad();
    Variable loss = cross_entropy(forward(), labels);
    loss.backward();
    loss_value = loss.item();
    if (step == 0) first_loss = loss_value;
    NoGradGuard no_grad;
    for (auto& p : params) add_(p.mutable_value(), p.grad(), -lr);  // p -= lr * dL/dp
  }
  INFO("loss: first " << first_loss << ", last " << loss_value);
  // Starting near ln 2 = 0.69 (chance), the loss must fall below 0.05: every point then has
  // probability > e^{-0.2} ~ 0.82 for its class (the four losses sum to < 0.2).
  CHECK(first_loss > 0.3);
  CHECK(loss_value < 0.05);

  NoGradGuard no_grad;
  Tensor predicted = argmax(forward().value(), 1);  // (4) int64
  for (int64_t i = 0; i < 4; ++i) {
    INFO("point " << i);
    CHECK(predicted.at({i}) == labels.at({i}));
  }
}
