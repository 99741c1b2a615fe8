"""Candidate pairs of inherent structures (IS) of one glass and their features.

Every pair of IS of a glass whose energy difference is inside a window becomes a
candidate double well, including pairs the dynamics never crossed (then
``Tij = Tji = 0``).  The features are those of the published ML search
(Ciarella et al. (2023), "Finding defects in glasses through machine learning",
its TLS_ML_exploration data, ``data/tls_ml_exploration/README.md``), with the same
names and meanings, so a model trained on the published tables applies to ours and back.

Conventions.  Reduced LJ units (lengths sigma, energies eps).  Orthorhombic
periodic box, every distance by the minimum image convention.  Inside a pair,
"lower" and "upper" are the IS of lower and higher energy (ties: the smaller
id is the lower); the published tables list every pair this way (their ``i`` is
the lower minimum), which is what ``Delta_E``, ``Tij`` and ``Tji`` refer to.

Pairs table (Parquet, one row per pair)
=======================  =======  ==============================================
column                   type     meaning
=======================  =======  ==============================================
``glass``                string   the glass (e.g. ``"T0.617/g3"``); with ``i``,
                                  ``j`` the identity of a pair
``i``, ``j``             int64    IS ids, ``i < j``
``displacement_0..2``    float64  the three largest single-particle
                                  displacements |r_k(upper) - r_k(lower)|
                                  (sigma), decreasing
``Delta_E``              float64  N (e_upper - e_lower) >= 0, the total energy
                                  difference (eps)
``0to1``, ``0to2``       float64  distance (sigma) of the 2nd / 3rd most
                                  displaced particle from the most displaced
                                  one, positions taken at the midpoint
                                  r_lower + (r_upper - r_lower)/2 of the pair
``total_displacement``   float64  d = sqrt(sum_k d_k^2), all N particles (sigma;
                                  not divided by N)
``PR``                   float64  participation ratio (sum_k d_k^2)^2 / sum_k d_k^4
``Tij``                  float64  transitions lower -> upper seen by the
                                  exploration dynamics (0 if never crossed)
``Tji``                  float64  transitions upper -> lower
``e_i``, ``e_j``         float64  energies per particle of IS ``i`` and ``j``
                                  (eps); not features, kept for reports
=======================  =======  ==============================================

How ``Tij``/``Tji`` are counted (``ml.transition_count``, :func:`count_transitions`).  The
exploration's time series (``timeseries.parquet`` of :mod:`tlsfinder.explore`) lists every change
of IS it located, at the MD step where it happened.  ``"interval"`` (the default) counts, for
each pair of consecutive quench times t_k = k tau_cg, one transition a -> b when the IS at t_k is
a and the IS at t_(k+1) is b != a, the IS at time t being the last one entered at or before t:
an excursion a -> c -> a inside one interval counts nothing, a -> c -> b inside one interval
counts once as a -> b.  This is the count of an exploration that quenches every tau_cg and
compares consecutive quenches (Mocanu et al. (2023), "Microscopic observation of two-level
systems in a metallic glass model", J. Chem. Phys. 158, 014501, Sec. II.D), the protocol the
published tables were made with (inferred: the data's README only says "how many times the
exploration dynamics went i -> j"), whatever ``explore.protocol`` located the changes, so the
shipped model sees counts that mean what its training counts meant.  ``"every_change"`` counts
every consecutive pair of distinct IS of the time series (``transitions.parquet``): with
``explore.protocol: bisect`` also quick recrossings inside one interval, so more counts than the
published ones for the same exploration.  Either way raw counts over the whole exploration
(``n_cg`` intervals), so they grow with its length.

The table's pandas ``attrs`` (kept in its Parquet metadata by :func:`pairs_from_files`) record
the counting: ``transition_count`` (``"none"`` without dynamics) and ``interval_steps``.

``Tij``/``Tji`` are stored as float64 like the published tables.  The published
``i``/``j`` columns hold energies; ours hold ids (the importer renames them).
No extra features are added: the candidates we tried on the published data
(min(Tij, Tji), Tij + Tji, Delta_E/d, displacement_0/d) did not improve the
held-out ranking (benchmarks/ml.py).  Pairs of identical structures (all
displacements exactly zero: PR undefined) are dropped and counted in the log.

Memory and speed: a compiled kernel takes one pair at a time straight from the
positions array (one pass over its N particles, no per-pair temporaries), so the
memory is the IS library plus the output table (about 120 bytes per pair).  A
glass with 600 IS of 1200 atoms (179,700 pairs) peaks at about 70 MB above the
library (benchmarks/pairs.py).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from numba import njit

from . import TLSFinderError
from .geometry import minimum_image_jit
from .io import read_table
from .schema import default

log = logging.getLogger(__name__)

#: Columns that identify a pair across all tables.
PAIR_KEY = ("glass", "i", "j")

#: The features of the published search, in its order (Ciarella et al. (2023)).
PUBLISHED_FEATURES = (
    "displacement_0",
    "displacement_1",
    "displacement_2",
    "Delta_E",
    "0to1",
    "0to2",
    "total_displacement",
    "PR",
    "Tij",
    "Tji",
)

#: Columns of a pairs table written by :func:`pair_features`.
PAIR_COLUMNS = PAIR_KEY + PUBLISHED_FEATURES + ("e_i", "e_j")

#: How Tij / Tji are counted from the exploration's time series (``ml.transition_count``).
TRANSITION_COUNTS = ("interval", "every_change")
DEFAULT_TRANSITION_COUNT = default("ml.transition_count")

#: Default Delta_E window (total energy, eps; ``ml.delta_e_max``): the published search skipped
#: pairs above 1.
DEFAULT_DELTA_E_MAX = default("ml.delta_e_max")


# ---------------------------------------------------------------------------
# the pure function
# ---------------------------------------------------------------------------


def candidate_pairs(energies_per_particle: np.ndarray, n_particles: int, delta_e_max: float):
    """Index pairs (lower, upper) with N (e_upper - e_lower) <= delta_e_max.

    Returns two int64 arrays of row indices into ``energies_per_particle``; the
    lower-energy member first (ties broken by index).  Pairs are ordered by the
    lower member's energy, then the upper's.
    """
    e = np.asarray(energies_per_particle, dtype=float)
    order = np.argsort(e, kind="stable")
    e_total = e[order] * n_particles
    # For each IS (sorted), partners are the following ones up to the window's end.
    stop = np.searchsorted(e_total, e_total + delta_e_max, side="right")
    start = np.arange(1, len(e) + 1)
    counts = np.maximum(stop - start, 0)
    lo_sorted = np.repeat(np.arange(len(e)), counts)
    # offsets within each run: position - first position of the run
    first = np.repeat(np.cumsum(counts) - counts, counts)
    hi_sorted = np.repeat(start, counts) + (np.arange(counts.sum()) - first)
    return order[lo_sorted].astype(np.int64), order[hi_sorted].astype(np.int64)


def _check_inputs(positions, energies, box, transitions, ids):
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[2] != 3:
        raise TLSFinderError(f"positions must have shape (n_IS, N, 3), got {positions.shape}")
    n_is, n, _ = positions.shape
    if n < 3:
        raise TLSFinderError(f"positions: need at least 3 particles per IS for the features, got N = {n}")
    if not np.isfinite(positions).all():
        raise TLSFinderError("positions contain NaN or inf")
    energies = np.asarray(energies, dtype=np.float64)
    if energies.shape != (n_is,):
        raise TLSFinderError(f"energies must have shape ({n_is},) like positions, got {energies.shape}")
    if not np.isfinite(energies).all():
        raise TLSFinderError("energies contain NaN or inf")
    box = np.asarray(box, dtype=np.float64).reshape(-1)
    if box.shape == (1,):
        box = np.repeat(box, 3)
    if box.shape != (3,) or not np.all(np.isfinite(box)) or np.any(box <= 0):
        raise TLSFinderError(f"box must be 3 positive edge lengths (orthorhombic), got {box}")
    if transitions is None:
        transitions = np.zeros((n_is, n_is), dtype=np.int64)
    transitions = np.asarray(transitions)
    if transitions.shape != (n_is, n_is):
        raise TLSFinderError(f"transitions must have shape ({n_is}, {n_is}), got {transitions.shape}")
    if not np.issubdtype(transitions.dtype, np.number) or np.any(transitions < 0) or not np.isfinite(transitions).all():
        raise TLSFinderError("transitions must be non-negative counts")
    if ids is None:
        ids = np.arange(n_is, dtype=np.int64)
    ids = np.asarray(ids)
    if ids.shape != (n_is,) or not np.issubdtype(ids.dtype, np.integer):
        raise TLSFinderError(f"ids must be {n_is} integers, got shape {ids.shape} dtype {ids.dtype}")
    if len(np.unique(ids)) != n_is:
        raise TLSFinderError("ids must be unique")
    return positions, energies, box, transitions, ids.astype(np.int64)


def pair_features(
    positions: np.ndarray,
    energies_per_particle: np.ndarray,
    box: np.ndarray,
    transitions: np.ndarray | None = None,
    ids: np.ndarray | None = None,
    *,
    glass: str = "",
    delta_e_max: float = DEFAULT_DELTA_E_MAX,
) -> pd.DataFrame:
    """Features of all pairs of IS of one glass within the Delta_E window.

    Parameters
    ----------
    positions : (n_IS, N, 3) float
        Particle positions of each IS (sigma), the same particle order in all.
        Wrapped or not: displacements use the minimum image.
    energies_per_particle : (n_IS,) float
        Potential energy per particle of each IS (eps).
    box : (3,) float
        Edge lengths of the orthorhombic periodic box (sigma).
    transitions : (n_IS, n_IS) int, optional
        ``transitions[a, b]`` = number of observed jumps a -> b (rows of the
        arrays above).  None: no dynamics information, all zero.
    ids : (n_IS,) int, optional
        IS ids written to the ``i``/``j`` columns (default: 0..n_IS-1).
    glass : str
        Value of the ``glass`` column.
    delta_e_max : float
        Keep pairs with N |e_a - e_b| <= delta_e_max (total energy, eps).

    Returns
    -------
    DataFrame with the columns of the module docstring, sorted by (i, j).
    """
    positions, energies, box, transitions, ids = _check_inputs(positions, energies_per_particle, box, transitions, ids)
    if not np.isfinite(delta_e_max) or delta_e_max < 0:
        raise TLSFinderError(f"delta_e_max must be a non-negative number, got {delta_e_max}")
    n_is, n, _ = positions.shape
    lo, hi = candidate_pairs(energies, n, delta_e_max)
    n_pairs = len(lo)

    feats = np.empty((n_pairs, 7))
    if n_pairs:
        _geometry_kernel(positions, lo, hi, box, feats)
    cols = {name: feats[:, k] for k, name in enumerate(_GEOMETRY)}
    cols["Delta_E"] = (energies[hi] - energies[lo]) * n
    cols["Tij"] = transitions[lo, hi].astype(np.float64)
    cols["Tji"] = transitions[hi, lo].astype(np.float64)
    id_lo, id_hi = ids[lo], ids[hi]
    swap = id_lo > id_hi
    i = np.where(swap, id_hi, id_lo)
    j = np.where(swap, id_lo, id_hi)
    e_i = np.where(swap, energies[hi], energies[lo])
    e_j = np.where(swap, energies[lo], energies[hi])

    keep = cols["total_displacement"] > 0
    n_same = int((~keep).sum())
    if n_same:
        log.warning("glass %r: %d pair(s) of identical structures dropped (all displacements zero)", glass, n_same)
    df = pd.DataFrame(
        {
            "glass": pd.Series(np.full(n_pairs, glass, dtype=object), dtype="string"),
            "i": i,
            "j": j,
            **{name: cols[name] for name in PUBLISHED_FEATURES},
            "e_i": e_i,
            "e_j": e_j,
        }
    )
    df = df[keep].sort_values(["i", "j"], kind="stable").reset_index(drop=True)
    return df


_GEOMETRY = ("displacement_0", "displacement_1", "displacement_2", "total_displacement", "PR", "0to1", "0to2")


@njit(cache=True, nogil=True)
def _geometry_kernel(pos, lo, hi, box, out):  # pragma: no cover (compiled)
    """Geometric features of pairs (lo[p], hi[p]) into out[p, :] in the order of _GEOMETRY."""
    n = pos.shape[1]
    inv = 1.0 / box
    for p in range(lo.shape[0]):
        a = lo[p]
        b = hi[p]
        s2 = 0.0
        s4 = 0.0
        v0 = v1 = v2 = -1.0
        k0 = k1 = k2 = 0
        for k in range(n):
            q = 0.0
            for c in range(3):
                d = pos[b, k, c] - pos[a, k, c]
                d = minimum_image_jit(d, box[c], inv[c])
                q += d * d
            s2 += q
            s4 += q * q
            if q > v2:  # keep the three largest, v0 >= v1 >= v2
                if q > v1:
                    v2, k2 = v1, k1
                    if q > v0:
                        v1, k1 = v0, k0
                        v0, k0 = q, k
                    else:
                        v1, k1 = q, k
                else:
                    v2, k2 = q, k
        out[p, 0] = np.sqrt(v0)
        out[p, 1] = np.sqrt(v1)
        out[p, 2] = np.sqrt(v2)
        out[p, 3] = np.sqrt(s2)
        out[p, 4] = s2 * s2 / s4 if s4 > 0.0 else np.nan
        # distances between midpoints r_lower + d/2 of the most displaced particles
        for col, kk in ((5, k1), (6, k2)):
            r = 0.0
            for c in range(3):
                d0 = pos[b, k0, c] - pos[a, k0, c]
                d0 = minimum_image_jit(d0, box[c], inv[c])
                dk = pos[b, kk, c] - pos[a, kk, c]
                dk = minimum_image_jit(dk, box[c], inv[c])
                v = (pos[a, kk, c] + 0.5 * dk) - (pos[a, k0, c] + 0.5 * d0)
                v = minimum_image_jit(v, box[c], inv[c])
                r += v * v
            out[p, col] = np.sqrt(r)


# ---------------------------------------------------------------------------
# checks shared by every stage that reads a pairs table
# ---------------------------------------------------------------------------


def check_pairs_table(df: pd.DataFrame, features=PUBLISHED_FEATURES, source: str = "pairs table") -> None:
    """Raise TLSFinderError naming the columns at fault (missing, NaN/inf, bad keys)."""
    missing_key = [c for c in PAIR_KEY if c not in df.columns]
    missing = [c for c in features if c not in df.columns]
    if missing_key or missing:
        raise TLSFinderError(
            f"{source}: missing column(s) {missing_key + missing}; a pairs table needs {list(PAIR_KEY)} "
            f"and the features {list(features)}"
        )
    bad = {}
    for c in features:
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            bad[c] = f"not numeric ({col.dtype})"
            continue
        v = col.to_numpy(dtype=np.float64, na_value=np.nan)
        n_bad = int((~np.isfinite(v)).sum())
        if n_bad:
            bad[c] = f"{n_bad} NaN/inf"
    if bad:
        raise TLSFinderError(f"{source}: bad values in feature column(s): " + ", ".join(f"{k} ({v})" for k, v in bad.items()))
    for c in ("i", "j"):
        if not pd.api.types.is_integer_dtype(df[c]):
            raise TLSFinderError(f"{source}: column {c!r} must hold integer IS ids, got {df[c].dtype}")
    if df["glass"].isna().any():
        raise TLSFinderError(f"{source}: column 'glass' has {int(df['glass'].isna().sum())} missing value(s)")
    n_order = int((df["i"].to_numpy() >= df["j"].to_numpy()).sum())
    if n_order:
        raise TLSFinderError(f"{source}: {n_order} row(s) with i >= j; pairs are written with i < j")
    dup = df.duplicated(list(PAIR_KEY))
    if dup.any():
        ex = df.loc[dup, list(PAIR_KEY)].head(3).to_dict("records")
        raise TLSFinderError(f"{source}: {int(dup.sum())} duplicated pair(s) (glass, i, j), e.g. {ex}")


def read_pairs(paths, features=PUBLISHED_FEATURES, extra_columns=()) -> pd.DataFrame:
    """Read and check one or more pairs tables (Parquet); only the columns needed.

    ``glass`` is returned as a pandas categorical to keep large tables small.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    want = list(dict.fromkeys(list(PAIR_KEY) + list(features) + list(extra_columns)))
    parts = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise TLSFinderError(f"{path}: no such pairs table")
        try:
            import pyarrow.parquet as pq

            have = set(pq.read_schema(path).names)
            df = pd.read_parquet(path, columns=[c for c in want if c in have])
        except TLSFinderError:
            raise
        except Exception as exc:  # pyarrow raises many types for foreign files
            raise TLSFinderError(f"{path}: not a readable Parquet table ({exc})") from exc
        check_pairs_table(df, features, source=str(path))
        parts.append(df)
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        check_pairs_table(df, features, source=" + ".join(str(p) for p in paths))
    df["glass"] = df["glass"].astype("string").astype("category")
    return df


# ---------------------------------------------------------------------------
# file level: explorer outputs -> pairs table (the IS library is read by
# tlsfinder.explore.read_is_library, which owns its on-disk format)
# ---------------------------------------------------------------------------


def load_transitions(path: str | Path | None, n_is: int) -> np.ndarray:
    """Transition counts (n_IS, n_IS) from a Parquet table with columns ``i``, ``j``, ``count``.

    Rows with the same (i, j) are summed.  ``None`` gives all zeros.
    """
    t = np.zeros((n_is, n_is), dtype=np.int64)
    if path is None:
        return t
    path = Path(path)
    df = read_table(path, ("i", "j", "count"), what="transitions table")
    if len(df) == 0:
        return t
    a, b, cnt = (df[c].to_numpy() for c in ("i", "j", "count"))
    for name, v in (("i", a), ("j", b), ("count", cnt)):
        if not np.issubdtype(v.dtype, np.integer):
            raise TLSFinderError(f"{path}: column {name!r} must be integer, got {v.dtype}")
    out = (a < 0) | (a >= n_is) | (b < 0) | (b >= n_is)
    if out.any():
        raise TLSFinderError(f"{path}: {int(out.sum())} row(s) with IS index outside 0..{n_is - 1}")
    if (cnt < 0).any():
        raise TLSFinderError(f"{path}: {int((cnt < 0).sum())} negative count(s)")
    np.add.at(t, (a, b), cnt)
    return t


def count_transitions(steps, is_ids, n_is: int, mode: str = DEFAULT_TRANSITION_COUNT,
                      interval_steps: int | None = None, source: str = "time series") -> np.ndarray:
    """Transition counts (n_IS, n_IS) from a time series of IS changes.

    ``steps`` (MD steps, non-decreasing, the first 0) and ``is_ids`` (rows of the IS library) are the
    columns of the exploration's ``timeseries.parquet``: from ``steps[r]`` on the glass is in IS
    ``is_ids[r]``.  ``mode`` (module docstring): ``"interval"`` counts a -> b once for each pair of
    consecutive quench times k * interval_steps (k = 0, 1, ..., up to the first at or after the last
    change) whose IS are a and b != a; ``"every_change"`` counts every consecutive pair of distinct
    ids.  ``interval_steps`` = tau_cg / dt, needed by ``"interval"``.
    """
    if mode not in TRANSITION_COUNTS:
        raise TLSFinderError(f"ml.transition_count = {mode!r}: must be one of {list(TRANSITION_COUNTS)}")
    steps = np.asarray(steps)
    ids = np.asarray(is_ids)
    if steps.shape != ids.shape or steps.ndim != 1:
        raise TLSFinderError(f"{source}: 'step' and 'is_id' must be two columns of one length")
    t = np.zeros((n_is, n_is), dtype=np.int64)
    if len(ids) == 0:
        return t
    for name, v in (("step", steps), ("is_id", ids)):
        if not np.issubdtype(v.dtype, np.integer):
            raise TLSFinderError(f"{source}: column {name!r} must be integer, got {v.dtype}")
    if steps[0] != 0 or np.any(np.diff(steps) < 0):
        raise TLSFinderError(f"{source}: 'step' must start at 0 and never decrease")
    if ids.min() < 0 or ids.max() >= n_is:
        raise TLSFinderError(f"{source}: is_id outside 0..{n_is - 1} (the IS library's rows)")
    if mode == "interval":
        if interval_steps is None or int(interval_steps) < 1:
            raise TLSFinderError(f"{source}: counting per interval needs tau_cg / dt >= 1 MD steps, got {interval_steps}")
        n = int(interval_steps)
        ends = np.arange(0, -(-int(steps[-1]) // n) + 1) * n  # quench times 0, n, 2n, ... covering every change
        ids = ids[np.searchsorted(steps, ends, side="right") - 1]  # the IS at each: last entered at or before it
    a, b = ids[:-1], ids[1:]
    moved = a != b
    np.add.at(t, (a[moved], b[moved]), 1)
    return t


def _explore_interval_steps(is_library: str | Path) -> int:
    """tau_cg / dt of the exploration that made an IS library, from the config it recorded."""
    import h5py

    try:
        with h5py.File(is_library, "r") as h:
            cfg = json.loads(h.attrs["provenance"])["config"]["explore"]
        return int(round(float(cfg["tau_cg"]) / float(cfg["dt"])))
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise TLSFinderError(
            f"{is_library}: no explore.tau_cg / explore.dt recorded with the IS library ({exc!r}), needed to count "
            "transitions per quench interval; give the interval, or set ml.transition_count: every_change"
        ) from None


def load_timeseries_transitions(path: str | Path, n_is: int, mode: str, interval_steps: int | None) -> np.ndarray:
    """:func:`count_transitions` of an exploration's ``timeseries.parquet`` (columns step, is_id)."""
    path = Path(path)
    df = read_table(path, ("step", "is_id"), what="time series",
                    absent=f"no such time series (needed by ml.transition_count: {mode})")
    return count_transitions(df["step"].to_numpy(), df["is_id"].to_numpy(), n_is, mode, interval_steps, source=str(path))


def pairs_from_files(
    is_library: str | Path,
    transitions: str | Path | None,
    *,
    glass: str,
    delta_e_max: float = DEFAULT_DELTA_E_MAX,
    transition_count: str = DEFAULT_TRANSITION_COUNT,
    timeseries: str | Path | None = None,
    interval_steps: int | None = None,
    out: str | Path | None = None,
) -> pd.DataFrame:
    """Pairs table of one glass from its IS library (:func:`tlsfinder.explore.read_is_library`) and
    exploration dynamics; written to ``out`` if given.

    ``transition_count`` (module docstring): ``"every_change"`` reads the ``transitions`` table;
    ``"interval"`` counts from the time series ``timeseries`` (default: ``timeseries.parquet`` beside
    ``transitions``, where the exploration writes both) per interval of ``interval_steps`` MD steps
    (default: tau_cg / dt of the config recorded in the library).  No ``transitions`` and no
    ``timeseries``: no dynamics, all counts zero.
    """
    from .explore import read_is_library

    if transition_count not in TRANSITION_COUNTS:
        raise TLSFinderError(f"ml.transition_count = {transition_count!r}: must be one of {list(TRANSITION_COUNTS)}")
    lib = read_is_library(is_library)
    positions, energy, box = lib["positions"], lib["energy"], np.asarray(lib["box"], dtype=float)
    if positions.ndim != 3:
        raise TLSFinderError(f"{is_library}: 'positions' is not an (n_IS, N, 3) array (shape {positions.shape})")
    n_is = positions.shape[0]
    if transitions is None and timeseries is None:
        trans, transition_count = load_transitions(None, n_is), "none"
    elif transition_count == "every_change" and transitions is not None:
        trans = load_transitions(transitions, n_is)
    else:
        timeseries = Path(timeseries) if timeseries is not None else Path(transitions).with_name("timeseries.parquet")
        if transition_count == "interval" and interval_steps is None:
            interval_steps = _explore_interval_steps(is_library)
        trans = load_timeseries_transitions(timeseries, n_is, transition_count, interval_steps)
    try:
        df = pair_features(positions, energy, box, trans, glass=glass, delta_e_max=delta_e_max)
    except TLSFinderError as exc:
        raise TLSFinderError(f"{is_library}: {exc}") from None
    # how Tij / Tji were counted, kept in the table's Parquet metadata (pandas attrs)
    df.attrs.update(transition_count=transition_count,
                    interval_steps=int(interval_steps) if transition_count == "interval" else None)
    log.info("glass %s: %d IS, %d pairs with Delta_E <= %g, %d transitions counted (%s)", glass, n_is, len(df),
             delta_e_max, int(trans.sum()), transition_count)
    if out is not None:
        from .io import write_parquet

        write_parquet(out, df)
    return df
