// tinydiff-bench-kernels: how fast are the hot kernels of U-Net training on this machine?
//
// Prints the measured cblas_sgemm peak (a large square product), then, for a few GEMM
// shapes and the U-Net's 3x3 convolutions (batch 64, padding 1; forward, backward-input,
// backward-weight), the median time, the achieved GFLOP/s and the percentage of that peak.
// Float32, the training dtype. `--quick` runs fewer repetitions.
//
//   ./build/bench/tinydiff-bench-kernels [--quick] [--help]
//
// A bad command line is one line on stderr and exit code 1 (tensor/program.h, bench/bench_args.h).
//
// A program, not a test: it asserts nothing. Timings vary with the machine and its load.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench/bench_args.h"
#include "tensor/process_env.h"
#include "tensor/program.h"
#include "tensor/tensor.h"

using namespace tinydiff;

namespace {

// A tensor filled with smooth values in [-1, 1] (no RNG needed; no denormals).
Tensor filled(const Shape& shape, double phase) {
  Tensor t = Tensor::empty(shape, DType::F32);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<float>(std::sin(0.37 * static_cast<double>(i) + phase));
  return t;
}

/// Wall-clock times of repeated runs, in milliseconds.
struct Timing {
  double median_ms;
  double best_ms;
};

// Times `reps` runs of f (after one warm-up run).
Timing time_ms(const std::function<void()>& f, int reps) {
  f();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    const auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  const double median = ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
  return {median, ms.front()};
}

// One table row: median time, the rate it implies and its share of the sgemm peak; the best
// time is shown too (on a loaded machine it is the more telling of the two).
void row(const std::string& name, double flops, Timing t, double peak) {
  const double gflops = flops / (t.median_ms * 1e-3) / 1e9;
  std::printf("  %-50s %9.3f ms %8.1f GFLOP/s %6.1f %%   (best %.3f ms)\n", name.c_str(), t.median_ms, gflops,
              100.0 * gflops / peak, t.best_ms);
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tinydiff-bench-kernels", argc, argv, [&] {
    bool quick = false;
    CLI::App app{"tinydiff-bench-kernels: the sgemm peak, GEMM shapes and the U-Net's conv2d kernels (float32)",
                 "tinydiff-bench-kernels"};
    app.add_flag("--quick", quick, "3 repetitions instead of 10 (7 for the sgemm peak)");
    if (!bench::parse_bench_args(app, argc, argv)) return kExitOk;
    const int reps = quick ? 3 : 10;
    const int peak_reps = quick ? 3 : 7;
    check_blas_is_openmp();
    std::printf("tinydiff kernel benchmark (float32%s)\n", quick ? ", --quick" : "");
    std::printf("BLAS: %s; tinydiff threads: %d\n", blas_info().c_str(), num_threads());
    std::printf("compute: %s\n\n", compute_summary().c_str());

    // --- sgemm peak -------------------------------------------------------------------
    const int64_t n = 2048;
    const Tensor pa = filled({n, n}, 0.1), pb = filled({n, n}, 0.2);
    Tensor pc = Tensor::empty({n, n});
    const double peak_ms = time_ms(
                               [&] {
                                 gemm<float>(false, false, n, n, n, 1.0f, pa.data<float>(), n, pb.data<float>(), n,
                                             0.0f, pc.data<float>(), n);
                               },
                               peak_reps)
                               .median_ms;
    const double peak = 2.0 * n * n * n / (peak_ms * 1e-3) / 1e9;
    std::printf("sgemm peak (2048 x 2048 x 2048, median of %d): %.3f ms, %.1f GFLOP/s\n\n", peak_reps, peak_ms, peak);

    // --- GEMM shapes --------------------------------------------------------------------
    std::printf("GEMM shapes (median of %d)                              median       rate     of peak\n", reps);
    {
      const Tensor a = filled({512, 512}, 0.3), b = filled({512, 512}, 0.4);
      row("matmul (512, 512) @ (512, 512)", 2.0 * 512 * 512 * 512, time_ms([&] { matmul(a, b); }, reps), peak);
    }
    {
      // One image of the 32-channel 3x3 convolution at 32x32: w (32, 288) @ cols (288, 1024).
      const Tensor w = filled({32, 288}, 0.5), cols = filled({288, 1024}, 0.6);
      row("matmul (32, 288) @ (288, 1024)  [conv, one image]", 2.0 * 32 * 288 * 1024,
          time_ms([&] { matmul(w, cols); }, reps), peak);
    }
    {
      // Attention at 8x8 with 64 channels, 4 heads of 16: q (B, H, L, D) @ k^T.
      const Tensor q = filled({64, 4, 64, 16}, 0.7), k = filled({64, 4, 64, 16}, 0.8);
      const Tensor kt = k.transpose(-2, -1);
      row("matmul (64, 4, 64, 16) @ (64, 4, 16, 64)  [scores]", 2.0 * 256 * 64 * 64 * 16,
          time_ms([&] { matmul(q, kt); }, reps), peak);
      const Tensor p = filled({64, 4, 64, 64}, 0.9);
      row("matmul (64, 4, 64, 64) @ (64, 4, 64, 16)  [p @ v]", 2.0 * 256 * 64 * 64 * 16,
          time_ms([&] { matmul(p, q); }, reps), peak);
    }
    {
      // QKV projection of the 8x8 attention tokens: (B*L, C) -> (B*L, 3C).
      const Tensor x = filled({64, 64, 64}, 1.0), w = filled({192, 64}, 1.1), b = filled({192}, 1.2);
      row("linear (64, 64, 64) -> 192  [qkv]", 2.0 * 4096 * 64 * 192, time_ms([&] { linear(x, w, b); }, reps), peak);
    }

    // --- U-Net convolutions ---------------------------------------------------------------
    struct ConvShape {
      int64_t C, H;
    };
    const int64_t B = 64;
    for (const ConvShape& s : {ConvShape{32, 32}, ConvShape{64, 16}, ConvShape{64, 8}}) {
      std::printf("\nconv2d 3x3 pad 1, B=%ld, %ld -> %ld channels at %ldx%ld (median of %d)\n", static_cast<long>(B),
                  static_cast<long>(s.C), static_cast<long>(s.C), static_cast<long>(s.H), static_cast<long>(s.H), reps);
      const Tensor x = filled({B, s.C, s.H, s.H}, 1.3), w = filled({s.C, s.C, 3, 3}, 1.4), b = filled({s.C}, 1.5);
      const Tensor g = filled({B, s.C, s.H, s.H}, 1.6);
      const double flops = 2.0 * B * s.C * s.C * 9 * s.H * s.H;
      row("forward", flops, time_ms([&] { conv2d(x, w, b, 1, 1); }, reps), peak);
      row("backward-input", flops, time_ms([&] { conv2d_backward_input(g, w, x.shape(), 1, 1); }, reps), peak);
      row("backward-weight", flops, time_ms([&] { conv2d_backward_weight(g, x, w.shape(), 1, 1); }, reps), peak);
    }
    return kExitOk;
  });
}
