#!/usr/bin/python3
"""Reference Fréchet distances for tests/diffusion/evaluation/test_evaluation.cpp, computed with numpy.

The two feature sets are closed-form functions of the row and column index (so the C++ test
rebuilds them exactly, without files):

    a[n, j] = sin(0.37 (n + 1)(j + 1)) + 0.5 cos(1.3 n + 0.7 j)           n < 40, j < 5
    b[n, j] = 0.8 sin(0.91 n + 0.4 j^2) + 0.3 j + cos(0.23 (n + 1)(j + 2))  n < 50, j < 5

The distance is computed twice: with the symmetric form
tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) via numpy.linalg.eigh, and with the eigenvalues of the
non-symmetric product S1 S2 (numpy.linalg.eigvals), which the reference FID code's
sqrtm(S1 @ S2) amounts to. Run: /usr/bin/python3 tools/frechet_reference.py
"""
import numpy as np


def sets():
    n_a, n_b, d = 40, 50, 5
    a = np.array([[np.sin(0.37 * (n + 1) * (j + 1)) + 0.5 * np.cos(1.3 * n + 0.7 * j) for j in range(d)]
                  for n in range(n_a)])
    b = np.array([[0.8 * np.sin(0.91 * n + 0.4 * j * j) + 0.3 * j + np.cos(0.23 * (n + 1) * (j + 2))
                   for j in range(d)] for n in range(n_b)])
    return a, b


def sqrt_psd(s):
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.maximum(w, 0))) @ v.T


def frechet_symmetric(a, b):
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    r = sqrt_psd(s1)
    m = r @ s2 @ r
    lam = np.linalg.eigvalsh((m + m.T) / 2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.maximum(lam, 0)).sum())


def frechet_product(a, b):
    m1, m2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    lam = np.linalg.eigvals(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(lam.real.clip(0)).sum())


if __name__ == "__main__":
    a, b = sets()
    print(f"frechet(a, b) symmetric form: {frechet_symmetric(a, b):.15g}")
    print(f"frechet(a, b) eig(S1 S2) form: {frechet_product(a, b):.15g}")
    print(f"frechet(a, 2a + 1): {frechet_symmetric(a, 2 * a + 1):.15g}")
    print(f"mean(a): {np.array2string(a.mean(0), precision=15)}")
    print(f"cov(a)[0, :]: {np.array2string(np.cov(a, rowvar=False)[0], precision=15)}")
