// Tutorial 1: tensors — shapes, strides, views, broadcasting and a GEMM. The lesson is lesson.md;
// the code between //! [name] markers is shown there.
#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>

#include "diffusion/data/fashion_mnist.h"
#include "diffusion/data/image_io.h"
#include "tensor/program.h"
#include "tensor/tensor.h"
#include "tutorials/common/args.h"
#include "tutorials/common/plot.h"

using namespace tinydiff;
using namespace tinydiff::tutorial;

namespace {

void describe(const std::string& name, const Tensor& t) {
  fmt::print("{:<12} shape {:<12} strides {:<12} offset {:<3} contiguous {}\n", name, shape_str(t.shape()),
             shape_str(t.strides()), t.offset(), t.is_contiguous() ? "yes" : "no");
}

//! [strided_matmul]
// C = A B for 2-d float32 tensors of any strides: element (i, k) of A is at
// a[i * sa0 + k * sa1]. A transposed view needs no copy; only the strides differ.
Tensor matmul_strided(const Tensor& A, const Tensor& B) {
  const int64_t m = A.size(0), kk = A.size(1), n = B.size(1);
  Tensor C = Tensor::zeros({m, n});  // (m, n), contiguous
  const float* a = A.data<float>();  // points at element (0, 0) of the view
  const float* b = B.data<float>();
  float* c = C.data<float>();
  const int64_t sa0 = A.strides()[0], sa1 = A.strides()[1], sb0 = B.strides()[0], sb1 = B.strides()[1];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int64_t k = 0; k < kk; ++k) acc += a[i * sa0 + k * sa1] * b[k * sb0 + j * sb1];
      c[i * n + j] = acc;
    }
  return C;
}
//! [strided_matmul]

// Seconds per call of f: the best of 5 rounds, each averaging enough calls to take budget / 5
// seconds. The minimum is the least disturbed by other programs sharing the cores.
template <typename F>
double seconds_per_call(F&& f, double budget) {
  using clock = std::chrono::steady_clock;
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    int64_t calls = 0;
    const auto start = clock::now();
    double elapsed = 0.0;
    do {
      f();
      ++calls;
      elapsed = std::chrono::duration<double>(clock::now() - start).count();
    } while (elapsed < budget / 5);
    best = std::min(best, elapsed / static_cast<double>(calls));
  }
  return best;
}

// The lesson's program; main() runs it through run_program (one-line errors, documented exit codes).
int tutorial_main(int argc, char** argv) {
  const TutorialArgs args = parse_tutorial_args(argc, argv, "01_tensors", "shapes, strides, views, broadcasting, GEMM");

  heading("1. Shape and strides");
  //! [strides]
  Tensor x = Tensor::arange(0, 24).reshape({2, 3, 4});  // values 0, 1, ..., 23 in row-major order
  describe("x", x);                                     // shape (2, 3, 4), strides (12, 4, 1)
  // Element (i, j, k) lives at storage position offset + 12 i + 4 j + k:
  fmt::print("x[1, 2, 3] = {} = storage[12*1 + 4*2 + 3]\n", x.at({1, 2, 3}));
  //! [strides]

  heading("2. Views share storage");
  //! [views]
  Tensor xt = x.transpose(1, 2);  // (2, 4, 3): the strides are swapped, nothing is copied
  describe("x.T(1,2)", xt);
  xt.set({0, 0, 1}, 100.0);  // writes storage[4], which is also x[0, 1, 0]
  fmt::print("after xt[0, 0, 1] = 100: x[0, 1, 0] = {}\n", x.at({0, 1, 0}));
  Tensor every_other = x.slice(2, 0, 4, 2);  // (2, 3, 2): the last stride doubles
  describe("x[..., ::2]", every_other);
  Tensor row = x.slice(0, 0, 1).slice(1, 0, 1);  // (1, 1, 4), offset 0
  Tensor repeated = row.expand({2, 3, 4});       // stride 0 on the broadcast axes
  describe("row.expand", repeated);
  Tensor copy = xt.contiguous();  // a real copy, laid out row-major again
  describe("xt.contig", copy);
  fmt::print("x and xt share storage: {}; x and copy: {}\n", x.storage() == xt.storage() ? "yes" : "no",
             x.storage() == copy.storage() ? "yes" : "no");
  //! [views]

  heading("3. Views of an image");
  const FashionMnist fm = load_fashion_mnist(FashionSplit::Test, kFashionMnistDir, 1, /*pad_to_32=*/false);
  fmt::print("Fashion-MNIST test item 0 (class {}), shape {}\n", fashion_class_name(fm.labels.at({0})),
             shape_str(fm.images.shape()));
  //! [image_views]
  Tensor img = fm.images.squeeze(0);                              // (1, 28, 28), values in [-1, 1]
  Tensor transposed = img.transpose(1, 2);                        // mirrored across the diagonal
  Tensor subsampled = img.slice(1, 0, 28, 2).slice(2, 0, 28, 2);  // (1, 14, 14): every second pixel
  Tensor crop = img.slice(1, 7, 21).slice(2, 7, 21);              // (1, 14, 14): the centre
  Tensor one_row = img.slice(1, 14, 15).expand({1, 28, 28});      // row 14 repeated, stride 0 along H
  //! [image_views]
  describe("img", img);
  describe("transposed", transposed);
  describe("subsampled", subsampled);
  describe("crop", crop);
  describe("one_row", one_row);
  const Tensor views = stack({img, transposed.contiguous(), enlarge(subsampled.contiguous(), 2),
                              enlarge(crop.contiguous(), 2), one_row.contiguous()},
                             0);  // (5, 1, 28, 28)
  save_png(args.path("t01_views.png"), enlarge(make_grid(views, 5, 2, 1.0), 3));

  heading("4. Broadcasting");
  //! [broadcast]
  const double pi = std::numbers::pi;
  Tensor ramp = Tensor::arange(0, 64).reshape({64, 1}) / 63.0;                // (64, 1): 0 at the top, 1 at the bottom
  Tensor wave = sin(Tensor::arange(0, 64).reshape({1, 64}) * (2 * pi / 32));  // (1, 64): two periods across
  Tensor product = ramp * wave;  // (64, 1) * (1, 64) -> (64, 64): product[i][j] = ramp[i] * wave[j]
  //! [broadcast]
  describe("ramp", ramp);
  describe("wave", wave);
  describe("product", product);
  // ramp is in [0, 1]; show it in [-1, 1] like the others.
  const Tensor panels =
      stack({(ramp * 2.0 - 1.0).expand({64, 64}).contiguous(), wave.expand({64, 64}).contiguous(), product},
            0)
          .unsqueeze(1);  // (3, 1, 64, 64)
  save_png(args.path("t01_broadcast.png"), enlarge(make_grid(panels, 3, 2, 1.0), 2));

  //! [bias]
  Generator gen(0);
  Tensor images = gen.normal({8, 3, 32, 32});                                   // (B, C, H, W)
  Tensor bias = Tensor::from_vector({0.5, -1.0, 2.0}, {3}).reshape({3, 1, 1});  // one value per channel
  Tensor shifted = images + bias;                                               // (8, 3, 32, 32)
  //! [bias]
  fmt::print(
      "(8, 3, 32, 32) + (3, 1, 1) -> {}; channel means before {:.3f} {:.3f} {:.3f}, after {:.3f} {:.3f} {:.3f}\n",
      shape_str(shifted.shape()), mean(images.slice(1, 0, 1)).item(), mean(images.slice(1, 1, 2)).item(),
      mean(images.slice(1, 2, 3)).item(), mean(shifted.slice(1, 0, 1)).item(), mean(shifted.slice(1, 1, 2)).item(),
      mean(shifted.slice(1, 2, 3)).item());
  //! [broadcast_error]
  try {
    add(Tensor::zeros({4, 3}), Tensor::zeros({2, 3}));
  } catch (const Error& e) {
    fmt::print("error: {}\n", e.what());
  }
  //! [broadcast_error]

  heading("5. A GEMM");
  fmt::print("BLAS: {}\n", blas_info());
  //! [gemm]
  Tensor a = gen.normal({256, 256}), b = gen.normal({256, 256});
  Tensor c_blas = matmul(a, b);                          // OpenBLAS sgemm
  Tensor c_loop = matmul_strided(a, b);                  // the triple loop above
  Tensor c_view = matmul_strided(a, b.transpose(0, 1));  // B^T as a view: same loop, other strides
  fmt::print("max |blas - loop| = {:.2e}, max |loop(B^T) - blas(B^T)| = {:.2e}\n", max_abs_diff(c_blas, c_loop),
             max_abs_diff(c_view, matmul(a, b.transpose(0, 1))));
  //! [gemm]

  // Speed: 2 n^3 flops per product, all three on one core (one OpenMP thread), so that the
  // comparison is about the code and not about how busy the other cores are.
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  const std::vector<int64_t> sizes =
      args.quick ? std::vector<int64_t>{16, 32, 64} : std::vector<int64_t>{16, 32, 64, 128, 256, 512};
  const double budget = args.quick ? 0.01 : 0.25;
  Series s_loop{.title = "triple loop (matmul\\_strided)", .with = "linespoints lw 2 pt 7"};
  Series s_naive{.title = "matmul\\_naive (library reference)", .with = "linespoints lw 2 pt 5"};
  Series s_blas{.title = "matmul (OpenBLAS sgemm)", .with = "linespoints lw 2 pt 9"};
  fmt::print("{:>6} {:>14} {:>14} {:>14}   (GFLOP/s)\n", "n", "triple loop", "matmul_naive", "OpenBLAS");
  for (int64_t n : sizes) {
    const Tensor p = gen.normal({n, n}), q = gen.normal({n, n});
    const double flops = 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n);
    const double t_loop = seconds_per_call([&] { matmul_strided(p, q); }, budget);
    const double t_naive = seconds_per_call([&] { matmul_naive(p, q); }, budget);
    const double t_blas = seconds_per_call([&] { matmul(p, q); }, budget);
    fmt::print("{:>6} {:>14.2f} {:>14.2f} {:>14.2f}\n", n, flops / t_loop * 1e-9, flops / t_naive * 1e-9,
               flops / t_blas * 1e-9);
    for (Series* s : {&s_loop, &s_naive, &s_blas}) s->x.push_back(static_cast<double>(n));
    s_loop.y.push_back(flops / t_loop * 1e-9);
    s_naive.y.push_back(flops / t_naive * 1e-9);
    s_blas.y.push_back(flops / t_blas * 1e-9);
  }
  omp_set_num_threads(threads);
  Chart speed{.title = "C = AB for n x n float32 matrices, one core",
              .xlabel = "n",
              .ylabel = "GFLOP/s (2n^3 flops per product)",
              .series = {s_loop, s_naive, s_blas},
              .logx = true,
              .logy = true,
              .key = "top left"};
  save_figure(args.out, "t01_gemm", Figure{.panels = {speed}});
  fmt::print("\nfigures: t01_views.png t01_broadcast.png t01_gemm.png\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return run_program("tutorial_01_tensors", argc, argv, [&] { return tutorial_main(argc, argv); });
}
