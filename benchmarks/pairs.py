"""Pair features of one glass: time and peak memory for 600 IS of 1200 atoms (179,700 pairs).

A synthetic IS library (random positions around one structure, random
energies, random transition counts) of the size the issue names; prints the
wall time, pairs per second, and the peak memory allocated during
``pair_features`` (tracemalloc, above the IS library itself), next to a plain
numpy evaluation of the same features on a 2,000-pair subset as reference.

Usage: python benchmarks/pairs.py [--n-is 600] [--n 1200]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc

import numpy as np

from tlsfinder.geometry import minimum_image
from tlsfinder.pairs import pair_features


def numpy_reference(positions, lo, hi, box):
    d = minimum_image(positions[hi] - positions[lo], box)
    d2 = (d * d).sum(-1)
    top = np.argpartition(d2, d2.shape[1] - 3, axis=1)[:, -3:]
    return np.sqrt(np.take_along_axis(d2, top, axis=1)), np.sqrt(d2.sum(1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n-is", type=int, default=600)
    ap.add_argument("--n", type=int, default=1200)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    box = np.full(3, (args.n / 1.35) ** (1 / 3))
    base = rng.random((args.n, 3)) * box
    positions = np.mod(base + rng.normal(0, 0.05, (args.n_is, args.n, 3)), box)
    energies = rng.normal(-7.0, 1e-4, args.n_is)
    transitions = rng.integers(0, 3, (args.n_is, args.n_is))
    pair_features(positions[:3], energies[:3], box)  # compile the kernel outside the measurement

    tracemalloc.start()
    t0 = time.perf_counter()
    df = pair_features(positions, energies, box, transitions, glass="bench", delta_e_max=1e9)
    dt = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    lo = rng.integers(0, args.n_is, 2000)
    hi = (lo + 1 + rng.integers(0, args.n_is - 1, 2000)) % args.n_is
    t0 = time.perf_counter()
    numpy_reference(positions, lo, hi, box)
    dt_ref = (time.perf_counter() - t0) / 2000 * len(df)

    lib_mb = positions.nbytes / 2**20
    print(f"{args.n_is} IS of {args.n} atoms: {len(df)} pairs in {dt:.2f} s ({len(df) / dt:.3g} pairs/s, one core)")
    print(f"peak memory during pair_features: {peak / 2**20:.0f} MB above the {lib_mb:.0f} MB IS library; "
          f"output table {df.memory_usage(deep=True).sum() / 2**20:.0f} MB")
    print(f"plain numpy (per-pair temporaries), extrapolated from 2000 pairs: {dt_ref:.1f} s "
          f"-> compiled kernel {dt_ref / dt:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
