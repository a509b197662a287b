// tinydiff-bench: end-to-end speed of the "tiny" text-to-image model, the workload of the
// PyTorch peer (../shared/bench/torch_ref.py and torch_sample_ref.py).
//
// Cases (each runs in its own child process, so peak RSS is per case):
//   train_b64       training step, batch 64: forward + backward + AdamW (as torch_ref.py)
//   train_b8        the same at batch 8 (framework overhead dominates)
//   train64_b32     a training step of the 64x64 config "tiny64" on RGB images at batch 32
//   sample_cfg_b64  one classifier-free-guided DDIM step on 64 images: one no-grad U-Net
//                   evaluation on a batch of 128 (as torch_sample_ref.py) + the guidance + the update
//
// For each case: median step time, analytic GFLOP (convolutions, linears and attention
// products; a training step counts 3x the forward; diffusion/models/model_flops.h), GFLOP/s, percent of the measured
// sgemm peak (a 2048^3 cblas_sgemm at the same thread count) and the peak resident set size.
//
//   ./build/tinydiff-bench [--case NAME] [--threads N] [--json] [--profile] [--steps N] [--warmup N]
//                          [--peak GFLOPS] [--info] [--help]
//
// A bad command line is one line on stderr and exit code 1 (tensor/program.h, bench/bench_args.h).
//
// `--profile` then runs a few more steps with the autograd profiler on (autograd/profiler.h)
// and prints time by op type, forward and backward. A program, not a test: it asserts nothing.
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>

#include "autograd/autograd.h"
#include "autograd/profiler.h"
#include "bench/bench_args.h"
#include "diffusion/models/model_flops.h"
#include "diffusion/models/text_to_image.h"
#include "diffusion/process/schedule.h"
#include "diffusion/sampling/ddim.h"
#include "diffusion/sampling/guidance.h"
#include "nn/optim.h"
#include "tensor/process_env.h"
#include "tensor/program.h"

using namespace tinydiff;

namespace {

struct Options {
  std::string only;  // --case
  int threads = 0;   // 0: OMP_NUM_THREADS or the core count
  bool json = false;
  bool profile = false;
  bool profile_cpu = false;  // --profile-cpu: the profile in process CPU time
  int steps = 0;             // 0: the case's default
  int warmup = 3;            // as the peers
  double peak = 0.0;         // sgemm GFLOP/s; measured when 0
  bool child = false;        // --child: run exactly the case --case names, in this process
  bool info = false;         // --info: print the BLAS in use and exit
};

const std::vector<std::string> kCases = {"train_b64", "train_b8", "sample_cfg_b64", "train64_b32"};

double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The clock of the profile's phase times: the profiler's own (wall or process CPU time).
double phase_now_ms() { return detail::profile_now_ms(); }

// Process CPU time (all threads) in milliseconds: on a busy machine, the work a step took,
// independent of how long the operating system kept the process waiting.
double cpu_now_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return 0.0;
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// ---------------------------------------------------------------------------------------
// The sgemm peak at the current thread count: a 2048^3 product, median of 5 after a warm-up.

double sgemm_peak_gflops() {
  const int64_t n = 2048;
  std::vector<float> a(n * n), b(n * n), c(n * n);
  for (int64_t i = 0; i < n * n; ++i) {
    a[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i)));
    b[i] = static_cast<float>(std::cos(0.11 * static_cast<double>(i)));
  }
  std::vector<double> ms;
  for (int r = 0; r < 6; ++r) {
    const double t0 = now_ms();
    gemm<float>(false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    if (r > 0) ms.push_back(now_ms() - t0);
  }
  return 2.0 * n * n * n / (median(ms) * 1e-3) / 1e9;
}

// ---------------------------------------------------------------------------------------
// The cases

struct CaseResult {
  std::string name;
  int64_t batch = 0;
  int64_t params = 0;
  std::vector<double> step_ms;
  std::vector<double> cpu_ms;  // process CPU time of each step (all threads)
  double gflop = 0.0;
  double loss = 0.0;
};

// The peer's linear schedule: betas = linspace(1e-4, 0.02, 1000), abar = cumprod(1 - beta).
std::vector<double> alpha_bars() {
  const int64_t T = 1000;
  std::vector<double> abar(T);
  double prod = 1.0;
  for (int64_t i = 0; i < T; ++i) {
    const double beta = 1e-4 + (0.02 - 1e-4) * static_cast<double>(i) / static_cast<double>(T - 1);
    prod *= 1.0 - beta;
    abar[static_cast<size_t>(i)] = prod;
  }
  return abar;
}

// One training step as torch_ref.py: draw t and eps, x_t = sqrt(abar) x0 + sqrt(1 - abar) eps,
// loss = mse(model(x_t, t, ids), eps), zero_grad, backward, AdamW step. `phase_ms` (optional)
// receives forward, backward and optimizer times.
struct Trainer {
  TextToImageModel& model;
  AdamW& opt;
  Generator& gen;
  const Tensor& x0;   // (B, C, S, S)
  const Tensor& ids;  // (B, 16)
  std::vector<double> abar;

  double step(double* phase_ms = nullptr) {
    EnableGradGuard enable_grad;  // record the graph whatever the caller's mode
    const int64_t b = x0.size(0);
    const double t0 = phase_now_ms();
    Tensor t = gen.randint(0, 1000, {b});  // (B) int64
    Tensor eps = gen.normal(x0.shape());   // (B, C, S, S)
    std::vector<double> sa(static_cast<size_t>(b)), sb(static_cast<size_t>(b));
    for (int64_t i = 0; i < b; ++i) {
      const double ab = abar[static_cast<size_t>(t.data<int64_t>()[i])];
      sa[static_cast<size_t>(i)] = std::sqrt(ab);
      sb[static_cast<size_t>(i)] = std::sqrt(1.0 - ab);
    }
    const Tensor ca = Tensor::from_vector(sa, {b, 1, 1, 1}), cb = Tensor::from_vector(sb, {b, 1, 1, 1});
    Tensor xt = add(mul(ca, x0), mul(cb, eps));  // (B, C, S, S)
    if (profiling()) profiler_mark();
    Variable loss = mse_loss(model.forward(Variable(xt), t, ids, Tensor()), Variable(eps));
    const double t1 = phase_now_ms();
    opt.zero_grad();
    loss.backward();
    const double t2 = phase_now_ms();
    opt.step();
    const double t3 = phase_now_ms();
    if (phase_ms) {
      phase_ms[0] += t1 - t0;
      phase_ms[1] += t2 - t1;
      phase_ms[2] += t3 - t2;
    }
    return loss.item();
  }
};

// One guided DDIM step as torch_sample_ref.py times it: the U-Net on [x; x] (batch 2B) with the
// prompts' contexts (computed once, outside the timing, as the peer does), then the guidance
// combination and a deterministic DDIM update from t = 500 to t = 480.
struct Sampler {
  const TextToImageModel& model;
  const NoiseSchedule& schedule;
  Generator& gen;
  Variable ctx;  // (2B, L, d)
  Tensor x;      // (B, 1, 32, 32)

  void step(double* phase_ms = nullptr) {
    NoGradGuard no_grad;
    const int64_t b = x.size(0);
    const double t0 = phase_now_ms();
    if (profiling()) profiler_mark();
    const Tensor x2 = concat({x, x}, 0);  // (2B, 1, 32, 32)
    const Tensor t2 = Tensor::from_indices(std::vector<int64_t>(static_cast<size_t>(2 * b), 500), {2 * b});
    const Tensor eps = model.unet.forward(Variable(x2), t2, ctx, Tensor()).value();  // (2B, 1, 32, 32)
    const double t1 = phase_now_ms();
    const Tensor guided = guided_output(eps.slice(0, 0, b), eps.slice(0, b, 2 * b), 2.0);  // (B, 1, 32, 32)
    x = ddim_step(guided, x, 500, 480, schedule, gen);
    if (phase_ms) {
      phase_ms[0] += t1 - t0;
      phase_ms[2] += phase_now_ms() - t1;
    }
  }
};

void print_profile(const std::string& name, int steps, const double* phase_ms) {
  const std::vector<OpProfile> prof = profiler_results();
  double fw = 0, bw = 0;
  for (const auto& p : prof) {
    fw += p.forward_ms;
    bw += p.backward_ms;
  }
  std::printf("\nprofile of %s, per step (mean of %d steps with the profiler on)\n", name.c_str(), steps);
  std::printf("  phases: forward %.1f ms, backward %.1f ms, optimizer/update %.1f ms\n", phase_ms[0] / steps,
              phase_ms[1] / steps, phase_ms[2] / steps);
  std::printf("  %-28s %10s %7s %10s %7s %8s\n", "op", "fwd ms", "calls", "bwd ms", "calls", "% total");
  for (const auto& p : prof) {
    const double tot = p.forward_ms + p.backward_ms;
    std::printf("  %-28s %10.2f %7.0f %10.2f %7.0f %7.1f%%\n", p.name.c_str(), p.forward_ms / steps,
                static_cast<double>(p.forward_calls) / steps, p.backward_ms / steps,
                static_cast<double>(p.backward_calls) / steps, 100.0 * tot / std::max(fw + bw, 1e-9));
  }
  std::printf("  %-28s %10.2f %7s %10.2f\n", "total (ops)", fw / steps, "", bw / steps);
}

CaseResult run_case(const std::string& name, const Options& o) {
  const bool big = name == "train64_b32";
  const ModelConfig cfg = big ? model_config("tiny64", 3, 64) : model_config("tiny", 1);
  Generator gen(0);
  TextToImageModel model(cfg, gen);
  CaseResult r;
  r.name = name;
  r.params = 0;
  for (const auto& p : model.parameters()) r.params += p.numel();
  const int steps = o.steps > 0 ? o.steps : (name == "train_b8" ? 40 : 10);
  const int prof_steps = 3;
  double phases[3] = {0, 0, 0};

  if (name == "train_b64" || name == "train_b8" || big) {
    r.batch = name == "train_b64" ? 64 : big ? 32 : 8;
    AdamW opt(model.named_parameters(), {.lr = 2e-4});
    const Tensor x0 = gen.normal({r.batch, cfg.image_channels, cfg.image_size, cfg.image_size});  // (B, C, S, S)
    const Tensor ids = gen.randint(0, cfg.vocab_size, {r.batch, cfg.max_length});
    Trainer tr{model, opt, gen, x0, ids, alpha_bars()};
    for (int i = 0; i < o.warmup + steps; ++i) {
      const double t0 = now_ms(), c0 = cpu_now_ms();
      r.loss = tr.step();
      if (i >= o.warmup) {
        r.step_ms.push_back(now_ms() - t0);
        r.cpu_ms.push_back(cpu_now_ms() - c0);
      }
    }
    r.gflop = training_step_flops(cfg, r.batch) / 1e9;
    if (o.profile) {
      set_profiling_clock(o.profile_cpu ? ProfileClock::ProcessCpu : ProfileClock::Wall);
      set_profiling(true);
      profiler_reset();
      for (int i = 0; i < prof_steps; ++i) tr.step(phases);
      set_profiling(false);
      print_profile(name, prof_steps, phases);
    }
  } else {
    r.batch = 64;
    const NoiseSchedule schedule = make_schedule("linear");
    Sampler sm{model, schedule, gen, Variable(), gen.normal({r.batch, 1, cfg.image_size, cfg.image_size})};
    {
      NoGradGuard no_grad;
      const Tensor ids = gen.randint(0, cfg.vocab_size, {2 * r.batch, cfg.max_length});
      sm.ctx = model.text_encoder.forward(ids, Tensor());  // (2B, L, d), outside the timing (as the peer)
    }
    for (int i = 0; i < o.warmup + steps; ++i) {
      const double t0 = now_ms(), c0 = cpu_now_ms();
      sm.step();
      if (i >= o.warmup) {
        r.step_ms.push_back(now_ms() - t0);
        r.cpu_ms.push_back(cpu_now_ms() - c0);
      }
    }
    r.gflop = forward_flops(cfg, 2 * r.batch, false) / 1e9;
    if (o.profile) {
      set_profiling_clock(o.profile_cpu ? ProfileClock::ProcessCpu : ProfileClock::Wall);
      set_profiling(true);
      profiler_reset();
      for (int i = 0; i < prof_steps; ++i) sm.step(phases);
      set_profiling(false);
      print_profile(name, prof_steps, phases);
    }
  }
  return r;
}

void report(const CaseResult& r, const Options& o, int threads) {
  const double med = median(r.step_ms);
  const double rate = r.gflop / (med * 1e-3);
  const double pct = o.peak > 0 ? 100.0 * rate / o.peak : 0.0;
  const double rss = peak_rss_mb();
  const double mn = *std::min_element(r.step_ms.begin(), r.step_ms.end());
  if (o.json) {
    std::printf(
        "{\"case\": \"%s\", \"batch\": %ld, \"threads\": %d, \"params\": %ld, \"steps\": %zu, \"median_ms\": %.3f, "
        "\"min_ms\": %.3f, \"cpu_ms\": %.3f, \"gflop\": %.3f, \"gflops_per_s\": %.2f, \"sgemm_peak_gflops\": %.2f, "
        "\"pct_peak\": %.2f, \"peak_rss_mb\": %.1f}\n",
        r.name.c_str(), static_cast<long>(r.batch), threads, static_cast<long>(r.params), r.step_ms.size(), med, mn,
        median(r.cpu_ms), r.gflop, rate, o.peak, pct, rss);
  } else {
    std::printf("%-16s %6ld %9.1f %9.1f %9.1f %8.2f %9.1f %7.1f%% %9.1f\n", r.name.c_str(), static_cast<long>(r.batch),
                med, mn, median(r.cpu_ms), r.gflop, rate, pct, rss);
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tinydiff-bench", argc, argv, [&] {
    Options o;
    CLI::App app{
        "tinydiff-bench: end-to-end speed of the tiny text-to-image model (training step, guided sampling "
        "step), each case in its own process",
        "tinydiff-bench"};
    app.add_option("--case", o.only, "Run only this case (default: all)")->check(CLI::IsMember(kCases));
    app.add_option("--threads", o.threads, "Threads for OpenMP and OpenBLAS (0: OMP_NUM_THREADS or the core count)")
        ->check(CLI::Range(0, 4096))
        ->capture_default_str();
    app.add_flag("--json", o.json, "One JSON object per case instead of the table");
    app.add_flag("--profile", o.profile, "Then run a few steps with the autograd profiler and print time by op");
    app.add_flag("--profile-cpu", o.profile_cpu, "As --profile, with times in process CPU time");
    app.add_option("--steps", o.steps, "Timed steps per case (0: the case's default, 10 or 40)")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    app.add_option("--warmup", o.warmup, "Untimed steps before them")
        ->check(CLI::Range(0, 1000000))
        ->capture_default_str();
    app.add_option("--peak", o.peak, "The sgemm peak in GFLOP/s for the 'of peak' column (0: measure it)")
        ->check(CLI::Range(0.0, 1e9))
        ->capture_default_str();
    app.add_flag("--info", o.info, "Print the BLAS in use and the thread count, and exit");
    app.add_flag("--child", o.child, "Internal: run exactly the case --case names, in this process");
    if (!bench::parse_bench_args(app, argc, argv)) return kExitOk;
    if (o.profile_cpu) o.profile = true;
    if (o.child && o.only.empty())
      throw ProgramError(kExitUsage, "--child needs --case", "it is internal: leave it out");
    if (o.threads > 0) {
      omp_set_num_threads(o.threads);
      openblas_set_num_threads(o.threads);
    }
    const int threads = num_threads();
    if (o.info) {
      check_blas_is_openmp();
      std::printf("BLAS: %s; tinydiff threads: %d\n", blas_info().c_str(), threads);
      std::printf("compute: %s\n", compute_summary().c_str());
      return kExitOk;
    }
    if (o.child) {
      report(run_case(o.only, o), o, threads);
      return kExitOk;
    }
    if (o.peak <= 0) o.peak = sgemm_peak_gflops();
    if (!o.json) {
      std::printf("tinydiff-bench: tiny config, 1 image channel, 32x32 (train64_b32: tiny64, RGB, 64x64), %d threads\n",
                  threads);
      std::printf("BLAS: %s; sgemm peak %.1f GFLOP/s\n", blas_info().c_str(), o.peak);
      std::printf("compute: %s\n", compute_summary().c_str());
      std::printf("%-16s %6s %9s %9s %9s %8s %9s %8s %9s\n", "case", "batch", "median_ms", "min_ms", "cpu_ms", "GFLOP",
                  "GFLOP/s", "of peak", "rss_MB");
    }
    // Every case in a fresh process (this program with --child), so that peak RSS is the case's own
    // (and not the sgemm peak measurement's or another case's).
    for (const auto& name : kCases) {
      if (!o.only.empty() && name != o.only) continue;
      std::vector<std::string> args = {"tinydiff-bench", "--child",
                                       "--case",         name,
                                       "--threads",      std::to_string(threads),
                                       "--peak",         fmt::format("{:.3f}", o.peak),
                                       "--warmup",       std::to_string(o.warmup)};
      if (o.json) args.push_back("--json");
      if (o.profile) args.push_back(o.profile_cpu ? "--profile-cpu" : "--profile");
      if (o.steps > 0) args.insert(args.end(), {"--steps", std::to_string(o.steps)});
      std::vector<char*> cargv;
      for (auto& s : args) cargv.push_back(s.data());
      cargv.push_back(nullptr);
      std::fflush(stdout);
      const pid_t pid = fork();
      if (pid == 0) {
        setenv("OMP_NUM_THREADS", std::to_string(threads).c_str(), 1);
        execv("/proc/self/exe", cargv.data());
        _exit(127);
      }
      int status = 0;
      const bool waited = pid > 0 && waitpid(pid, &status, 0) == pid;
      if (!waited || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        // The child printed its own error line; its documented exit code is passed on, anything
        // else (a crash, a failed exec) is unexpected.
        const int code = waited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        const bool documented = code == kExitUsage || code == kExitBadFile || code == kExitTrainingFailed ||
                                code == kExitUnexpected || code == kExitInterrupted;
        throw ProgramError(
            documented ? code : kExitUnexpected,
            fmt::format("case {} failed ({})", name,
                        code >= 0 ? fmt::format("exit code {}", code) : fmt::format("wait status {:#x}", status)),
            "run it alone with --case " + name);
      }
    }
    return kExitOk;
  });
}
