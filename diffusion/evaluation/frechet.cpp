#include "diffusion/evaluation/frechet.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>

#include "tensor/dispatch.h"
#include "tensor/error.h"

// LAPACK's symmetric eigensolver, from the OpenBLAS library tinydiff links (OpenBLAS bundles
// LAPACK; Debian ships no lapacke.h with it). Fortran calling convention: every argument by
// pointer, column-major storage, and gfortran's hidden lengths of the character arguments last.
extern "C" void dsyev_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                       double* work, const int* lwork, int* info, size_t jobz_len, size_t uplo_len);

namespace tinydiff {

namespace {

// c = a b for n x n row-major matrices; each output row written by one thread.
std::vector<double> matmul_square(const std::vector<double>& a, const std::vector<double>& b, int64_t n) {
  std::vector<double> c(static_cast<size_t>(n * n), 0.0);
  parallel_for(n, n * n, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double* ci = c.data() + i * n;
      for (int64_t k = 0; k < n; ++k) {
        const double aik = a[static_cast<size_t>(i * n + k)];
        const double* bk = b.data() + k * n;
        for (int64_t j = 0; j < n; ++j) ci[j] += aik * bk[j];
      }
    }
  });
  return c;
}

void check_square(const std::vector<double>& a, int64_t n, const char* op) {
  TD_CHECK(n > 0 && static_cast<int64_t>(a.size()) == n * n, op,
           fmt::format("expected an n x n matrix with n = {} ({} values), got {} values", n, n * n, a.size()));
  for (double v : a) TD_CHECK(std::isfinite(v), op, "the matrix holds NaN or infinite values");
}

// Sorts eigenpairs by ascending eigenvalue; `vectors` columns follow their values.
SymmetricEigen sorted(const std::vector<double>& values, const std::vector<double>& vectors, int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return values[static_cast<size_t>(x)] < values[static_cast<size_t>(y)];
  });
  SymmetricEigen out;
  out.values.resize(static_cast<size_t>(n));
  out.vectors.resize(static_cast<size_t>(n * n));
  for (int64_t k = 0; k < n; ++k) {
    const int64_t src = order[static_cast<size_t>(k)];
    out.values[static_cast<size_t>(k)] = values[static_cast<size_t>(src)];
    for (int64_t i = 0; i < n; ++i)
      out.vectors[static_cast<size_t>(i * n + k)] = vectors[static_cast<size_t>(i * n + src)];
  }
  return out;
}

}  // namespace

GaussianFit fit_gaussian(const Tensor& features) {
  const char* op = "fit_gaussian";
  TD_CHECK(features.defined() && features.dim() == 2 && features.dtype() != DType::I64, op,
           fmt::format("expected float features (N, D), got {}",
                       features.defined() ? shape_str(features.shape()) : std::string("(undefined)")));
  const int64_t n = features.size(0), d = features.size(1);
  TD_CHECK(n >= 2 && d >= 1, op,
           fmt::format("features {}: need at least 2 vectors of at least 1 value", shape_str(features.shape())));
  const Tensor x = features.to(DType::F64).contiguous();  // (N, D)
  const double* px = x.data<double>();
  for (int64_t i = 0; i < n * d; ++i)
    TD_CHECK(std::isfinite(px[i]), op,
             fmt::format("features {} hold NaN or infinite values (row {})", shape_str(features.shape()), i / d));
  GaussianFit fit;
  fit.count = n;
  fit.dim = d;
  fit.mean.assign(static_cast<size_t>(d), 0.0);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < d; ++j) fit.mean[static_cast<size_t>(j)] += px[r * d + j];
  for (double& m : fit.mean) m /= static_cast<double>(n);
  // Centred copy c = x - mu: (N, D).
  std::vector<double> c(static_cast<size_t>(n * d));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < d; ++j)
      c[static_cast<size_t>(r * d + j)] = px[r * d + j] - fit.mean[static_cast<size_t>(j)];
  // cov = c^T c / (N - 1): (D, D), row i written by one thread.
  fit.cov.assign(static_cast<size_t>(d * d), 0.0);
  parallel_for(d, n * d, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double* row = fit.cov.data() + i * d;
      for (int64_t r = 0; r < n; ++r) {
        const double ci = c[static_cast<size_t>(r * d + i)];
        const double* cr = c.data() + r * d;
        for (int64_t j = 0; j < d; ++j) row[j] += ci * cr[j];
      }
      for (int64_t j = 0; j < d; ++j) row[j] /= static_cast<double>(n - 1);
    }
  });
  return fit;
}

SymmetricEigen symmetric_eigen(const std::vector<double>& a, int64_t n) {
  const char* op = "symmetric_eigen";
  check_square(a, n, op);
  TD_CHECK(n < (int64_t{1} << 15), op, fmt::format("matrix of size {} is too large", n));
  // A symmetric row-major matrix is its own column-major transpose, so LAPACK reads it as is.
  std::vector<double> work_a = a;
  std::vector<double> w(static_cast<size_t>(n));
  const int ni = static_cast<int>(n);
  const char jobz = 'V', uplo = 'U';
  int info = 0, lwork = -1;
  double query = 0.0;
  dsyev_(&jobz, &uplo, &ni, work_a.data(), &ni, w.data(), &query, &lwork, &info, 1, 1);
  TD_CHECK(info == 0, op, fmt::format("LAPACK dsyev workspace query failed (info {})", info));
  lwork = std::max(1, static_cast<int>(query));
  std::vector<double> work(static_cast<size_t>(lwork));
  dsyev_(&jobz, &uplo, &ni, work_a.data(), &ni, w.data(), work.data(), &lwork, &info, 1, 1);
  TD_CHECK(info == 0, op,
           fmt::format("LAPACK dsyev failed on a {} x {} matrix (info {}: {})", n, n, info,
                       info < 0 ? "an illegal argument" : "no convergence"));
  // Column-major output: eigenvector k is work_a[k * n .. k * n + n); store it as column k.
  std::vector<double> vectors(static_cast<size_t>(n * n));
  for (int64_t k = 0; k < n; ++k)
    for (int64_t i = 0; i < n; ++i) vectors[static_cast<size_t>(i * n + k)] = work_a[static_cast<size_t>(k * n + i)];
  return sorted(w, vectors, n);  // dsyev's values are ascending already; sorting keeps the contract explicit
}

SymmetricEigen symmetric_eigen_naive(const std::vector<double>& a, int64_t n) {
  check_square(a, n, "symmetric_eigen_naive");
  std::vector<double> m = a;  // rotated towards diagonal form
  std::vector<double> v(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i * n + i)] = 1.0;
  auto at = [&](std::vector<double>& x, int64_t r, int64_t c) -> double& { return x[static_cast<size_t>(r * n + c)]; };
  double norm = 0.0;
  for (double x : m) norm += x * x;
  norm = std::sqrt(norm);
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0.0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off += at(m, p, q) * at(m, p, q);
    if (std::sqrt(off) <= 1e-14 * norm) break;
    for (int64_t p = 0; p < n; ++p) {
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = at(m, p, q);
        if (apq == 0.0) continue;
        // Rotation J (J_pp = J_qq = c, J_pq = s, J_qp = -s) with (J^T M J)_pq = 0:
        // cot(2 phi) = theta = (m_qq - m_pp) / (2 m_pq), t = tan(phi), the smaller root of t^2 + 2 t theta = 1.
        const double theta = (at(m, q, q) - at(m, p, p)) / (2.0 * apq);
        const double t = (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1.0));
        const double c = 1.0 / std::sqrt(t * t + 1.0), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // M J: columns p and q
          const double mkp = at(m, k, p), mkq = at(m, k, q);
          at(m, k, p) = c * mkp - s * mkq;
          at(m, k, q) = s * mkp + c * mkq;
        }
        for (int64_t k = 0; k < n; ++k) {  // J^T (M J): rows p and q
          const double mpk = at(m, p, k), mqk = at(m, q, k);
          at(m, p, k) = c * mpk - s * mqk;
          at(m, q, k) = s * mpk + c * mqk;
        }
        for (int64_t k = 0; k < n; ++k) {  // V J: the accumulated eigenvectors
          const double vkp = at(v, k, p), vkq = at(v, k, q);
          at(v, k, p) = c * vkp - s * vkq;
          at(v, k, q) = s * vkp + c * vkq;
        }
      }
    }
  }
  std::vector<double> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = at(m, i, i);
  return sorted(values, v, n);
}

std::vector<double> sqrt_psd(const std::vector<double>& a, int64_t n) {
  const SymmetricEigen e = symmetric_eigen(a, n);
  // V diag(sqrt(max(lambda, 0))) V^T
  std::vector<double> scaled(static_cast<size_t>(n * n));  // V diag(sqrt lambda)
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k)
      scaled[static_cast<size_t>(i * n + k)] =
          e.vectors[static_cast<size_t>(i * n + k)] * std::sqrt(std::max(e.values[static_cast<size_t>(k)], 0.0));
  std::vector<double> vt(static_cast<size_t>(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < n; ++k) vt[static_cast<size_t>(k * n + i)] = e.vectors[static_cast<size_t>(i * n + k)];
  std::vector<double> r = matmul_square(scaled, vt, n);
  for (int64_t i = 0; i < n; ++i)  // exact symmetry
    for (int64_t j = i + 1; j < n; ++j) {
      const double avg = 0.5 * (r[static_cast<size_t>(i * n + j)] + r[static_cast<size_t>(j * n + i)]);
      r[static_cast<size_t>(i * n + j)] = r[static_cast<size_t>(j * n + i)] = avg;
    }
  return r;
}

double frechet_distance(const GaussianFit& a, const GaussianFit& b) {
  const char* op = "frechet_distance";
  const int64_t d = a.dim;
  TD_CHECK(d >= 1 && b.dim == d && static_cast<int64_t>(a.mean.size()) == d &&
               static_cast<int64_t>(b.mean.size()) == d && static_cast<int64_t>(a.cov.size()) == d * d &&
               static_cast<int64_t>(b.cov.size()) == d * d,
           op, fmt::format("the two fits must have the same dimension (got {} and {})", a.dim, b.dim));
  double mean_term = 0.0;
  for (int64_t i = 0; i < d; ++i) {
    const double diff = a.mean[static_cast<size_t>(i)] - b.mean[static_cast<size_t>(i)];
    mean_term += diff * diff;
  }
  double trace = 0.0;
  for (int64_t i = 0; i < d; ++i)
    trace += a.cov[static_cast<size_t>(i * d + i)] + b.cov[static_cast<size_t>(i * d + i)];
  // M = S1^{1/2} S2 S1^{1/2}, symmetric PSD; tr(M^{1/2}) = sum sqrt(lambda_i(M)).
  const std::vector<double> s1h = sqrt_psd(a.cov, d);
  std::vector<double> m = matmul_square(matmul_square(s1h, b.cov, d), s1h, d);
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = i + 1; j < d; ++j) {
      const double avg = 0.5 * (m[static_cast<size_t>(i * d + j)] + m[static_cast<size_t>(j * d + i)]);
      m[static_cast<size_t>(i * d + j)] = m[static_cast<size_t>(j * d + i)] = avg;
    }
  double trace_root = 0.0;
  for (double lambda : symmetric_eigen(m, d).values) trace_root += std::sqrt(std::max(lambda, 0.0));
  return mean_term + trace - 2.0 * trace_root;
}

double frechet_distance(const Tensor& a, const Tensor& b) {
  TD_CHECK(a.defined() && b.defined() && a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(1), "frechet_distance",
           fmt::format("feature sets {} and {}: expected (Na, D) and (Nb, D) with the same D",
                       a.defined() ? shape_str(a.shape()) : "(undefined)",
                       b.defined() ? shape_str(b.shape()) : "(undefined)"));
  return frechet_distance(fit_gaussian(a), fit_gaussian(b));
}

}  // namespace tinydiff
