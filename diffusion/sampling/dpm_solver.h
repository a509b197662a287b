/// \file
/// \brief DPM-Solver++(2M), Algorithm 2 of Lu, Zhou, Bao, Chen, Li & Zhu 2022, in the \f$\sigma\f$ view
/// (karras_sigmas.h).
///
/// The paper: "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models" (arXiv 2211.01095).
///
/// DPM-Solver++ solves the probability-flow ODE written for the denoised estimate \f$D = \hat x_0\f$ in the
/// log-SNR time \f$\lambda = -\log\sigma\f$ (half the log signal-to-noise ratio; in the \f$\sigma\f$ view the signal
/// scale is 1). The linear part is integrated exactly (eq. 9, "exponential integrator"), so only \f$D\f$ is
/// approximated, by a polynomial in \f$\lambda\f$. With \f$h_i = \lambda_{i+1} - \lambda_i\f$ and the noise levels
/// \f$\sigma_0 > \dots > \sigma_N = 0\f$ (`sampling_sigmas`):
/// - first step (and N = 1), 1st order — DPM-Solver++(1), which is DDIM (eq. 10):
///   \f[ x_{i+1} = \frac{\sigma_{i+1}}{\sigma_i}\,x_i - \left(e^{-h_i} - 1\right) D_i, \f]
/// - later steps, 2nd order multistep: with \f$r_i = h_{i-1}/h_i\f$ (Alg. 2),
///   \f[ \hat D_i = \left(1 + \frac{1}{2r_i}\right) D_i - \frac{1}{2r_i}\,D_{i-1}, \qquad
///       x_{i+1} = \frac{\sigma_{i+1}}{\sigma_i}\,x_i - \left(e^{-h_i} - 1\right)\hat D_i, \f]
///   where \f$D_i = D(x_i;\sigma_i)\f$ and \f$D_{i-1}\f$ is kept from the step before — one model evaluation per
///   step.
/// - the last step, to \f$\sigma_N = 0\f$ (\f$\lambda = \infty\f$, \f$h = \infty\f$, \f$r = 0\f$), is taken first
///   order as in k-diffusion's `sample_dpmpp_2m`: \f$x_N = D_{N-1}\f$. (Alg. 2 stops at a small positive time.)
///
/// **Model evaluations:** 1 per step, N = `steps` in all. Second order: the error at a fixed \f$\sigma\f$ falls about
/// fourfold when the steps double; designed for guided sampling in 10-20 steps.
///
/// Usage:
/// \code
///   DpmSolverOptions opt;
///   opt.steps = 15; opt.sigmas = SigmaSpacing::Karras;
///   Tensor x0 = dpm_solver_2m_sample(model, schedule, gen.normal({B, 2}), gen, opt);   // 15 model calls
/// \endcode
#pragma once

#include "diffusion/sampling/sampler.h"

namespace tinydiff {

/// DPM-Solver++(2M) from `x_T` (B, ...) in `options.steps` steps (1..T), one model evaluation each, on the
/// `options.sigmas` noise levels, with `options.clip_x0` (applied to every \f$D_i\f$) and `options.callback`.
/// Deterministic (`gen` is not used). Returns \f$x_0\f$ (B, ...). Throws Error for steps outside 1..T or a
/// denoiser output that is not shaped like x_T.
Tensor dpm_solver_2m_sample(const Denoiser& denoiser, const NoiseSchedule& schedule, const Tensor& x_T, Generator& gen,
                            const DpmSolverOptions& options = {});

}  // namespace tinydiff
