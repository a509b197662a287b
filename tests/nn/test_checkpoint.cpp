// state_dict / load_state_dict and training checkpoints: exact resume of model, optimizer,
// EMA and metadata; validation that lists every problem and changes nothing.
#include <unistd.h>

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "nn/checkpoint.h"
#include "nn/state_dict.h"

using namespace tinydiff;
namespace fs = std::filesystem;

namespace {

// A two-level model: "scale", "inner.weight", "inner.bias".
struct Inner : Module {
  explicit Inner(int64_t d) {
    weight = register_parameter("weight", Tensor::from_vector(std::vector<double>(d * d, 0.5), {d, d}));
    bias = register_parameter("bias", Tensor::zeros({d}));
  }
  Variable weight, bias;
};
struct Tiny : Module {
  explicit Tiny(int64_t d) : inner(d) {
    scale = register_parameter("scale", Tensor::ones({d}));
    register_module("inner", inner);
  }
  Inner inner;
  Variable scale;
};

// Deterministic fake gradients for step t (no autograd needed here).
void set_grads(Module& m, int t) {
  int k = 0;
  for (auto& [name, p] : m.named_parameters()) {
    std::vector<double> g(static_cast<size_t>(p.numel()));
    for (size_t i = 0; i < g.size(); ++i) g[i] = std::sin(0.7 * t + 1.3 * static_cast<double>(i) + k);
    Variable(p).set_grad(Tensor::from_vector(g, p.shape(), p.dtype()));
    ++k;
  }
}

std::vector<double> all_values(const Module& m) {
  std::vector<double> out;
  for (const auto& [name, p] : m.named_parameters()) {
    const auto v = p.value().to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / fmt::format("tinydiff_f2_{}_{}", name, ::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("state_dict names follow the module, load_state_dict copies with dtype conversion", "[state_dict]") {
  Tiny m(2);
  const NamedTensors sd = state_dict(m);
  REQUIRE(sd.size() == 3);
  CHECK(sd[0].first == "scale");
  CHECK(sd[1].first == "inner.weight");
  CHECK(sd[2].first == "inner.bias");

  Tiny other(2);
  const Variable weight_before = other.inner.weight;
  const LoadStateDictResult r = load_state_dict(other, {{"scale", Tensor::from_vector({2, 3}, {2}, DType::F64)},
                                                        {"inner.weight", Tensor::full({2, 2}, 0.25, DType::F64)},
                                                        {"inner.bias", Tensor::from_vector({-1, 1}, {2})}});
  CHECK(r.missing_keys.empty());
  CHECK(r.unexpected_keys.empty());
  CHECK(other.scale.value().dtype() == DType::F32);  // converted into the float32 parameter
  CHECK(other.scale.value().to_vector() == std::vector<double>{2, 3});
  CHECK(other.inner.weight.value().to_vector() == std::vector<double>{0.25, 0.25, 0.25, 0.25});
  CHECK(weight_before.value().storage() == other.inner.weight.value().storage());  // in place

  // Non-strict: missing and unexpected names are reported, shapes still checked.
  const LoadStateDictResult loose =
      load_state_dict(other, {{"scale", Tensor::ones({2})}, {"extra", Tensor::ones({1})}}, false);
  CHECK(loose.missing_keys == std::vector<std::string>{"inner.weight", "inner.bias"});
  CHECK(loose.unexpected_keys == std::vector<std::string>{"extra"});
  CHECK_THROWS_WITH(load_state_dict(other, {{"scale", Tensor::ones({3})}}, false), Catch::Contains("size mismatch"));
}

TEST_CASE("load_state_dict reports every missing, unexpected and mis-shaped tensor at once", "[state_dict]") {
  Tiny m(2);
  const auto before = all_values(m);
  try {
    load_state_dict(m, {{"scale", Tensor::ones({3})},
                        {"inner.wieght", Tensor::ones({2, 2})},
                        {"inner.bias", Tensor::ones({2})},
                        {"head.bias", Tensor::ones({5})}});
    FAIL("accepted a bad state dict");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("load_state_dict: 4 problems loading 4 tensors into 3 parameters:"));
    CHECK_THAT(msg, Catch::Contains("missing: 'inner.weight' (2, 2)"));
    CHECK_THAT(msg, Catch::Contains("unexpected: 'inner.wieght' (2, 2)"));
    CHECK_THAT(msg, Catch::Contains("unexpected: 'head.bias' (5,)"));
    CHECK_THAT(msg, Catch::Contains("size mismatch for 'scale': the module has (2,), the state dict has (3,)"));
  }
  CHECK(all_values(m) == before);  // nothing copied, not even the valid 'inner.bias'
  CHECK_THROWS_WITH(load_state_dict(m, {{"scale", Tensor::ones({2})}, {"scale", Tensor::ones({2})}}, false),
                    Catch::Contains("duplicate: 'scale' appears twice"));
}

TEST_CASE("A checkpoint resumes model, AdamW and EMA exactly, with metadata", "[checkpoint]") {
  const fs::path dir = scratch("ckpt");
  const std::string path = (dir / "ckpt.safetensors").string();

  // Reference run: 5 uninterrupted steps.
  Tiny ref(3);
  AdamW ref_opt(ref.named_parameters(), {.lr = 0.01});
  EMA ref_ema(ref.named_parameters(), {.decay = 0.99});
  for (int t = 1; t <= 5; ++t) {
    set_grads(ref, t);
    ref_opt.step();
    ref_ema.update();
  }

  // Interrupted run: 3 steps, checkpoint, a new process (fresh objects), 2 more steps.
  Tiny a(3);
  AdamW a_opt(a.named_parameters(), {.lr = 0.01});
  EMA a_ema(a.named_parameters(), {.decay = 0.99});
  for (int t = 1; t <= 3; ++t) {
    set_grads(a, t);
    a_opt.step();
    a_ema.update();
  }
  const Generator::State rng{.seed = 42, .offset = (uint64_t{1} << 63) + 5};
  save_checkpoint(path, a, &a_opt, &a_ema,
                  {{"step", "3"}, {"rng", format_generator_state(rng)}, {"config", "{\"channels\": 3}"}});

  Tiny b(3);
  AdamW b_opt(b.named_parameters(), {.lr = 0.01});
  EMA b_ema(b.named_parameters(), {.decay = 0.99});
  const auto meta = load_checkpoint(path, b, &b_opt, &b_ema);
  CHECK(meta.size() == 3);  // the caller's keys only
  CHECK(metadata_int(meta, "step") == 3);
  const Generator::State back = parse_generator_state(meta.at("rng"));
  CHECK(back.seed == rng.seed);
  CHECK(back.offset == rng.offset);
  CHECK(meta.at("config") == "{\"channels\": 3}");
  CHECK(b_opt.step_count() == 3);
  CHECK(b_ema.num_updates() == 3);
  CHECK(all_values(b) == all_values(a));
  for (int t = 4; t <= 5; ++t) {
    set_grads(b, t);
    b_opt.step();
    b_ema.update();
  }
  CHECK(all_values(b) == all_values(ref));  // bitwise
  const NamedTensors e1 = b_ema.state_tensors(), e2 = ref_ema.state_tensors();
  for (size_t i = 0; i < e1.size(); ++i) CHECK(e1[i].second.to_vector() == e2[i].second.to_vector());

  // The file is plain safetensors with the documented names.
  const SafetensorsData raw = load_safetensors(path);
  for (const char* name :
       {"model.scale", "model.inner.weight", "ema.inner.bias", "optim.step", "optim.inner.weight.exp_avg_sq"})
    CHECK(raw.contains(name));
  CHECK(raw.metadata.at("tinydiff.format") == kCheckpointFormat);
  CHECK(raw.metadata.at("tinydiff.ema_num_updates") == "3");

  // Sampling: load just the EMA weights into another model.
  Tiny sampler(3);
  load_checkpoint_weights(path, sampler, true);
  CHECK(all_values(sampler) == [&] {
    std::vector<double> v;
    for (const auto& [n, t] : a_ema.state_tensors()) {
      const auto x = t.to_vector();
      v.insert(v.end(), x.begin(), x.end());
    }
    return v;
  }());
  fs::remove_all(dir);
}

TEST_CASE("load_checkpoint validates everything first and lists every problem", "[checkpoint]") {
  const fs::path dir = scratch("ckpt_bad");
  const std::string path = (dir / "ckpt.safetensors").string();
  Tiny small(2);
  AdamW opt(small.named_parameters());
  set_grads(small, 1);
  opt.step();
  save_checkpoint(path, small, &opt, nullptr, {{"step", "1"}});

  // A model of another width, with an EMA the file lacks.
  Tiny wide(3);
  AdamW wide_opt(wide.named_parameters());
  EMA wide_ema(wide.named_parameters());
  const auto before = all_values(wide);
  try {
    load_checkpoint(path, wide, &wide_opt, &wide_ema);
    FAIL("accepted a mismatched checkpoint");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("load_checkpoint: " + path));
    CHECK_THAT(msg, Catch::Contains("nothing was loaded"));
    CHECK_THAT(msg, Catch::Contains("model: size mismatch for 'scale': the module has (3,), the state dict has (2,)"));
    CHECK_THAT(msg, Catch::Contains("model: size mismatch for 'inner.weight'"));
    CHECK_THAT(msg, Catch::Contains("ema: missing: 'ema.scale' (3,)"));
    CHECK_THAT(msg, Catch::Contains("ema: metadata 'tinydiff.ema_num_updates' is missing"));
    CHECK_THAT(msg, Catch::Contains("optim: size mismatch for 'optim.inner.bias.exp_avg'"));
  }
  CHECK(all_values(wide) == before);
  CHECK(wide_opt.step_count() == 0);

  // Without an optimizer or EMA, their tensors are ignored; the model loads.
  Tiny same(2);
  CHECK(load_checkpoint(path, same, nullptr, nullptr).at("step") == "1");
  CHECK(all_values(same) == all_values(small));
  CHECK_THROWS_WITH(load_checkpoint_weights(path, same, true), Catch::Contains("holds no 'ema.' tensors"));

  // A plain safetensors file is not a checkpoint; foreign names are listed.
  save_safetensors(path, {{"scale", Tensor::ones({2})}});
  CHECK_THROWS_WITH(load_checkpoint(path, same, nullptr, nullptr),
                    Catch::Contains("not a tinydiff training checkpoint") &&
                        Catch::Contains("file: unexpected tensor 'scale'") &&
                        Catch::Contains("model: missing: 'inner.bias'"));
  // Reserved metadata keys.
  CHECK_THROWS_WITH(save_checkpoint(path, same, nullptr, nullptr, {{"tinydiff.format", "x"}}),
                    Catch::Contains("is reserved"));
  fs::remove_all(dir);
}

TEST_CASE("Checkpoint metadata helpers parse strictly", "[checkpoint]") {
  CHECK(format_generator_state({.seed = 7, .offset = 123}) == "7:123");
  const auto s = parse_generator_state("18446744073709551615:0");
  CHECK(s.seed == UINT64_MAX);
  CHECK(s.offset == 0);
  for (const char* bad : {"", "7", "7:", ":7", "7:8:9", "x:1", "1:-1", " 1:2", "1:2 "})
    CHECK_THROWS_WITH(parse_generator_state(bad), Catch::Contains("is not a generator state"));
  const std::map<std::string, std::string> meta = {{"step", "-12"}, {"bad", "12a"}};
  CHECK(metadata_int(meta, "step") == -12);
  CHECK_THROWS_WITH(metadata_int(meta, "bad"), Catch::Contains("metadata 'bad' is '12a', not a whole number"));
  CHECK_THROWS_WITH(metadata_int(meta, "nope"), Catch::Contains("no metadata key 'nope'"));
}
