// Matrix products: GEMM through OpenBLAS, matmul with batch broadcasting, linear. See linalg.h.
#include "tensor/linalg.h"

#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <optional>
#include <sstream>
#include <type_traits>

#include "tensor/dispatch.h"

namespace tinydiff {

// ---------------------------------------------------------------------------------------
// The BLAS

namespace {
std::once_flag blas_checked;
bool blas_is_openmp = false;

// Runs the OpenMP check once per process; later calls only re-read the cached answer.
void ensure_blas() {
  std::call_once(blas_checked, [] { blas_is_openmp = openblas_get_parallel() == 2; });
  TD_CHECK(blas_is_openmp, "gemm",
           fmt::format("the pthread build of OpenBLAS is linked (openblas_get_parallel() = {}, expected 2 for the "
                       "OpenMP build); install libopenblas-openmp-dev and rebuild",
                       openblas_get_parallel()));
}
}  // namespace

void check_blas_is_openmp() { ensure_blas(); }

std::string blas_info() {
  // openblas_get_config() reads e.g. "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ... USE_OPENMP Haswell MAX_THREADS=64".
  std::istringstream config(openblas_get_config());
  std::string name, version;
  config >> name >> version;
  const int parallel = openblas_get_parallel();
  const char* build = parallel == 2 ? "OpenMP build" : parallel == 1 ? "pthread build" : "sequential build";
  return fmt::format("{} {} ({}, {} kernels), {} threads", name, version, build, openblas_get_corename(),
                     openblas_get_num_threads());
}

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc) {
  ensure_blas();
  // Stored shapes (row-major): A is (m, k), or (k, m) when transposed; B is (k, n), or (n, k).
  const int64_t a_cols = trans_a ? m : k, b_cols = trans_b ? k : n;
  TD_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm", fmt::format("negative extent: m={}, n={}, k={}", m, n, k));
  TD_CHECK(lda >= std::max<int64_t>(1, a_cols) && ldb >= std::max<int64_t>(1, b_cols) && ldc >= std::max<int64_t>(1, n),
           "gemm",
           fmt::format("leading dimensions too small: lda={} (need >= {}), ldb={} (need >= {}), ldc={} (need >= {})",
                       lda, a_cols, ldb, b_cols, ldc, n));
  TD_CHECK(std::max({m, n, k, lda, ldb, ldc}) <= INT_MAX, "gemm",
           fmt::format("extents exceed the 32-bit BLAS interface: m={}, n={}, k={}, lda={}, ldb={}, ldc={}", m, n, k,
                       lda, ldb, ldc));
  if (m == 0 || n == 0) return;
  if (k == 0) {  // C <- beta C (the product is empty); done here so beta == 0 also clears NaNs.
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    return;
  }
  const auto ta = trans_a ? CblasTrans : CblasNoTrans, tb = trans_b ? CblasTrans : CblasNoTrans;
  const auto M = static_cast<blasint>(m), N = static_cast<blasint>(n), K = static_cast<blasint>(k);
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta,
                c, static_cast<blasint>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb), beta,
                c, static_cast<blasint>(ldc));
  }
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t);

// ---------------------------------------------------------------------------------------
// Shapes and layouts shared by matmul, matmul_naive and linear

namespace {

/// How a (rows, cols) matrix stored with row stride rs and column stride cs is handed to BLAS:
/// row-major (trans = false, element (i, j) at i*ld + j) or column-major (trans = true, the
/// stored matrix is its transpose, element (i, j) at j*ld + i). nullopt when neither fits.
struct BlasLayout {
  bool trans;
  int64_t ld;
};

std::optional<BlasLayout> blas_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if ((cs == 1 || cols <= 1) && (rows <= 1 || (rs >= std::max<int64_t>(cols, 1) && rs <= INT_MAX)))
    return BlasLayout{false, rows <= 1 ? std::max<int64_t>(cols, 1) : rs};
  if ((rs == 1 || rows <= 1) && (cols <= 1 || (cs >= std::max<int64_t>(rows, 1) && cs <= INT_MAX)))
    return BlasLayout{true, cols <= 1 ? std::max<int64_t>(rows, 1) : cs};
  return std::nullopt;
}

/// The operands of a matmul after 1-d promotion and batch broadcasting.
struct MatmulPlan {
  Tensor a;         // (batch..., M, K), batch axes expanded (stride 0 where broadcast)
  Tensor b;         // (batch..., K, N)
  Shape batch;      // broadcast batch shape
  int64_t m, n, k;  // matrix extents
  Shape out_shape;  // final result shape (promoted axes removed)
  int64_t nbatch;   // product of batch
};

MatmulPlan plan_matmul(const Tensor& a, const Tensor& b, const char* op) {
  check_floating(a, op);
  check_floating(b, op);
  TD_CHECK(a.dtype() == b.dtype(), op,
           fmt::format("dtypes differ: {} {} @ {} {}; convert one with .to()", dtype_name(a.dtype()),
                       shape_str(a.shape()), dtype_name(b.dtype()), shape_str(b.shape())));
  TD_CHECK(
      a.dim() >= 1 && b.dim() >= 1, op,
      fmt::format("both operands need at least one axis, got {} @ {}", shape_str(a.shape()), shape_str(b.shape())));
  // 1-d promotion: a (K) -> (1, K); b (K) -> (K, 1).
  const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  MatmulPlan p;
  p.m = a2.size(-2);
  p.k = a2.size(-1);
  p.n = b2.size(-1);
  TD_CHECK(b2.size(-2) == p.k, op,
           fmt::format("inner dimensions differ: {} @ {}; expected a.shape[-1] == b.shape[{}]", shape_str(a.shape()),
                       shape_str(b.shape()), b.dim() == 1 ? "0" : "-2"));
  // Broadcast the batch axes (all but the last two), aligned at the right.
  const Shape ba(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
  const size_t nb = std::max(ba.size(), bb.size());
  p.batch.assign(nb, 1);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t ea = i + ba.size() >= nb ? ba[i + ba.size() - nb] : 1;
    const int64_t eb = i + bb.size() >= nb ? bb[i + bb.size() - nb] : 1;
    TD_CHECK(
        ea == eb || ea == 1 || eb == 1, op,
        fmt::format("batch dimensions do not broadcast: {} @ {}; axis {} has extents {} and {}", shape_str(a.shape()),
                    shape_str(b.shape()), static_cast<int64_t>(i) - static_cast<int64_t>(nb) - 2, ea, eb));
    p.batch[i] = ea == 1 ? eb : ea;
  }
  p.nbatch = shape_numel(p.batch);
  Shape sa = p.batch, sb = p.batch;
  sa.insert(sa.end(), {p.m, p.k});
  sb.insert(sb.end(), {p.k, p.n});
  p.a = a2.expand(sa);
  p.b = b2.expand(sb);
  p.out_shape = p.batch;
  if (a.dim() > 1) p.out_shape.push_back(p.m);
  if (b.dim() > 1) p.out_shape.push_back(p.n);
  return p;
}

/// Element offsets of every batch matrix of `t` (batch axes first, in row-major batch order).
std::vector<int64_t> batch_offsets(const Tensor& t, size_t nbatch_axes, int64_t count) {
  std::vector<int64_t> off(static_cast<size_t>(count), 0);
  std::vector<int64_t> idx(nbatch_axes, 0);
  int64_t cur = 0;
  for (int64_t i = 0; i < count; ++i) {
    off[static_cast<size_t>(i)] = cur;
    for (int64_t d = static_cast<int64_t>(nbatch_axes) - 1; d >= 0; --d) {
      if (++idx[d] < t.shape()[d]) {
        cur += t.strides()[d];
        break;
      }
      cur -= (idx[d] - 1) * t.strides()[d];
      idx[d] = 0;
    }
  }
  return off;
}

/// Row stride when the batch axes and the row axis of `t` (batch..., rows, cols) collapse into
/// one axis of rows (so the whole stack is a single row-major matrix); nullopt otherwise.
std::optional<int64_t> stacked_row_stride(const Tensor& t) {
  const int64_t nd = t.dim();
  if (!(t.strides()[nd - 1] == 1 || t.shape()[nd - 1] <= 1)) return std::nullopt;
  std::optional<int64_t> inner;  // the innermost non-trivial axis among batch..., rows
  int64_t expect = 0;
  for (int64_t d = nd - 2; d >= 0; --d) {
    if (t.shape()[d] == 1) continue;
    if (!inner) {
      inner = t.strides()[d];
    } else if (t.strides()[d] != expect) {
      return std::nullopt;
    }
    expect = t.strides()[d] * t.shape()[d];
  }
  if (!inner || *inner < std::max<int64_t>(t.shape()[nd - 1], 1) || *inner > INT_MAX) return std::nullopt;
  return inner;
}

// Number of row blocks a GEMM over `rows` rows is cut into when run as tasks: about four per
// thread, at least 32 rows a block; 1 (one GEMM, threaded by OpenBLAS) with one thread.
int64_t row_blocks(int64_t rows) {
  const int64_t nt = num_threads();
  if (nt == 1) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(4 * nt, rows / 32));
}

// Per-matrix work below which the batch loop runs in parallel with single-threaded GEMMs.
constexpr int64_t kSmallGemmFlops = int64_t{1} << 25;

}  // namespace

// ---------------------------------------------------------------------------------------
// matmul

Tensor matmul(const Tensor& a, const Tensor& b) {
  MatmulPlan p = plan_matmul(a, b, "matmul");
  check_blas_is_openmp();
  const size_t nbatch_axes = p.batch.size();
  Shape full = p.batch;
  full.insert(full.end(), {p.m, p.n});
  Tensor out = Tensor::empty(full, a.dtype());  // (batch..., M, N), contiguous
  if (out.numel() == 0) return out.reshape(p.out_shape);
  if (p.k == 0) {
    out.fill_(0.0);
    return out.reshape(p.out_shape);
  }
  // Operands whose matrices are neither row- nor column-major are copied (rare: e.g. a
  // slice with a step along the last axis). Copy before expansion so broadcasts stay views.
  auto layout_of = [&](Tensor& t, int64_t rows, int64_t cols, const Tensor& orig_2d) {
    const int64_t nd = t.dim();
    auto l = blas_layout(rows, cols, t.strides()[nd - 2], t.strides()[nd - 1]);
    if (!l) {
      t = orig_2d.contiguous().expand(t.shape());
      l = blas_layout(rows, cols, t.strides()[nd - 2], t.strides()[nd - 1]);
    }
    return *l;
  };
  const BlasLayout la = layout_of(p.a, p.m, p.k, a.dim() == 1 ? a.unsqueeze(0) : a);
  const BlasLayout lb = layout_of(p.b, p.k, p.n, b.dim() == 1 ? b.unsqueeze(1) : b);

  dispatch_floating(a.dtype(), "matmul", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = p.a.template data<T>();
    const T* pb = p.b.template data<T>();
    T* pc = out.template data<T>();
    // b shared by every batch and a's matrices stacked row-major: one GEMM with M' = batch * M.
    bool b_shared = true;
    for (size_t d = 0; d < nbatch_axes; ++d) b_shared = b_shared && (p.b.strides()[d] == 0 || p.batch[d] == 1);
    if (p.nbatch > 1 && b_shared) {
      if (auto rs = stacked_row_stride(p.a)) {
        gemm<T>(false, lb.trans, p.nbatch * p.m, p.n, p.k, T(1), pa, *rs, pb, lb.ld, T(0), pc, p.n);
        return;
      }
    }
    const std::vector<int64_t> oa = batch_offsets(p.a, nbatch_axes, p.nbatch);
    const std::vector<int64_t> ob = batch_offsets(p.b, nbatch_axes, p.nbatch);
    const int64_t flops = 2 * p.m * p.n * p.k;
    auto run = [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        gemm<T>(la.trans, lb.trans, p.m, p.n, p.k, T(1), pa + oa[i], la.ld, pb + ob[i], lb.ld, T(0), pc + i * p.m * p.n,
                p.n);
    };
    if (p.nbatch >= num_threads() && (flops < kSmallGemmFlops || p.nbatch >= 4 * num_threads())) {
      // Many small products: threads over batches; OpenBLAS (OpenMP build) runs each GEMM on
      // one thread inside the parallel region.
      parallel_for(p.nbatch, flops, run);
    } else {
      run(0, p.nbatch);  // few large products: each GEMM uses all threads
    }
  });
  return out.reshape(p.out_shape);
}

Tensor matmul_naive(const Tensor& a, const Tensor& b) {
  MatmulPlan p = plan_matmul(a, b, "matmul_naive");
  const Tensor ac = p.a.contiguous();  // (nbatch, M, K) in memory, broadcasts materialised
  const Tensor bc = p.b.contiguous();  // (nbatch, K, N)
  Shape full = p.batch;
  full.insert(full.end(), {p.m, p.n});
  Tensor out = Tensor::empty(full, a.dtype());
  dispatch_floating(a.dtype(), "matmul_naive", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = ac.template data<T>();
    const T* pb = bc.template data<T>();
    T* pc = out.template data<T>();
    for (int64_t bi = 0; bi < p.nbatch; ++bi)
      for (int64_t i = 0; i < p.m; ++i)
        for (int64_t j = 0; j < p.n; ++j) {
          double acc = 0.0;
          for (int64_t q = 0; q < p.k; ++q)
            acc +=
                static_cast<double>(pa[(bi * p.m + i) * p.k + q]) * static_cast<double>(pb[(bi * p.k + q) * p.n + j]);
          pc[(bi * p.m + i) * p.n + j] = static_cast<T>(acc);
        }
  });
  return out.reshape(p.out_shape);
}

// ---------------------------------------------------------------------------------------
// linear

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_floating(x, "linear");
  check_floating(weight, "linear");
  TD_CHECK(weight.dim() == 2, "linear",
           fmt::format("expected weight of shape (out_features, in_features), got {}", shape_str(weight.shape())));
  TD_CHECK(x.dim() >= 1, "linear", fmt::format("expected x of shape (..., in_features), got {}", shape_str(x.shape())));
  const int64_t out_f = weight.size(0), in_f = weight.size(1);
  TD_CHECK(x.size(-1) == in_f, "linear",
           fmt::format("x {} has {} input features but weight {} expects {} (weight is (out_features, in_features))",
                       shape_str(x.shape()), x.size(-1), shape_str(weight.shape()), in_f));
  TD_CHECK(x.dtype() == weight.dtype(), "linear",
           fmt::format("dtypes differ: x is {}, weight is {}", dtype_name(x.dtype()), dtype_name(weight.dtype())));
  if (bias.defined()) {
    TD_CHECK(bias.dim() == 1 && bias.size(0) == out_f, "linear",
             fmt::format("bias has shape {} but weight {} needs ({},)", shape_str(bias.shape()),
                         shape_str(weight.shape()), out_f));
    TD_CHECK(bias.dtype() == x.dtype(), "linear",
             fmt::format("dtypes differ: x is {}, bias is {}", dtype_name(x.dtype()), dtype_name(bias.dtype())));
  }
  check_blas_is_openmp();
  const int64_t rows = shape_numel(Shape(x.shape().begin(), x.shape().end() - 1));
  Tensor x2 = x.reshape({rows, in_f});  // (N, in): a view whenever the layout allows
  auto lx = blas_layout(rows, in_f, x2.strides()[0], x2.strides()[1]);
  if (!lx) {
    x2 = x2.contiguous();
    lx = blas_layout(rows, in_f, x2.strides()[0], x2.strides()[1]);
  }
  Tensor w = weight;  // (out, in)
  auto lw = blas_layout(out_f, in_f, w.strides()[0], w.strides()[1]);
  if (!lw) {
    w = w.contiguous();
    lw = blas_layout(out_f, in_f, w.strides()[0], w.strides()[1]);
  }
  Shape out_shape(x.shape().begin(), x.shape().end() - 1);
  out_shape.push_back(out_f);
  Tensor y = Tensor::empty({rows, out_f}, x.dtype());  // (N, out)
  if (y.numel() == 0) return y.reshape(out_shape);
  const Tensor bc = bias.defined() ? bias.contiguous() : Tensor();
  dispatch_floating(x.dtype(), "linear", [&](auto tag) {
    using T = decltype(tag);
    T* py = y.template data<T>();
    const T* pb = bc.defined() ? bc.template data<T>() : nullptr;
    const T* px = x2.template data<T>();
    const T* pw = w.template data<T>();
    // y rows [r0, r1) = bias + x rows @ W^T (W stored row-major needs trans_b). x's rows are
    // x2 + r * ld when row-major, columns of the stored transpose otherwise.
    auto block = [&](int64_t r0, int64_t r1) {
      if (pb)
        for (int64_t r = r0; r < r1; ++r) std::copy(pb, pb + out_f, py + r * out_f);
      const T* xa = lx->trans ? px + r0 : px + r0 * lx->ld;
      gemm<T>(lx->trans, !lw->trans, r1 - r0, out_f, in_f, T(1), xa, lx->ld, pw, lw->ld, pb ? T(1) : T(0),
              py + r0 * out_f, out_f);
    };
    const int64_t nb = row_blocks(rows);
    // Row blocks as tasks with single-threaded GEMMs (one parallel region); a single block
    // runs on the calling thread, where the GEMM may use every thread.
    parallel_tasks(nb, 2 * (rows / nb) * out_f * in_f,
                   [&](int64_t i, int) { block(i * rows / nb, (i + 1) * rows / nb); });
  });
  return y.reshape(out_shape);
}

LinearGrads linear_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, bool need_input,
                            bool need_weight, bool need_bias) {
  const char* op = "linear_backward";
  check_floating(grad_out, op);
  TD_CHECK(grad_out.dim() >= 1, op,
           fmt::format("expected grad_out of shape (..., out), got {}", shape_str(grad_out.shape())));
  const int64_t out_f = grad_out.size(-1);
  const int64_t rows = shape_numel(Shape(grad_out.shape().begin(), grad_out.shape().end() - 1));
  int64_t in_f = 0;
  if (need_input) {
    check_floating(weight, op);
    TD_CHECK(weight.dim() == 2 && weight.size(0) == out_f && weight.dtype() == grad_out.dtype(), op,
             fmt::format("weight {} {} does not match grad_out {} {}", shape_str(weight.shape()),
                         dtype_name(weight.dtype()), shape_str(grad_out.shape()), dtype_name(grad_out.dtype())));
    in_f = weight.size(1);
  }
  if (need_weight) {
    check_floating(x, op);
    TD_CHECK(x.dim() == grad_out.dim() && x.dtype() == grad_out.dtype() &&
                 std::equal(x.shape().begin(), x.shape().end() - 1, grad_out.shape().begin()),
             op,
             fmt::format("input {} {} does not match grad_out {} {}", shape_str(x.shape()), dtype_name(x.dtype()),
                         shape_str(grad_out.shape()), dtype_name(grad_out.dtype())));
    TD_CHECK(!need_input || x.size(-1) == in_f, op,
             fmt::format("input {} does not match weight {}", shape_str(x.shape()), shape_str(weight.shape())));
    in_f = x.size(-1);
  }
  check_blas_is_openmp();
  const DType dt = grad_out.dtype();
  const Tensor g = grad_out.contiguous().reshape({rows, out_f});                    // g: (N, out)
  const Tensor xc = need_weight ? x.contiguous().reshape({rows, in_f}) : Tensor();  // x: (N, in)
  const Tensor wc = need_input ? weight.contiguous() : Tensor();                    // W: (out, in)
  LinearGrads res;
  if (need_input) {
    Shape s = grad_out.shape();
    s.back() = in_f;
    res.input = Tensor::empty(s, dt);  // (..., in)
  }
  if (need_weight) res.weight = Tensor::empty({out_f, in_f}, dt);
  if (need_bias) res.bias = Tensor::empty({out_f}, dt);
  if (rows == 0 || out_f == 0 || (need_weight && in_f == 0)) {
    for (Tensor* t : {&res.input, &res.weight, &res.bias})
      if (t->defined()) t->fill_(0.0);
    return res;
  }
  dispatch_floating(dt, op, [&](auto tag) {
    using T = decltype(tag);
    const T* pg = g.template data<T>();
    // Tasks [0, nr): row blocks of dx = g W.  Tasks [nr, nr + nf): blocks of output features
    // for dW = g^T x and db = column sums of g (each block reads every row: no partial sums).
    const int64_t nr = need_input ? row_blocks(rows) : 0;
    const int64_t nf =
        need_weight || need_bias ? std::max<int64_t>(1, std::min<int64_t>(2 * num_threads(), out_f / 8)) : 0;
    auto task = [&](int64_t i, int) {
      if (i < nr) {
        const int64_t r0 = i * rows / nr, r1 = (i + 1) * rows / nr;
        gemm<T>(false, false, r1 - r0, in_f, out_f, T(1), pg + r0 * out_f, out_f, wc.template data<T>(), in_f, T(0),
                res.input.template data<T>() + r0 * in_f, in_f);
        return;
      }
      const int64_t j = i - nr, o0 = j * out_f / nf, o1 = (j + 1) * out_f / nf;
      if (need_weight)  // dW[o0:o1] (o, in) = g[:, o0:o1]^T (o, N) @ x (N, in)
        gemm<T>(true, false, o1 - o0, in_f, rows, T(1), pg + o0, out_f, xc.template data<T>(), in_f, T(0),
                res.weight.template data<T>() + o0 * in_f, in_f);
      if (need_bias) {  // db_o = sum_n g[n, o], rows in order, in double
        std::vector<double> acc(static_cast<size_t>(o1 - o0), 0.0);
        for (int64_t n = 0; n < rows; ++n) {
          const T* gr = pg + n * out_f + o0;
          for (int64_t o = 0; o < o1 - o0; ++o) acc[static_cast<size_t>(o)] += static_cast<double>(gr[o]);
        }
        T* db = res.bias.template data<T>();
        for (int64_t o = o0; o < o1; ++o) db[o] = static_cast<T>(acc[static_cast<size_t>(o - o0)]);
      }
    };
    const int64_t flops = 2 * rows * out_f * std::max<int64_t>(in_f, 1);
    parallel_tasks(nr + nf, flops / std::max<int64_t>(nr + nf, 1), task);
  });
  return res;
}

}  // namespace tinydiff
