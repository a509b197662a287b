#!/usr/bin/env python3
"""Noise-schedule reference values, written from the papers' formulas, to check diffusion/process/schedule.cpp.

Pure Python (float64 via the math module, no NumPy) so it shares no code with the C++ it checks.
Index convention (as in tinydiff and in the DDPM / improved-DDPM code): index i in [0, T-1] is the
paper's timestep t = i + 1.

- "linear"  (Ho, Jain, Abbeel 2020, DDPM, sec. 4):  beta_i = b0 + (b1 - b0) * i / (T - 1), b0 = 1e-4, b1 = 0.02.
- "cosine"  (Nichol & Dhariwal 2021, Improved DDPM, eq. 17):  f(u) = cos(((u + s) / (1 + s)) * pi / 2)^2,
            s = 0.008; beta_i = min(1 - f((i + 1) / T) / f(i / T), 0.999).
- "scaled_linear" (Stable Diffusion; Rombach et al. 2022):  beta_i = (sqrt(b0) + (sqrt(b1) - sqrt(b0)) * i / (T - 1))^2,
            b0 = 0.00085, b1 = 0.012.
- "sigmoid" (GeoDiff, Xu et al. 2022; diffusers' "sigmoid"):  beta_i = b0 + (b1 - b0) * sigmoid(-6 + 12 i / (T - 1)),
            b0 = 1e-4, b1 = 0.02.

Derived quantities (DDPM eqs. 4, 6, 7):
    alpha_i = 1 - beta_i,  alpha_bar_i = prod_{j <= i} alpha_j,  alpha_bar_prev_i = alpha_bar_{i-1} (1 at i = 0)
    posterior_variance_i   = beta_i (1 - alpha_bar_prev_i) / (1 - alpha_bar_i)      (beta-tilde)
    posterior_log_var_clip = log(posterior_variance) with index 0 replaced by index 1's value
    posterior_mean_coef1_i = beta_i sqrt(alpha_bar_prev_i) / (1 - alpha_bar_i)
    posterior_mean_coef2_i = (1 - alpha_bar_prev_i) sqrt(alpha_i) / (1 - alpha_bar_i)
    snr_i = alpha_bar_i / (1 - alpha_bar_i)

Run it to print the values that tests/diffusion/process/test_schedule.cpp pastes in:

    /usr/bin/python3 tools/schedule_reference.py
"""

import math

T = 1000
INDICES = [0, 1, 499, 999]


def linear_betas(T, b0=1e-4, b1=0.02):
    return [b0 + (b1 - b0) * i / (T - 1) for i in range(T)]


def cosine_betas(T, s=0.008, max_beta=0.999):
    def f(u):
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    return [min(1 - f((i + 1) / T) / f(i / T), max_beta) for i in range(T)]


def scaled_linear_betas(T, b0=0.00085, b1=0.012):
    return [(math.sqrt(b0) + (math.sqrt(b1) - math.sqrt(b0)) * i / (T - 1)) ** 2 for i in range(T)]


def sigmoid_betas(T, b0=1e-4, b1=0.02):
    return [b0 + (b1 - b0) / (1 + math.exp(-(-6 + 12 * i / (T - 1)))) for i in range(T)]


def derived(betas):
    alphas = [1 - b for b in betas]
    abar = []
    p = 1.0
    for a in alphas:
        p *= a
        abar.append(p)
    abar_prev = [1.0] + abar[:-1]
    post_var = [b * (1 - ap) / (1 - ab) for b, ap, ab in zip(betas, abar_prev, abar)]
    post_logvar = [math.log(post_var[1])] + [math.log(v) for v in post_var[1:]]
    coef1 = [b * math.sqrt(ap) / (1 - ab) for b, ap, ab in zip(betas, abar_prev, abar)]
    coef2 = [(1 - ap) * math.sqrt(a) / (1 - ab) for a, ap, ab in zip(alphas, abar_prev, abar)]
    snr = [ab / (1 - ab) for ab in abar]
    return {
        "betas": betas,
        "alpha_bar": abar,
        "alpha_bar_prev": abar_prev,
        "posterior_variance": post_var,
        "posterior_log_variance_clipped": post_logvar,
        "posterior_mean_coef1": coef1,
        "posterior_mean_coef2": coef2,
        "snr": snr,
    }


def main():
    for name, fn in [("linear", linear_betas), ("cosine", cosine_betas), ("scaled_linear", scaled_linear_betas),
                     ("sigmoid", sigmoid_betas)]:
        d = derived(fn(T))
        print(f"// {name}, T = {T}, indices {INDICES}")
        for key, values in d.items():
            picked = ", ".join(f"{values[i]:.17g}" for i in INDICES)
            print(f"{{\"{key}\", {{{picked}}}}},")
        print()


if __name__ == "__main__":
    main()
