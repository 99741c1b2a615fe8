"""Import the published ML-search data into our tables.

The data are those of Ciarella et al. (2023), "Finding defects in glasses through machine
learning", arXiv:2212.05582 (their TLS_ML_exploration repository).

Three kinds of sources, any mix (``tlsfinder import-tlsml SRC ...``):

* feather pair tables (``pretraining-classifier-*.feather`` with ``is_dw``,
  ``pretraining-predictor-*.feather`` with ``quantum_splitting``): give pairs
  (features) and labels.  Columns described in
  ``data/tls_ml_exploration/README.md``.
* exact-calculation lists ``quantum_splitting_T*.csv`` (``,conf,i,j,out``: a
  double well and its splitting) and ``nonDW_T*.csv`` (``,conf,i,j``: not a
  double well): labels only.
* the inherent-structure layout ``Configurations/minima/T{T_f}/Cnf-{x}/{e}.conf.txt``
  (LAMMPS data files, ``Atoms # charge``: id type diameter x y z [image flags])
  or ``{e}.conf`` (Fortran unformatted records: int32 N; float64 box edge(s);
  N records of float64 diameter, x, y, z), ``e`` the energy per particle: pairs
  computed with :func:`tlsfinder.pairs.pair_features`.  That layout holds no
  transition counts, so ``Tij = Tji = 0`` (a warning says so).

Mapping onto our tables (:mod:`tlsfinder.pairs`, :mod:`tlsfinder.ml`):

* ``glass`` = ``"T{T_f}/c{conf}"`` for the tables (e.g. ``"T0.07/c38"``) and
  ``"T{T_f}/{Cnf-folder}"`` for configurations.  T_f comes from the ``T``
  column, else from the file name (``T007`` -> 0.07, ``T0092`` -> 0.092: the
  first digit is the integer part), else from ``tf=``.
* ``i``, ``j`` = the published integer labels of the minima (``i2``, ``j2`` in
  the feather files, ``i``, ``j`` in the CSV files).  For configurations the ids
  are the 1-based ranks of the minima by energy within their glass, which is how
  the published labels behave (they increase with energy); we could not check
  that they are exactly those ranks, so labels from the CSV lists may not match
  pairs built from configurations.
* ``e_i``, ``e_j`` = the published ``i``, ``j`` columns (energies per particle).
* labels: ``is_dw`` from ``is_dw``; predictor rows and ``quantum_splitting``
  CSVs are DWs with ``splitting`` = ``quantum_splitting`` / ``out``; ``nonDW``
  rows are not DWs; ``iteration`` = -1, ``source`` = the file name.

Duplicates, as published.  A row repeated exactly within one file (every column but the row
number ``index`` / the CSV's first column equal) is dropped, with a count in the log: 59 rows of
nonDW_T007.csv, 96 of nonDW_T0092.csv, and the T_f = 0.062 classifier table of the original
repository repeats 335 pairs.  Two rows of one pair that differ in any value stop the import,
naming the pair and the columns.  The same pair from several sources must agree (features
exactly; ``is_dw``; splittings to 1e-9 relative), otherwise the import stops naming the pairs.

Provenance.  The published data are PSS glasses with splittings in argon units (TLS below
0.00151, the argon k_B T_Q): :data:`PUBLISHED_MODEL`, :data:`PUBLISHED_PRESET`, recorded in the
labels file ``tlsfinder import-tlsml`` writes (:func:`tlsfinder.ml.write_labels`), so a KA2 run or a
NiP run refuses them as ``ml.initial_labels``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import TLSFinderError
from .io import read_table
from .ml import check_labels_table, empty_labels
from .pairs import DEFAULT_DELTA_E_MAX, PAIR_COLUMNS, PAIR_KEY, PUBLISHED_FEATURES, check_pairs_table, pair_features

log = logging.getLogger(__name__)

#: Glass model and unit preset of the published data (their README: PSS, N = 1500, density 1.0;
#: splittings in argon units, TLS when below 0.00151).
PUBLISHED_MODEL, PUBLISHED_PRESET = "PSS", "Ar"


def tf_from_name(name: str) -> str | None:
    """T_f written in a published file or folder name: ``T007`` -> "0.07", ``T0.062`` -> "0.062"."""
    m = re.search(r"(?:^|[_\-/])T(\d+(?:\.\d+)?)(?=$|[_\-./])", name)
    if not m:
        return None
    s = m.group(1)
    value = float(s) if "." in s else float(f"{s[0]}.{s[1:]}" if len(s) > 1 else s)
    return f"{value:g}"


def _tf(path: Path, tf) -> str:
    if tf is not None:
        return f"{float(tf):g}"
    got = tf_from_name(path.name)
    if got is None:
        raise TLSFinderError(f"{path}: cannot tell T_f from the file name; pass tf= (--tf)")
    return got


def _glass_names(tf, conf) -> pd.Series:
    conf = pd.Series(conf)
    if not np.all(np.isfinite(conf.to_numpy(dtype=float))) or not (conf == conf.round()).all():
        raise TLSFinderError("column 'conf' must hold integer glass numbers")
    tf = pd.Series(tf).astype(str) if not np.isscalar(tf) else pd.Series([tf] * len(conf))
    return ("T" + tf.to_numpy(dtype=object) + "/c" + conf.astype("int64").astype(str).to_numpy(dtype=object))


def drop_exact_duplicates(df: pd.DataFrame, key: list[str], path: Path, ignore=("index",)) -> pd.DataFrame:
    """``df`` without rows that repeat another row exactly (columns ``ignore`` aside: row numbers),
    counted in the log; rows of one ``key`` that still differ raise TLSFinderError naming the pair."""
    data = [c for c in df.columns if c not in ignore]
    exact = df.duplicated(data, keep="first")
    if exact.any():
        log.info("%s: %d exact duplicate row(s) dropped (%d distinct row(s) kept)", path.name, int(exact.sum()),
                 int((~exact).sum()))
        df = df[~exact.to_numpy()]
    clash = df.duplicated(key, keep=False)
    if clash.any():
        rows = df[clash.to_numpy()]
        first = rows.groupby(key, sort=True)
        varies = first[[c for c in data if c not in key]].nunique(dropna=False).max(axis=0)
        cols = sorted(varies[varies > 1].index)
        example = dict(zip(key, first.size().index[0]))
        raise TLSFinderError(
            f"{path}: {first.ngroups} pair(s) listed twice with different values (columns {cols}), e.g. "
            + ", ".join(f"{k} = {v:g}" if isinstance(v, (int, float, np.number)) else f"{k} = {v}"
                        for k, v in example.items())
            + "; a pair must be listed once (exact repeats are dropped)")
    return df


def _int_labels(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    v = df[col].to_numpy(dtype=float)
    if not np.all(np.isfinite(v)) or not np.all(v == np.round(v)):
        raise TLSFinderError(f"{path}: column {col!r} must hold integer labels of minima")
    return v.astype(np.int64)


# ---------------------------------------------------------------------------
# feather pair tables
# ---------------------------------------------------------------------------


def import_feather(path: str | Path, *, tf=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairs and labels of a published feather table (classifier or predictor set)."""
    path = Path(path)
    df = read_table(path, list(PUBLISHED_FEATURES) + ["conf", "i2", "j2", "i", "j"], absent="no such file",
                    kind="feather")
    if "is_dw" not in df.columns and "quantum_splitting" not in df.columns:
        raise TLSFinderError(f"{path}: neither 'is_dw' nor 'quantum_splitting' present: no labels to import")
    df = drop_exact_duplicates(df, [c for c in ("T", "conf", "i2", "j2") if c in df.columns], path)
    if tf is None and "T" in df.columns:
        tfs = df["T"].map(lambda t: f"{float(t):g}")
    else:
        tfs = _tf(path, tf)
    glass = _glass_names(tfs, df["conf"])
    i2, j2 = _int_labels(df, "i2", path), _int_labels(df, "j2", path)
    if (i2 >= j2).any():
        raise TLSFinderError(f"{path}: {int((i2 >= j2).sum())} row(s) with i2 >= j2")
    pairs = pd.DataFrame({"glass": pd.Series(glass, dtype="string"), "i": i2, "j": j2})
    for c in PUBLISHED_FEATURES:
        pairs[c] = df[c].to_numpy(dtype=np.float64)
    pairs["e_i"] = df["i"].to_numpy(dtype=np.float64)
    pairs["e_j"] = df["j"].to_numpy(dtype=np.float64)
    check_pairs_table(pairs, source=str(path))
    if "is_dw" in df.columns:
        is_dw = df["is_dw"].to_numpy(dtype=float)
        if not np.isin(is_dw, (0.0, 1.0)).all():
            raise TLSFinderError(f"{path}: column 'is_dw' must be 0 or 1")
        is_dw = is_dw.astype(bool)
        splitting = np.full(len(df), np.nan)
        if "quantum_splitting" in df.columns:
            splitting = np.where(is_dw, df["quantum_splitting"].to_numpy(dtype=float), np.nan)
    else:
        is_dw = np.ones(len(df), dtype=bool)
        splitting = df["quantum_splitting"].to_numpy(dtype=float)
    labels = pd.DataFrame({**{c: pairs[c] for c in PAIR_KEY}, "is_dw": is_dw, "splitting": splitting,
                           "iteration": np.int64(-1), "source": path.name})
    labels = check_labels_table(labels, source=str(path))
    log.info("%s: %d pairs of %d glasses, %d labelled DW", path.name, len(pairs), pairs["glass"].nunique(), int(is_dw.sum()))
    return pairs, labels


# ---------------------------------------------------------------------------
# exact-calculation lists
# ---------------------------------------------------------------------------


def import_exact_csv(path: str | Path, *, tf=None) -> pd.DataFrame:
    """Labels from ``quantum_splitting_*.csv`` (with ``out``) or ``nonDW_*.csv`` (without)."""
    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"{path}: no such file")
    try:
        df = pd.read_csv(path, index_col=0)
    except Exception as exc:
        raise TLSFinderError(f"{path}: not a readable CSV table ({exc})") from exc
    missing = [c for c in ("conf", "i", "j") if c not in df.columns]
    if missing:
        raise TLSFinderError(f"{path}: missing column(s) {missing} (expected ,conf,i,j[,out])")
    df = drop_exact_duplicates(df, ["conf", "i", "j"], path, ignore=())  # the row number is the index
    i, j = _int_labels(df, "i", path), _int_labels(df, "j", path)
    if (i >= j).any():
        raise TLSFinderError(f"{path}: {int((i >= j).sum())} row(s) with i >= j")
    is_dw = "out" in df.columns
    labels = pd.DataFrame({
        "glass": pd.Series(_glass_names(_tf(path, tf), df["conf"]), dtype="string"),
        "i": i,
        "j": j,
        "is_dw": np.full(len(df), is_dw),
        "splitting": df["out"].to_numpy(dtype=float) if is_dw else np.full(len(df), np.nan),
        "iteration": np.int64(-1),
        "source": path.name,
    })
    return check_labels_table(labels, source=str(path))


# ---------------------------------------------------------------------------
# inherent structures on disk
# ---------------------------------------------------------------------------

# column of x in each LAMMPS atom style we read (y, z follow)
_X_COLUMN = {"atomic": 2, "charge": 3, "sphere": 4, "full": 4, "molecular": 3, "bond": 3, "angle": 3}


def read_lammps_data(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Positions (N, 3) ordered by atom id and box edges (3,) of a LAMMPS data file (orthorhombic)."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TLSFinderError(f"{path}: unreadable ({exc})") from exc
    n_atoms = None
    bounds = {}
    atoms_at = None
    for k, line in enumerate(lines[1:], start=1):
        body = line.split("#")[0].split()
        if not body:
            continue
        if body[0] == "Atoms":
            atoms_at = k
            break
        if len(body) == 2 and body[1] == "atoms":
            n_atoms = int(body[0])
        elif len(body) == 4 and body[2] in ("xlo", "ylo", "zlo"):
            bounds[body[2][0]] = (float(body[0]), float(body[1]))
        elif len(body) >= 6 and body[3:6] == ["xy", "xz", "yz"]:
            if any(float(v) != 0.0 for v in body[:3]):
                raise TLSFinderError(f"{path}: triclinic box (xy xz yz) is not supported")
    if n_atoms is None or atoms_at is None or set(bounds) != {"x", "y", "z"}:
        raise TLSFinderError(f"{path}: not a LAMMPS data file (need 'N atoms', x/y/z bounds and an Atoms section)")
    style = lines[atoms_at].split("#")[1].strip() if "#" in lines[atoms_at] else ""
    rows = []
    for line in lines[atoms_at + 1:]:
        body = line.split("#")[0].split()
        if not body:
            if rows:
                break
            continue
        rows.append(body)
        if len(rows) == n_atoms:
            break
    if len(rows) != n_atoms:
        raise TLSFinderError(f"{path}: Atoms section has {len(rows)} lines, header says {n_atoms} atoms")
    try:
        data = np.array(rows, dtype=float)
    except ValueError:
        raise TLSFinderError(f"{path}: Atoms section is not a table of numbers") from None
    ncol = data.shape[1]
    if style in _X_COLUMN:
        xc = _X_COLUMN[style]
    elif ncol in (5, 8):
        xc = 2
    elif ncol in (6, 9):
        xc = 3
    else:
        raise TLSFinderError(f"{path}: unknown atom style {style!r} with {ncol} columns; known: {sorted(_X_COLUMN)}")
    if ncol < xc + 3:
        raise TLSFinderError(f"{path}: atom style {style!r} needs at least {xc + 3} columns, found {ncol}")
    order = np.argsort(data[:, 0], kind="stable")
    pos = data[order, xc:xc + 3]
    box = np.array([bounds[a][1] - bounds[a][0] for a in "xyz"])
    return np.ascontiguousarray(pos), box


def read_fortran_conf(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Positions (N, 3) and box edges (3,) of a published binary ``.conf`` file.

    Fortran unformatted sequential records (4-byte markers): int32 N; float64
    box edge(s) (one value: cubic); then N records (diameter, x, y, z) float64
    (or one record of 4N values).
    """
    path = Path(path)
    raw = path.read_bytes()
    recs, off = [], 0
    while off < len(raw):
        if off + 4 > len(raw):
            raise TLSFinderError(f"{path}: truncated Fortran record marker at byte {off}")
        n = int(np.frombuffer(raw, "<i4", 1, off)[0])
        end = off + 4 + n
        if n < 0 or end + 4 > len(raw) or int(np.frombuffer(raw, "<i4", 1, end)[0]) != n:
            raise TLSFinderError(f"{path}: not a Fortran unformatted file (bad record at byte {off})")
        recs.append(raw[off + 4:end])
        off = end + 4
    if len(recs) < 3 or len(recs[0]) != 4:
        raise TLSFinderError(f"{path}: expected records N, box, particles; found {len(recs)} record(s)")
    n_atoms = int(np.frombuffer(recs[0], "<i4")[0])
    box = np.frombuffer(recs[1], "<f8").astype(float)
    box = np.repeat(box, 3) if box.size == 1 else box[:3]
    body = np.frombuffer(b"".join(recs[2:]), "<f8")
    if body.size != 4 * n_atoms or box.size != 3:
        raise TLSFinderError(f"{path}: {body.size} values for N = {n_atoms} particles (expected {4 * n_atoms})")
    return np.ascontiguousarray(body.reshape(n_atoms, 4)[:, 1:]), box


def read_is_folder(folder: str | Path):
    """Energies per particle (from file names), positions (n_IS, N, 3), box of one ``Cnf-*`` folder.

    Files are ``{energy}.conf.txt`` (LAMMPS data) or ``{energy}.conf`` (binary),
    returned in increasing energy.
    """
    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.name.endswith((".conf", ".conf.txt")))
    if not files:
        raise TLSFinderError(f"{folder}: no *.conf / *.conf.txt files")
    energies, positions, box = [], [], None
    for f in files:
        try:
            energies.append(float(f.name.split(".conf")[0]))
        except ValueError:
            raise TLSFinderError(f"{f}: file name is not an energy per particle") from None
    order = np.argsort(energies, kind="stable")
    for k in order:
        f = files[k]
        pos, b = read_lammps_data(f) if f.name.endswith(".txt") else read_fortran_conf(f)
        if box is None:
            box = b
        elif not np.allclose(b, box, rtol=1e-10, atol=0):
            raise TLSFinderError(f"{f}: box {b} differs from the other minima of {folder} ({box})")
        if positions and pos.shape != positions[0].shape:
            raise TLSFinderError(f"{f}: {len(pos)} particles, the other minima of {folder} have {len(positions[0])}")
        positions.append(pos)
    return np.asarray(energies)[order], np.stack(positions), box


def import_configurations(root: str | Path, *, tf=None, delta_e_max: float = DEFAULT_DELTA_E_MAX) -> pd.DataFrame:
    """Pairs of every glass under a ``Configurations`` tree (or ``minima``, ``T*`` or ``Cnf-*`` folder)."""
    root = Path(root)
    if not root.is_dir():
        raise TLSFinderError(f"{root}: not a folder")
    if any(p.name.endswith((".conf", ".conf.txt")) for p in root.iterdir()):
        glass_dirs = [root]
    else:
        glass_dirs = sorted({f.parent for f in root.rglob("*.conf*") if f.name.endswith((".conf", ".conf.txt"))})
    if not glass_dirs:
        raise TLSFinderError(f"{root}: no minima found (expected .../T*/Cnf-*/<energy>.conf[.txt])")
    parts = []
    for d in glass_dirs:
        t = f"{float(tf):g}" if tf is not None else tf_from_name("/" + d.parent.name)
        if t is None:
            raise TLSFinderError(f"{d}: cannot tell T_f from the folder {d.parent.name!r}; pass tf= (--tf)")
        energies, positions, box = read_is_folder(d)
        ids = np.arange(1, len(energies) + 1)
        df = pair_features(positions, energies, box, None, ids, glass=f"T{t}/{d.name}", delta_e_max=delta_e_max)
        log.info("%s: %d minima, %d pairs", d, len(energies), len(df))
        parts.append(df)
    log.warning("configurations carry no transition counts: Tij = Tji = 0 for all imported pairs")
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------
# combining sources
# ---------------------------------------------------------------------------


def merge_pairs(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One pairs table from several; a pair listed twice must have identical features."""
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="string" if c == "glass" else "float64") for c in PAIR_COLUMNS})
    df = pd.concat(parts, ignore_index=True)
    df["glass"] = df["glass"].astype("string")
    dup = df.duplicated(list(PAIR_KEY), keep=False)
    if dup.any():
        d = df[dup]
        feats = list(PUBLISHED_FEATURES)
        n_distinct = d.groupby(list(PAIR_KEY))[feats].nunique(dropna=False).max(axis=1)
        bad = n_distinct[n_distinct > 1]
        if len(bad):
            raise TLSFinderError(f"{len(bad)} pair(s) appear in several sources with different features, "
                                 f"e.g. {bad.index[:3].tolist()}")
        df = df.drop_duplicates(list(PAIR_KEY), keep="first")
    return df.sort_values(list(PAIR_KEY), kind="stable").reset_index(drop=True)


def merge_labels(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """One labels table from several; conflicts (is_dw, splitting beyond 1e-9 relative) stop the import."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return empty_labels()
    df = pd.concat(parts, ignore_index=True)
    df["glass"] = df["glass"].astype("string")
    g = df.groupby(list(PAIR_KEY), sort=True)
    is_dw = g["is_dw"].agg(["min", "max"])
    bad = is_dw[is_dw["min"] != is_dw["max"]]
    if len(bad):
        raise TLSFinderError(f"{len(bad)} pair(s) labelled DW in one source and not in another, e.g. {bad.index[:3].tolist()}")
    s = g["splitting"].agg(["min", "max"])
    spread = (s["max"] - s["min"]) / s["max"]
    bad = spread[spread > 1e-9]
    if len(bad):
        raise TLSFinderError(f"{len(bad)} pair(s) with different splittings in different sources, e.g. {bad.index[:3].tolist()}")
    first = g.first()  # first non-NaN value of each column
    out = first.reset_index()
    out["source"] = g["source"].agg(lambda v: "+".join(dict.fromkeys(v))).to_numpy()
    return check_labels_table(out, source="merged labels")


def import_tlsml(sources, *, tf=None, delta_e_max: float = DEFAULT_DELTA_E_MAX,
                 paired_only: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Pairs and labels from any mix of published files and folders (see the module docstring).

    Labels of pairs absent from the imported pairs (e.g. CSV rows of glasses
    without features) are kept and counted in the log, or dropped with
    ``paired_only``: training needs every label to have its pair.
    """
    pair_parts, label_parts = [], []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            pair_parts.append(import_configurations(src, tf=tf, delta_e_max=delta_e_max))
        elif src.suffix == ".feather":
            p, lab = import_feather(src, tf=tf)
            pair_parts.append(p)
            label_parts.append(lab)
        elif src.suffix == ".csv":
            label_parts.append(import_exact_csv(src, tf=tf))
        elif not src.exists():
            raise TLSFinderError(f"{src}: no such file or folder")
        else:
            raise TLSFinderError(f"{src}: unknown source (expected .feather, .csv or a Configurations folder)")
    pairs, labels = merge_pairs(pair_parts), merge_labels(label_parts)
    if len(labels):
        known = labels[list(PAIR_KEY)].merge(pairs[list(PAIR_KEY)].assign(_p=1), on=list(PAIR_KEY), how="left")["_p"].notna()
        n_unpaired = int((~known).sum())
        if n_unpaired:
            log.info("%d of %d label(s) have no pair (features) among the imported sources%s", n_unpaired, len(labels),
                     ": dropped" if paired_only else "")
            if paired_only:
                labels = labels[known.to_numpy()].reset_index(drop=True)
    return pairs, labels
