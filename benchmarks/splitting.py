"""Benchmark: splitting solves per second at N_xi = 2000 (target: < 5 ms per solve).

Run: ``python benchmarks/splitting.py [--repeat 30]``.  Uses one core.

Double wells: quartic profiles sampled at 64 images between their minima, with
barriers, lengths and asymmetries typical of KA2 double wells, for the Ar
(m~ = 1200) and NiP (m~ = 5250) presets.  For each we time

* ``solve``: one eigen-solve (grid with continuation, ARPACK shift-invert, our
  compiled LDL^T), i.e. the procedure of Mocanu et al. (2023);
* ``full``: everything for one DW and one preset (solve, the N_xi-doubling
  convergence check, WKB Delta_0 and Gamma);
* ``reference``: the same Hamiltonian solved by the textbook call
  ``scipy.sparse.linalg.eigsh(H_csc, k=5, sigma=...)`` (SuperLU factorisation),
  measured in the same run; the ratio reference / solve is printed.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
from scipy.optimize import minimize_scalar  # noqa: E402

from tlsfinder import splitting as S  # noqa: E402

CASES = [  # (V_b, half distance a, tilt)
    (0.05, 0.35, 0.002),
    (0.2, 0.35, 0.001),
    (0.4, 0.3, 0.0),
    (0.1, 1.0, 0.003),
]


def profile(vb, a, tilt):
    vf = lambda x: vb * ((x / a) ** 2 - 1.0) ** 2 + tilt * x / a  # noqa: E731
    xl = minimize_scalar(vf, bounds=(-2 * a, 0), method="bounded", options={"xatol": 1e-13}).x
    xr = minimize_scalar(vf, bounds=(0, 2 * a), method="bounded", options={"xatol": 1e-13}).x
    xs = np.linspace(xl, xr, 64)
    return S.make_profile(S.MEP(xs - xl, vf(xs)))


def grid_potential(prof, m_tilde):
    lv = S.solve_profile(prof, m_tilde)
    n_xi = lv.n_xi
    wl = S.continuation_values(prof, "left", prof.d / n_xi * np.arange(1, lv.n_left + 1), "cubic", n_xi)
    wr = S.continuation_values(prof, "right", prof.d / n_xi * np.arange(1, lv.n_right + 1), "cubic", n_xi)
    return np.concatenate([wl[::-1], prof.grid_values(n_xi), wr]), prof.d / n_xi


def reference_solve(v, h, m_tilde):
    n = len(v)
    c = 1.0 / (24.0 * m_tilde * h * h)
    hm = sp.diags([np.full(n - 2, c), np.full(n - 1, -16 * c), 30 * c + v, np.full(n - 1, -16 * c),
                   np.full(n - 2, c)], [-2, -1, 0, 1, 2], format="csc")
    return np.sort(sla.eigsh(hm, k=5, sigma=float(v.min()), which="LM", return_eigenvectors=False))


def timeit(fn, repeat):
    fn()
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t) / repeat, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    print(f"{'case':>24s} {'m~':>6s} {'grid':>6s} {'solve ms':>9s} {'full ms':>8s} {'ref ms':>8s} {'ref/ours':>8s}"
          f" {'|dE|/E vs ref':>14s}")
    tot_solve, tot_full, tot_ref = [], [], []
    for case in CASES:
        prof = profile(*case)
        for m_tilde in (1200.0, 5250.0):
            t_solve, lv = timeit(lambda: S.solve_profile(prof, m_tilde), args.repeat)
            t_full, _ = timeit(lambda: S.splitting(prof, m_tilde), max(3, args.repeat // 3))
            v, h = grid_potential(prof, m_tilde)
            t_ref, e_ref = timeit(lambda: reference_solve(v, h, m_tilde), max(3, args.repeat // 3))
            de = abs((lv.e[1] - lv.e[0]) / (e_ref[1] - e_ref[0]) - 1.0)
            tot_solve.append(t_solve)
            tot_full.append(t_full)
            tot_ref.append(t_ref)
            print(f"{str(case):>24s} {m_tilde:6.0f} {lv.n_grid:6d} {1e3 * t_solve:9.2f} {1e3 * t_full:8.2f} "
                  f"{1e3 * t_ref:8.2f} {t_ref / t_solve:8.1f} {de:14.1e}")
    ms = 1e3 * float(np.mean(tot_solve))
    print(f"\nsplitting solves per second (N_xi = 2000, with continuation): {1e3 / ms:.0f}  ({ms:.2f} ms per solve;"
          f" target < 5 ms)")
    print(f"full DW analyses per second per preset (solve + doubling check + WKB): "
          f"{1.0 / float(np.mean(tot_full)):.0f}")
    print(f"speed-up over textbook scipy eigsh(csc, sigma): {float(np.mean(tot_ref)) / float(np.mean(tot_solve)):.1f}x")
    print(f"(1 core; machine load at start: {os.getloadavg()[0]:.2f}; compare ratios, not absolute times)")


if __name__ == "__main__":
    main()
