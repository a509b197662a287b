// ModuleDict: children under chosen keys, in insertion order, found by key; errors for bad keys.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "nn/nn.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

std::vector<std::string> names_of(const Module& m) {
  std::vector<std::string> out;
  for (const auto& [name, p] : m.named_parameters()) out.push_back(name);
  return out;
}

// A parent with a Linear at some levels only, as the U-Net keeps its attention blocks.
class Sparse : public Module {
 public:
  explicit Sparse(Generator& gen) {
    heads.insert("3", std::make_unique<Linear>(LinearOptions{.in_features = 2, .out_features = 3}, gen));
    heads.insert("1", std::make_unique<Linear>(LinearOptions{.in_features = 3, .out_features = 2}, gen));
    register_module("heads", heads);
  }
  ModuleDict<Linear> heads;
};

}  // namespace

TEST_CASE("ModuleDict names children by key, lists them in insertion order and finds them", "[nn][module][dict]") {
  Generator gen(0);
  Sparse m(gen);
  // Insertion order, not key order (PyTorch's nn.ModuleDict keeps insertion order too).
  CHECK(names_of(m) == std::vector<std::string>{"heads.3.weight", "heads.3.bias", "heads.1.weight", "heads.1.bias"});
  CHECK(m.parameter_count() == (3 * 2 + 3) + (2 * 3 + 2));
  CHECK(m.heads.size() == 2);
  CHECK_FALSE(m.heads.empty());
  REQUIRE(m.heads.find("3") != nullptr);
  CHECK(m.heads.find("3")->options().out_features == 3);
  CHECK(m.heads.find("2") == nullptr);
  const ModuleDict<Linear>& read_only = m.heads;
  CHECK(read_only.find("1") == m.heads.find("1"));

  // The child found is the registered one: its parameters are the parent's.
  const Variable w = m.heads.find("1")->weight;
  bool shared = false;
  for (const auto& [name, p] : m.named_parameters())
    if (name == "heads.1.weight") shared = p.value().data<float>() == w.value().data<float>();
  CHECK(shared);

  // A forward through a found child works like the module itself.
  const Tensor x = gen.normal({4, 3});  // (4, 3) -> (4, 2)
  CHECK(m.heads.find("1")->forward(Variable(x)).shape() == Shape({4, 2}));
}

TEST_CASE("ModuleDict refuses null modules and bad or repeated keys", "[nn][module][dict][errors]") {
  Generator gen(0);
  ModuleDict<Linear> d;
  CHECK(d.empty());
  CHECK_THROWS_WITH(d.insert("0", nullptr), Catch::Contains("null module"));
  d.insert("a", std::make_unique<Linear>(LinearOptions{.in_features = 1, .out_features = 1}, gen));
  CHECK_THROWS(d.insert("a", std::make_unique<Linear>(LinearOptions{.in_features = 1, .out_features = 1}, gen)));
  CHECK_THROWS(d.insert("", std::make_unique<Linear>(LinearOptions{.in_features = 1, .out_features = 1}, gen)));
  CHECK_THROWS(d.insert("x.y", std::make_unique<Linear>(LinearOptions{.in_features = 1, .out_features = 1}, gen)));
  CHECK(d.size() == 1);
}
