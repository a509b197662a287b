// Optimizers against hand-computed updates, a naive float64 reference and PyTorch's numbers;
// exact resume from exported state; the learning-rate schedule; gradient clipping.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "nn/clip.h"
#include "nn/lr_schedule.h"
#include "nn/optim.h"

using namespace tinydiff;

// PyTorch reference (torch 1.13.1, Debian's /usr/bin/python3), which printed the numbers below:
//
//   import torch
//   def run(opt_cls, kw, dtype, steps=3):
//       p1 = torch.tensor([1.0, -2.0, 3.0], dtype=dtype, requires_grad=True)
//       p2 = torch.tensor([[0.5, -0.5], [0.25, 2.0]], dtype=dtype, requires_grad=True)
//       opt = opt_cls([p1, p2], **kw)
//       out = []
//       for t in range(1, steps + 1):
//           p1.grad = torch.tensor([0.5 / t, -0.25 * t, 1e-3], dtype=dtype)
//           p2.grad = torch.tensor([[0.1 * t, -0.3], [2.0, -1.0 / t]], dtype=dtype)
//           opt.step()
//           out.append((p1.detach().clone(), p2.detach().clone()))
//       return out
//   for name, cls, kw in [
//       ("adamw", torch.optim.AdamW, dict(lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)),
//       ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
//       ("sgd_nesterov", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.1, nesterov=True)),
//       ("sgd_dampening", torch.optim.SGD, dict(lr=0.1, momentum=0.5, dampening=0.3)),
//   ]:
//       for dtype in (torch.float64, torch.float32):
//           for t, (a, b) in enumerate(run(cls, kw, dtype), 1):
//               print(name, dtype, t, [repr(float(x)) for x in a.tolist()],
//                     [repr(float(x)) for x in b.flatten().tolist()])

namespace {

// The problem of the script above: two parameters, three steps of fixed gradients.
struct Problem {
  Variable p1, p2;
  explicit Problem(DType dtype)
      : p1(Tensor::from_vector({1.0, -2.0, 3.0}, {3}, dtype), true),
        p2(Tensor::from_vector({0.5, -0.5, 0.25, 2.0}, {2, 2}, dtype), true) {}
  void set_grads(int t) {
    const DType dt = p1.dtype();
    p1.set_grad(Tensor::from_vector({0.5 / t, -0.25 * t, 1e-3}, {3}, dt));
    p2.set_grad(Tensor::from_vector({0.1 * t, -0.3, 2.0, -1.0 / t}, {2, 2}, dt));
  }
  std::vector<double> values() const {
    std::vector<double> v = p1.value().to_vector(), w = p2.value().to_vector();
    v.insert(v.end(), w.begin(), w.end());
    return v;
  }
};

using Rows = std::vector<std::vector<double>>;  // one row of 7 values (p1 then p2) per step

// Runs 3 steps and checks every value against `expected` with relative tolerance `rel`.
template <typename Opt, typename Options>
void check_against(DType dtype, Options options, const Rows& expected, double rel) {
  Problem pr(dtype);
  Opt opt(std::vector<Variable>{pr.p1, pr.p2}, options);
  for (int t = 1; t <= 3; ++t) {
    pr.set_grads(t);
    opt.step();
    const auto got = pr.values();
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("step " << t << " value " << i << " dtype " << dtype_name(dtype));
      CHECK(got[i] == Approx(expected[static_cast<size_t>(t - 1)][i]).epsilon(rel).margin(rel));
    }
  }
  CHECK(opt.step_count() == 3);
}

const Rows kTorchAdamW64 = {{0.899000002, -1.8980000039999998, 2.89700099999, 0.399500009999999, -0.39950000333333324,
                             0.14975000049999998, 2.0979999990000002},
                            {0.8048830404754623, -1.7995838038551955, 2.794104998980011, 0.3025823135112531,
                             -0.2991005066633338, 0.04960025099950069, 2.189119961702839},
                            {0.7167623071944651, -1.70198409941488, 2.691311893971031, 0.20647961322133138,
                             -0.19880140949000374, -0.050449348751498764, 2.2742466932783856}};
const Rows kTorchAdamW32 = {{0.8990000486373901, -1.8980000019073486, 2.897001028060913, 0.3995000123977661,
                             -0.3995000123977661, 0.1497500240802765, 2.0980000495910645},
                            {0.8048830628395081, -1.799583911895752, 2.794105052947998, 0.302582323551178,
                             -0.29910051822662354, 0.049600280821323395, 2.189119815826416},
                            {0.7167623043060303, -1.701984167098999, 2.691312074661255, 0.20647962391376495,
                             -0.1988014280796051, -0.05044931173324585, 2.2742464542388916}};
const Rows kTorchSgdMomentum64 = {
    {0.94, -1.955, 2.9699, 0.485, -0.465, 0.0475, 2.08},
    {0.8515999999999999, -1.84495, 2.913011, 0.44665, -0.39885000000000004, -0.33522500000000005, 2.1812},
    {0.7468573333333333, -1.6524555, 2.83258079, 0.37766849999999996, -0.30532650000000006, -0.8763252500000002,
     2.2838013333333333}};
const Rows kTorchSgdMomentum32 = {{0.9399999976158142, -1.9550000429153442, 2.969899892807007, 0.48499998450279236,
                                   -0.4650000035762787, 0.04749998822808266, 2.0799999237060547},
                                  {0.8515999913215637, -1.8449500799179077, 2.913010835647583, 0.446649968624115,
                                   -0.3988499939441681, -0.33522501587867737, 2.1812000274658203},
                                  {0.7468573451042175, -1.6524555683135986, 2.83258056640625, 0.37766847014427185,
                                   -0.3053264915943146, -0.8763253092765808, 2.283801317214966}};
const Rows kTorchSgdNesterov64 = {
    {0.886, -1.9145, 2.94281, 0.4715, -0.4335, -0.13474999999999998, 2.152},
    {0.773066, -1.7466745000000001, 2.86232561, 0.41239149999999997, -0.3399135, -0.67621475, 2.270912},
    {0.6555444793333334, -1.4821752345, 2.76189076241, 0.31660191149999994, -0.22312879349999998, -1.35189769475,
     2.3724868053333332}};
const Rows kTorchSgdDampening64 = {
    {0.95, -1.975, 2.9999, 0.49, -0.47, 0.04999999999999999, 2.1},
    {0.9075, -1.9275, 2.99978, 0.471, -0.434, -0.19, 2.185},
    {0.8745833333333333, -1.85125, 2.99965, 0.44049999999999995, -0.395, -0.44999999999999996, 2.2508333333333335}};

}  // namespace

TEST_CASE("SGD matches hand-computed updates", "[optim]") {
  // p = 1, g = 0.5 then 0.25, lr 0.1, momentum 0.9, weight decay 0.1:
  //   step 1: d = 0.5 + 0.1 * 1 = 0.6, b = d = 0.6,                  p = 1 - 0.06 = 0.94
  //   step 2: d = 0.25 + 0.1 * 0.94 = 0.344, b = 0.9 * 0.6 + 0.344 = 0.884, p = 0.94 - 0.0884 = 0.8516
  // Nesterov, same numbers: step 1: d + 0.9 b = 0.6 + 0.54 = 1.14, p = 1 - 0.114 = 0.886.
  for (bool nesterov : {false, true}) {
    Variable p(Tensor::from_vector({1.0}, {1}, DType::F64), true);
    SGD opt(std::vector<Variable>{p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = nesterov});
    p.set_grad(Tensor::from_vector({0.5}, {1}, DType::F64));
    opt.step();
    CHECK(p.value().item() == Approx(nesterov ? 0.886 : 0.94).epsilon(1e-15));
    if (!nesterov) {
      p.set_grad(Tensor::from_vector({0.25}, {1}, DType::F64));
      opt.step();
      CHECK(p.value().item() == Approx(0.8516).epsilon(1e-15));
    }
  }
  // Plain SGD: p -= lr * g.
  Variable q(Tensor::from_vector({2.0, -1.0}, {2}, DType::F32), true);
  SGD plain(std::vector<Variable>{q}, {.lr = 0.5});
  q.set_grad(Tensor::from_vector({1.0, -4.0}, {2}, DType::F32));
  plain.step();
  CHECK(q.value().to_vector() == std::vector<double>{1.5, 1.0});
  CHECK(plain.state_tensors().size() == 1);  // just "step": no momentum buffers
}

TEST_CASE("SGD matches torch.optim.SGD for 3 steps", "[optim]") {
  // float64: same operation order as PyTorch, so agreement to ~1 ulp (tolerance 1e-14).
  // float32: PyTorch's vectorised kernels may use FMA; tolerance 1e-6 relative.
  check_against<SGD>(DType::F64, SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1}, kTorchSgdMomentum64,
                     1e-14);
  check_against<SGD>(DType::F32, SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1}, kTorchSgdMomentum32,
                     1e-6);
  check_against<SGD>(DType::F64, SGDOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true},
                     kTorchSgdNesterov64, 1e-14);
  check_against<SGD>(DType::F64, SGDOptions{.lr = 0.1, .momentum = 0.5, .dampening = 0.3}, kTorchSgdDampening64, 1e-14);
  CHECK_THROWS_WITH(SGD(std::vector<Variable>{}, {.lr = 0.1, .nesterov = true}), Catch::Contains("Nesterov"));
}

TEST_CASE("AdamW matches the hand-computed first step and a naive reference", "[optim]") {
  // Step 1: m = (1 - b1) g, v = (1 - b2) g^2, so mhat = g and vhat = g^2 and
  //   p1 = p0 (1 - lr wd) - lr g / (|g| + eps).
  // p0 = 1, g = 0.5, lr 0.1, wd 0.01: 0.999 - 0.1 * 0.5 / 0.50000001 = 0.899000002 (to 1e-16).
  Variable p(Tensor::from_vector({1.0}, {1}, DType::F64), true);
  AdamW opt(std::vector<Variable>{p}, {.lr = 0.1});
  p.set_grad(Tensor::from_vector({0.5}, {1}, DType::F64));
  opt.step();
  CHECK(p.value().item() == Approx(0.999 - 0.1 * 0.5 / (0.5 + 1e-8)).epsilon(1e-15));
  CHECK(p.value().item() == Approx(0.899000002).epsilon(1e-15));

  // A naive float64 reference written from the textbook formula, on a parameter large
  // enough for parallel_for to split it; gradients change each step. Tolerance 1e-13.
  const int64_t n = 20000;
  const AdamWOptions o{.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1};
  std::vector<double> ref(n), m(n, 0.0), v(n, 0.0);
  for (int64_t i = 0; i < n; ++i) ref[i] = std::sin(0.1 * i);
  Variable w(Tensor::from_vector(ref, {n}, DType::F64), true);
  AdamW big(std::vector<Variable>{w}, o);
  for (int t = 1; t <= 3; ++t) {
    std::vector<double> g(n);
    for (int64_t i = 0; i < n; ++i) g[i] = std::cos(0.37 * i * t) + 0.01 * t;
    w.set_grad(Tensor::from_vector(g, {n}, DType::F64));
    big.step();
    for (int64_t i = 0; i < n; ++i) {
      ref[i] *= 1 - o.lr * o.weight_decay;
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(o.beta1, t)), vhat = v[i] / (1 - std::pow(o.beta2, t));
      ref[i] -= o.lr * mhat / (std::sqrt(vhat) + o.eps);
    }
  }
  const std::vector<double> got = w.value().to_vector();
  double worst = 0;
  for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::abs(got[i] - ref[i]));
  CHECK(worst < 1e-13);
}

TEST_CASE("AdamW matches torch.optim.AdamW for 3 steps", "[optim]") {
  check_against<AdamW>(DType::F64, AdamWOptions{.lr = 0.1}, kTorchAdamW64, 1e-14);
  check_against<AdamW>(DType::F32, AdamWOptions{.lr = 0.1}, kTorchAdamW32, 1e-6);
}

TEST_CASE("Optimizers skip parameters without a gradient, zero_grad, set_lr", "[optim]") {
  Variable a(Tensor::from_vector({1.0, 2.0}, {2}, DType::F32), true);
  Variable frozen(Tensor::from_vector({5.0}, {1}, DType::F32), true);
  AdamW opt({{"a", a}, {"frozen", frozen}}, {.lr = 0.1, .weight_decay = 0.5});
  a.set_grad(Tensor::from_vector({1.0, -1.0}, {2}, DType::F32));
  opt.step();
  CHECK(frozen.value().item() == 5.0);  // no grad: not even weight decay touches it
  const NamedTensors state = opt.state_tensors("optim.");
  std::vector<std::string> names;
  for (const auto& [name, t] : state) names.push_back(name);
  CHECK(names == std::vector<std::string>{"optim.step", "optim.a.step", "optim.a.exp_avg", "optim.a.exp_avg_sq"});
  opt.zero_grad();
  CHECK(!a.has_grad());
  // lr 0 with weight decay: p unchanged (decay factor 1 - 0 * wd, update 0).
  opt.set_lr(0.0);
  a.set_grad(Tensor::from_vector({1.0, -1.0}, {2}, DType::F32));
  const auto before = a.value().to_vector();
  opt.step();
  CHECK(a.value().to_vector() == before);
  CHECK(opt.lr() == 0.0);
  CHECK_THROWS_WITH(opt.set_lr(-1.0), Catch::Contains("learning rate must be finite and >= 0"));
  a.set_grad(Tensor::from_vector({1.0, -1.0}, {2}, DType::F64));
  CHECK_THROWS_WITH(opt.step(), Catch::Contains("gradient of 'a' is (2,) float64 but the parameter is (2,) float32"));
}

TEST_CASE("Optimizer state export and import resume exactly", "[optim]") {
  auto run = [](bool sgd) {
    // Reference: 4 uninterrupted steps. Resumed: 2 steps, state through safetensors bytes into
    // a fresh optimizer over copies of the parameters, 2 more steps. Results must be bitwise equal.
    Problem ref(DType::F32), first(DType::F32);
    auto make = [&](Problem& pr) -> std::unique_ptr<Optimizer> {
      std::vector<std::pair<std::string, Variable>> named = {{"block.w", pr.p1}, {"block.b", pr.p2}};
      if (sgd) return std::make_unique<SGD>(named, SGDOptions{.lr = 0.05, .momentum = 0.9});
      return std::make_unique<AdamW>(named, AdamWOptions{.lr = 0.05});
    };
    auto ref_opt = make(ref);
    for (int t = 1; t <= 4; ++t) {
      ref.set_grads(t);
      ref_opt->step();
    }
    auto opt1 = make(first);
    for (int t = 1; t <= 2; ++t) {
      first.set_grads(t);
      opt1->step();
    }
    const std::string bytes = serialize_safetensors(opt1->state_tensors("optim."));
    const SafetensorsData saved = parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "m");
    Problem resumed(DType::F32);
    resumed.p1.mutable_value().copy_(first.p1.value());
    resumed.p2.mutable_value().copy_(first.p2.value());
    auto opt2 = make(resumed);
    opt2->load_state_tensors(saved.tensors, "optim.");
    CHECK(opt2->step_count() == 2);
    for (int t = 3; t <= 4; ++t) {
      resumed.set_grads(t);
      opt2->step();
    }
    CHECK(resumed.values() == ref.values());  // exact
  };
  SECTION("AdamW") { run(false); }
  SECTION("SGD") { run(true); }
}

TEST_CASE("Optimizer state import lists every problem and changes nothing", "[optim]") {
  Variable w(Tensor::zeros({2, 3}), true), b(Tensor::zeros({3}), true);
  AdamW opt({{"w", w}, {"b", b}});
  w.set_grad(Tensor::ones({2, 3}));
  b.set_grad(Tensor::ones({3}));
  opt.step();
  const NamedTensors good = opt.state_tensors("optim.");
  NamedTensors bad;
  for (const auto& [name, t] : good) {
    if (name == "optim.w.exp_avg")
      bad.emplace_back(name, Tensor::zeros({3, 2}));  // wrong shape
    else if (name == "optim.b.exp_avg_sq")
      continue;  // incomplete state
    else if (name == "optim.step")
      bad.emplace_back(name, Tensor::scalar(1.0));  // not int64
    else
      bad.emplace_back(name, t);
  }
  bad.emplace_back("optim.w.momentum", Tensor::zeros({2, 3}));  // unknown
  bad.emplace_back("model.w", Tensor::zeros({2, 3}));           // other prefix: ignored
  const auto before = w.value().to_vector();
  try {
    opt.load_state_tensors(bad, "optim.");
    FAIL("accepted bad state");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_THAT(msg, Catch::Contains("AdamW::load_state_tensors: 4 problems"));
    CHECK_THAT(msg, Catch::Contains("'optim.step' must be a 0-d int64 tensor, got () float32"));
    CHECK_THAT(msg,
               Catch::Contains("size mismatch for 'optim.w.exp_avg': the parameter has (2, 3), the state has (3, 2)"));
    CHECK_THAT(msg, Catch::Contains("missing: 'optim.b.exp_avg_sq'"));
    CHECK_THAT(msg, Catch::Contains("unexpected: 'optim.w.momentum'"));
  }
  CHECK(opt.step_count() == 1);
  CHECK(opt.state_tensors("optim.").size() == good.size());
  // Missing global step.
  CHECK_THROWS_WITH(opt.load_state_tensors({}, "optim."), Catch::Contains("missing: 'optim.step'"));
  CHECK(w.value().to_vector() == before);
}

TEST_CASE("Learning-rate schedule: linear warm-up then cosine or constant", "[optim][lr_schedule]") {
  const LrSchedule cosine{.lr = 1.0, .warmup_steps = 4, .total_steps = 14, .min_lr = 0.1};
  // Warm-up: (s + 1) / 4.
  CHECK(scheduled_lr(cosine, 0) == 0.25);
  CHECK(scheduled_lr(cosine, 1) == 0.5);
  CHECK(scheduled_lr(cosine, 3) == 1.0);
  // Cosine over 10 steps: 0.1 + 0.9 * 0.5 * (1 + cos(pi * (s - 4) / 10)).
  CHECK(scheduled_lr(cosine, 4) == Approx(1.0).epsilon(1e-15));
  CHECK(scheduled_lr(cosine, 9) == Approx(0.55).epsilon(1e-14));  // halfway: cos(pi/2) = 0
  CHECK(scheduled_lr(cosine, 6) == Approx(0.1 + 0.45 * (1 + std::cos(M_PI * 0.2))).epsilon(1e-14));
  CHECK(scheduled_lr(cosine, 13) == Approx(0.1 + 0.45 * (1 + std::cos(M_PI * 0.9))).epsilon(1e-14));
  CHECK(scheduled_lr(cosine, 14) == 0.1);
  CHECK(scheduled_lr(cosine, 1000) == 0.1);
  // Monotone non-increasing after the warm-up.
  for (int64_t s = 4; s < 20; ++s) CHECK(scheduled_lr(cosine, s + 1) <= scheduled_lr(cosine, s));

  const LrSchedule constant{.lr = 0.3, .warmup_steps = 3, .decay = LrDecay::Constant};
  CHECK(scheduled_lr(constant, 0) == Approx(0.1));
  CHECK(scheduled_lr(constant, 2) == Approx(0.3));
  CHECK(scheduled_lr(constant, 100000) == 0.3);
  CHECK(scheduled_lr(LrSchedule{.lr = 0.5, .total_steps = 10}, 0) == 0.5);  // no warm-up
  CHECK_THROWS_WITH(scheduled_lr(cosine, -1), Catch::Contains("step must be >= 0"));
  CHECK_THROWS_WITH(scheduled_lr(LrSchedule{.lr = 1, .warmup_steps = 10, .total_steps = 5}, 20),
                    Catch::Contains("total_steps (5) must be >= warmup_steps (10)"));
}

TEST_CASE("clip_grad_norm returns the pre-clip global norm and rescales like PyTorch", "[optim][clip]") {
  // Gradients (3, 4) and (12): global norm sqrt(9 + 16 + 144) = 13.
  Variable a(Tensor::zeros({2}), true), b(Tensor::zeros({1}, DType::F64), true), none(Tensor::zeros({3}), true);
  auto set = [&]() {
    a.set_grad(Tensor::from_vector({3, 4}, {2}));
    b.set_grad(Tensor::from_vector({12}, {1}, DType::F64));
  };
  set();
  CHECK(clip_grad_norm({a, b, none}, 100.0) == 13.0);
  CHECK(a.grad().to_vector() == std::vector<double>{3, 4});  // below max_norm: untouched
  const double coef = 6.5 / (13.0 + 1e-6);                   // PyTorch: max_norm / (norm + 1e-6)
  CHECK(clip_grad_norm({a, b, none}, 6.5) == 13.0);
  CHECK(a.grad().to_vector()[0] == Approx(3 * coef).epsilon(1e-7));  // float32 gradient
  CHECK(a.grad().to_vector()[1] == Approx(4 * coef).epsilon(1e-7));
  CHECK(b.grad().item() == Approx(12 * coef).epsilon(1e-15));
  CHECK(grad_norm({a, b}) == Approx(6.5).epsilon(1e-6));
  CHECK(!none.has_grad());

  // A large gradient (many blocks, parallel) against a naive float64 sum; tolerance 1e-12.
  const int64_t n = 100003;
  std::vector<double> g(n);
  double sq = 0;
  for (int64_t i = 0; i < n; ++i) {
    g[i] = std::sin(1.0 + i) * 1e-3;
    sq += g[i] * g[i];
  }
  Variable big(Tensor::zeros({n}, DType::F64), true);
  big.set_grad(Tensor::from_vector(g, {n}, DType::F64));
  CHECK(grad_norm({big}) == Approx(std::sqrt(sq)).epsilon(1e-12));

  set();
  a.set_grad(Tensor::from_vector({NAN, 1}, {2}));
  CHECK_THROWS_WITH(clip_grad_norm({a, b}, 1.0, true), Catch::Contains("gradient holds NaN or inf"));
  CHECK(std::isnan(clip_grad_norm({a, b}, 1.0)));
  CHECK_THROWS_WITH(clip_grad_norm({a}, 0.0), Catch::Contains("max_norm must be > 0"));
}
