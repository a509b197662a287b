/// \file
/// \brief Matrix products: matmul with batch broadcasting, linear, and the GEMM they share.
///
/// \f$C = A B\f$ with \f$A \in \mathbb{R}^{M \times K}, B \in \mathbb{R}^{K \times N}\f$ costs
/// \f$2MNK\f$ flops. The fast path is OpenBLAS (`cblas_sgemm` / `cblas_dgemm`, the OpenMP build);
/// `matmul_naive` is the triple loop kept beside it as documentation and as the test oracle.
///
/// `matmul` follows `torch.matmul`: 1-d operands are promoted to a row / column vector and the
/// added axis removed afterwards; for N-d operands the last two axes are the matrices and the
/// leading (batch) axes broadcast: `(B, H, L, D) @ (B, H, D, L)` and `(B, L, D) @ (D, E)` both work.
///
/// Usage:
/// \code
///   Tensor scores = matmul(q, k.transpose(-2, -1));   // q, k: (B, H, L, D) -> (B, H, L, L)
///   Tensor y = linear(x, weight, bias);               // x: (N, in), weight: (out, in) -> (N, out)
/// \endcode
#pragma once

#include <string>

#include "tensor/tensor_core.h"

namespace tinydiff {

/// Matrix product with `torch.matmul`'s rules (see the file overview): (..., M, K) @ (..., K, N) -> (..., M, N).
Tensor matmul(const Tensor& a, const Tensor& b);
/// Reference triple loop with the same semantics as matmul (slow; tests and documentation).
Tensor matmul_naive(const Tensor& a, const Tensor& b);

/// \f$y = x W^\top + b\f$ (PyTorch's `F.linear`). x: (..., in), weight: (out, in), bias: (out) or undefined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

/// The gradients of linear w.r.t. its input, weight and bias (undefined when not asked for).
struct LinearGrads {
  Tensor input;   ///< (..., in): \f$\bar x = \bar y W\f$
  Tensor weight;  ///< (out, in): \f$\bar W = \bar y^\top x\f$ over all leading axes
  Tensor bias;    ///< (out): \f$\bar b = \sum_n \bar y_n\f$
};

/// Every gradient of `linear` asked for, in one parallel region: row blocks of
/// \f$\bar x\f$ and blocks of output features of \f$\bar W, \bar b\f$ run as tasks with
/// single-threaded GEMMs (no partial sums, so the result does not depend on the schedule).
/// grad_out: (..., out); x: (..., in), read only when need_weight; weight: (out, in), read only
/// when need_input (either may otherwise be undefined).
LinearGrads linear_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, bool need_input,
                            bool need_weight, bool need_bias);

/// Row-major GEMM on raw pointers: \f$C \leftarrow \alpha\, op(A)\, op(B) + \beta C\f$, with
/// op(A) of shape (M, K) and op(B) of shape (K, N); lda/ldb/ldc are row strides in elements.
/// Calls OpenBLAS; the building block of matmul, linear and conv2d.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b,
          int64_t ldb, T beta, T* c, int64_t ldc);

/// Describes the BLAS in use, e.g. "OpenBLAS 0.3.21 (OpenMP build), 2 threads".
std::string blas_info();
/// Throws Error unless the linked OpenBLAS is the OpenMP build (openblas_get_parallel() == 2).
/// Called once automatically before the first GEMM.
void check_blas_is_openmp();

}  // namespace tinydiff
