/// \file
/// \brief The Fréchet distance between Gaussians fitted to two feature sets (the "FID" without Inception).
///
/// Fit a Gaussian to each set of feature vectors — mean \f$\mu\f$ and unbiased covariance
/// \f$\Sigma = \frac{1}{N-1}\sum_n (f_n - \mu)(f_n - \mu)^\top\f$, as `numpy.cov` and the reference FID
/// code compute it — and take the squared 2-Wasserstein (Fréchet) distance between the two
/// Gaussians (Dowson & Landau, "The Fréchet distance between multivariate normal distributions",
/// J. Multivariate Anal. 1982; used for images by Heusel et al., NeurIPS 2017):
/// \f[ d^2 = \|\mu_1 - \mu_2\|^2 + \mathrm{tr}\Bigl(\Sigma_1 + \Sigma_2
///           - 2\bigl(\Sigma_1^{1/2}\,\Sigma_2\,\Sigma_1^{1/2}\bigr)^{1/2}\Bigr). \f]
/// The reference code takes `sqrtm(Sigma1 @ Sigma2)`, a square root of a non-symmetric matrix;
/// \f$\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}\f$ is similar to \f$\Sigma_1\Sigma_2\f$ (same eigenvalues) but
/// symmetric positive semi-definite, so its trace root is simply \f$\sum_i \sqrt{\lambda_i}\f$ of its
/// eigenvalues, found with a symmetric eigendecomposition. Everything runs in float64; tiny
/// negative eigenvalues from rounding are clamped to 0.
///
/// Two closed forms check the implementation: in 1-D, \f$d^2 = (\mu_1-\mu_2)^2 + (\sigma_1-\sigma_2)^2\f$;
/// for diagonal covariances, \f$d^2 = \|\mu_1-\mu_2\|^2 + \sum_i (\sqrt{a_i} - \sqrt{b_i})^2\f$.
///
/// The eigendecomposition is LAPACK's `dsyev` (from the OpenBLAS build tinydiff links);
/// `symmetric_eigen_naive` is the cyclic Jacobi method, kept as its reference and test oracle.
///
/// Usage:
/// \code
///   Tensor real = clf.features(test_images);      // (2000, 128)
///   Tensor fake = clf.features(samples);          // (500, 128)
///   double fd = frechet_distance(real, fake);
/// \endcode
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace tinydiff {

/// A Gaussian fitted to feature vectors.
struct GaussianFit {
  int64_t count = 0;         ///< N, the number of vectors
  int64_t dim = 0;           ///< D, their length
  std::vector<double> mean;  ///< \f$\mu\f$, D values
  std::vector<double> cov;   ///< \f$\Sigma\f$, D x D row-major, unbiased (divided by N - 1)
};

/// Fits mean and covariance to `features` (N, D), float32 or float64, N >= 2, in float64.
GaussianFit fit_gaussian(const Tensor& features);

/// The Fréchet distance \f$d^2\f$ (see the file overview) between two fits of the same dimension.
double frechet_distance(const GaussianFit& a, const GaussianFit& b);

/// frechet_distance(fit_gaussian(a), fit_gaussian(b)) for feature sets (Na, D) and (Nb, D).
double frechet_distance(const Tensor& a, const Tensor& b);

/// Eigenvalues and eigenvectors of a symmetric matrix.
struct SymmetricEigen {
  std::vector<double> values;   ///< n eigenvalues, ascending
  std::vector<double> vectors;  ///< n x n row-major; column k is the unit eigenvector of values[k]
};

/// Eigendecomposition of the symmetric n x n row-major matrix `a` with LAPACK's dsyev
/// (only the lower triangle, in row-major terms, is read). Throws Error when LAPACK fails to converge.
SymmetricEigen symmetric_eigen(const std::vector<double>& a, int64_t n);

/// The same with the cyclic Jacobi method (rotations until the off-diagonal norm is below
/// \f$10^{-14}\f$ of the matrix norm); \f$O(n^3)\f$ per sweep. The reference for symmetric_eigen.
SymmetricEigen symmetric_eigen_naive(const std::vector<double>& a, int64_t n);

/// The symmetric positive semi-definite square root \f$V \mathrm{diag}(\sqrt{\max(\lambda, 0)}) V^\top\f$
/// of the symmetric n x n row-major matrix `a`.
std::vector<double> sqrt_psd(const std::vector<double>& a, int64_t n);

}  // namespace tinydiff
