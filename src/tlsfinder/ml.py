"""Rank candidate pairs for NEB: a double-well classifier and a splitting regressor (LightGBM).

Following the published ML search (Ciarella et al. (2023), "Finding defects in glasses
through machine learning", arXiv:2212.05582), two gradient-boosted tree models
learn from pairs already computed exactly (NEB + 1D Schroedinger):

* :class:`DWClassifier`: is the pair a single double well (NEB finds one
  barrier and no intermediate minimum)?  Trained on every labelled pair.
* :class:`SplittingRegressor`: y = -log10(splitting) of a double well (splitting
  in the model's reduced energy unit).  Trained on labelled double wells.  By default
  it learns the 0.84 quantile of y given the features, not its mean (below).

Both use early stopping on a validation set made of whole glasses (never rows:
pairs of one glass are strongly correlated), optional sample weights, and a
fixed seed.  Each is an ensemble of :data:`ENSEMBLE_SIZE` boosters (bagging): member k
validates on its own glasses with its own LightGBM seed, and the prediction is the
members' average.  :class:`TLSRanker` holds both, joins pairs and labels, predicts and
ranks, and saves everything to a folder.

How the two predictions make one ranking.  The classifier's training set holds
every labelled pair, the regressor's only double wells, and a pair is a TLS when
it is a DW *and* its splitting is below ``tls_splitting_max``: the k_B T_Q of the
run's unit preset (``loop.preset``; the same threshold as the stopping rule and the
report), 0.00151 in the published work.  We rank every pair by the probability of being a TLS under a
simple error model: with ŷ the regressor's prediction and a Gaussian error of
width ``sigma`` decades on it,

    p_tls = p_dw * Phi((ŷ - y_max) / sigma),   y_max = -log10(tls_splitting_max).

Choices, by grouped cross-validation on the published T_f = 0.07 data (Ciarella et al.,
arXiv:2212.05582, TLS_ML_exploration: 39,065 pairs, 23,535 DW, 293 TLS, 50 glasses;
benchmarks/ml.py: 5 folds of whole glasses, 5 seeds; "share for 90 %" = the fraction of the
held-out pairs, taken in ranking order, that holds 90 % of their TLS; mean +- std over seeds):

* TLS are the far tail (1.2 % of DW, y > 2.82 against a bulk at 1.85), and a mean
  regression pulls them towards the bulk: held out, it predicts TLS 0.39 decades too
  large a splitting on average (0.19 for DWs within 0.3 decades of y_max).  Learning the
  0.84 quantile (:data:`REGRESSOR_QUANTILE`) removes that bias near the threshold
  (-0.03 decades) at the price of the bulk fit (R^2 0.76 against 0.89).
* ``sigma``: the spread of the held-out errors of DWs near the threshold is 0.24-0.26
  decades (either regressor; the bulk RMS, 0.11, underestimates it), hence 0.25.  A scan
  agrees: 90 % of the TLS need 2.26-2.28 % of the pairs for sigma 0.15-0.25, 2.49 % at 0.1;
  above 0.3 the TLS the classifier doubts fall to the far end (all TLS need 29 % of the
  pairs at 0.4).
* Ensembles (:data:`ENSEMBLE_SIZE`).  One booster's ranking depends on chance: the same
  fold trained with another LightGBM seed alone moves the share for 90 % by up to 0.4 % of
  the pairs, and a model early-stopped on one validation set of glasses never learns from
  them.  Five members per model, each with its own validation glasses and seed, averaged:
  0.79 +- 0.12 / 2.13 +- 0.11 / 8.4 +- 1.4 % of the pairs for 50 / 90 / 100 % of the TLS
  against 0.81 +- 0.08 / 2.28 +- 0.14 / 8.0 +- 1.1 % with one booster each (the same 5
  seeds; at 90 % lower for 4 of them, by 0.15 on average); held-out R^2 0.83 against 0.76,
  DW accuracy 0.903 against 0.896.  In a separate study (5 seeds, paired) ten members gave
  2.14 against 2.17 for five and 2.36 for one: five keep most of the gain at half the cost.
  The held-out error of DWs whose true y is within 0.3 decades of y_max has a standard
  deviation of 0.19-0.22 decades for five members (0.19-0.23 for one; 5 seeds); ``sigma``
  0.2-0.3 are equivalent at 90 % (2.13-2.16 %), and 0.2, that width, finds the last TLS
  sooner (6.9 +- 0.7 % of the pairs against 8.4 +- 1.4 % at 0.25).
* Before ensembles: 0.81 +- 0.08 / 2.28 +- 0.14 / 8.0 +- 1.1 % of the pairs for 50 / 90 / 100 % of
  the TLS, against 0.72 +- 0.11 / 2.32 +- 0.29 / 9.0 +- 3.0 % with the mean regressor.
  The gain is the stability over seeds and the last TLS; at 90 % the two are within the
  seed spread.  Weighting DWs by 1/splitting in the regressor (the published choice) or by
  splitting^-0.5, a regressor on a target clipped below, smaller leaves, a lower learning
  rate, and six ratio features of the published ones all stayed at 2.0-2.6 % for 90 % (3-5
  seeds); a direct TLS-or-not classifier (93 %) and LambdaRank by glass (3.5 %) did
  worse.  The limit is the regressor's tail: with a perfect DW classifier the same
  regressor still needs 1.6-1.9 % (3 seeds), short of 1.5 %.
* With ensembles (five members, 3-5 seeds, paired against 2.10-2.17 %): the published
  1/splitting weights (mean or 0.84-quantile regressor, sigma 0.15-0.35) 2.17-2.34 %,
  splitting^-0.5 weights 2.16-2.34 %, the quantile regressor averaged with a mean one
  monotone in Delta_E 2.12 % (ten members; 2.14 % without), trees of 15 or 63 leaves
  2.04-2.25 % (within the seed spread), a learning rate of 0.05 2.17 %, the 0.78 or 0.90
  quantile instead of 0.84 2.22-2.40 % or 2.20-2.26 % (sigma 0.15-0.3); with one booster,
  refitting on all training glasses with the early-stopped number of rounds 2.27 % (against
  2.41 %, 8 seeds) and a TLS-or-not classifier on DWs times p_dw 3.2 % (1 seed).
  With a perfect DW classifier the five-member regressor needs 1.77 +- 0.06 %: the features
  do not separate TLS from DWs within ~0.2 decades of the threshold well enough for 1.5 %.
* Context features from the glass's pairs table (benchmarks/ml_context.py, 5 members, 10 seeds):
  the branching fractions Tij / (transitions out of i) and Tji / (out of j) give 1.90 +- 0.09 %
  (paired -0.23 +- 0.13, lower in 10 of 10 seeds) by a better DW classifier (accuracy 0.902 ->
  0.936); the regressor's bound stays 1.78 %, and graph degrees, triangles and energy ranks did
  not help.  The gain shrinks with sparse counts (2.08 % with 10 % of the transitions kept).

The alternative order ``"dw_then_splitting"`` (pairs with p_dw >= 0.5 by predicted splitting,
then the others) needs 2.4 % for 90 % and 65 % for all.

Retraining with a pretrained model (``ml.retrain_from``, benchmarks/retrain_prior.py).  Once a
run's labels hold ``ml.min_retrain_dw`` DW, each member of both models continues boosting from the
pretrained model's member (LightGBM ``init_model``: its trees stay, new ones are early-stopped on the
run's validation glasses) instead of learning the run's labels alone.  Published data split by
glass, 10 splits: a prior of 25 glasses, 200 / 500 / 2000 labels of 10 others as the run's, 15
held out.  For 90 % of the held-out TLS, continuing needs 2.13 / 2.08 / 2.07 % of the pairs, the
prior alone 2.04 % (paired difference +0.09 +- 0.13 / +0.04 +- 0.13 / +0.03 +- 0.13), training from
scratch 6.9 / 4.3 / 3.1 %; with labels drawn as the loop draws them (the prior's best ranked, 10 %
at random) 2.21 / 2.10 / 2.07 % against 50 / 8.8 / 2.7 % from scratch, which learns nothing from the
best-ranked pairs alone.  Averaging the prior's and the scratch model's p_dw and -log10(splitting)
with weight 0.8 on the prior does as well as continuing (paired -0.04 to +0.02 +- 0.14-0.35), with
0.5 worse (+0.10 to +0.63); continuing keeps one model per folder.  These glasses share the prior's
T_f: the data cannot show what the run's own labels add for another one.

Tables (Parquet).  A pair is identified by ``glass`` (string), ``i``, ``j``
(IS ids, i < j) everywhere (see :mod:`tlsfinder.pairs`).

Labels table (one row per pair computed exactly):

==============  =======  ======================================================
column          type     meaning
==============  =======  ======================================================
``glass``       string   glass
``i``, ``j``    int64    IS ids, i < j
``is_dw``       bool     NEB between i and j found a single double well
``splitting``   float64  its tunnel splitting E = e2 - e1 (reduced energy unit
                         of the model); NaN when not a DW (or not computed)
``iteration``   int64    loop iteration that labelled it (-1: imported /
                         pretraining); optional on input (default -1)
``weight``      float64  optional sample weight (used when asked for)
==============  =======  ======================================================

Other columns (``source``, NEB details...) are carried along and ignored.

Ranking table: ``glass``, ``i``, ``j``, ``rank`` (int64, 0 = compute first),
``p_dw`` (probability of a DW), ``splitting_pred`` (predicted splitting,
10**-ŷ: with the default quantile regressor, the splitting 16 % of similar DWs fall below, not
a typical one), ``p_tls`` (above); sorted by ``rank``.  The heuristic ranking used
before any model exists has NaN predictions.

Selected table: the ranking columns of the chosen pairs plus ``reason``
(``"ranked"``: taken in ranking order, or ``"explore"``: drawn at random) and ``iteration``.

Model folder: ``model.json`` (format, features, glass ``model`` and unit ``preset`` of
the splittings it learnt, settings, ``regressor_quantile`` (absent in older folders: the mean),
``n_models`` (members per model; absent in older folders: 1),
training summary, ``training_data`` (what the labels were, e.g. their T_f), ``continued_from`` (the
prior a retrained model continued boosting from, :func:`prior_record`; null when trained from
scratch), provenance with package versions), ``classifier.txt`` and ``regressor.txt`` (LightGBM text
models of member 0),
``classifier-K.txt`` and ``regressor-K.txt`` for the other members K = 1, 2, ...  ``builtin:NAME``
names a model folder shipped with the package (:data:`BUILTIN_MODELS`).  Labels files written by
:func:`write_labels` record the same two in their Parquet metadata.  A model folder or
labels file of another glass model or preset than the run's is refused, naming both
(:func:`check_model_provenance`, :func:`check_labels_provenance`): splittings in argon
units are not splittings in NiP units, and KA2 splittings are not PSS ones.

Defaults of every setting are those of the config's ``ml`` section in the schema
(:func:`tlsfinder.schema.defaults`).  Predictions use LightGBM's own
``Booster.predict`` on one thread: ranking costs microseconds per pair, one NEB seconds.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from . import TLSFinderError
from .io import atomic_dir, provenance, write_parquet
from .pairs import PAIR_KEY, PUBLISHED_FEATURES, check_pairs_table, read_pairs
from .schema import defaults, enum

log = logging.getLogger(__name__)

MODEL_FORMAT = "tlsfinder-ml/1"

#: Defaults of every ``ml`` setting (the config schema's ``ml`` section).
DEFAULTS = defaults("ml")

#: Splitting below which a DW is a TLS in the published ML search (Ciarella et al. (2023), PSS in
#: argon units): the threshold of the published data and of a ranker made without a model and preset.
#: A run's threshold is its loop.preset's k_B T_Q (tlsfinder.loop.tls_threshold), never a config key.
TLS_SPLITTING_MAX = 0.00151

#: LightGBM settings shared by both models (overridable through ``params``).  Shallow trees
#: (max_depth 6) and a high learning rate keep the boosters small (17-98 trees each with early
#: stopping on the published data, ~430 for both five-member ensembles) so ranking is cheap
#: (3.5e4 pairs/s per core, 2.9e5 with one booster per model); on that data they rank as well as
#: learning_rate 0.1 or unlimited depth (benchmarks/ml.py --params).
DEFAULT_PARAMS = {
    "learning_rate": 0.2,
    "num_leaves": 31,
    "max_depth": 6,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.9,
    "bagging_freq": 1,
    "lambda_l2": 0.0,
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
}

#: Quantile of -log10(splitting) the regressor learns (None: the mean).  Chosen with ``sigma`` by
#: grouped cross-validation on the published data (module docstring, benchmarks/ml.py).
REGRESSOR_QUANTILE = 0.84

#: Fewer training rows than this outside the validation glasses: a member trains on every row instead.
MIN_TRAIN_ROWS = 10

#: Members of each model's ensemble (bagging): member k learns with its own validation glasses and
#: LightGBM seed (``seed + k``), and predictions are the members' average.  One booster's ranking
#: changes with its seed alone by ~0.4 % of the pairs for 90 % of the TLS; averaging removes most of
#: that noise (module docstring, benchmarks/ml.py --n-models).
ENSEMBLE_SIZE = 5

#: Ranking orders (``ml.order``), as the schema allows them.
ORDERS = enum("ml.order")

#: How a run with a pretrained model retrains once its labels hold ``ml.min_retrain_dw`` DW
#: (``ml.retrain_from``): ``"prior"`` continues boosting from the pretrained model's members,
#: ``"scratch"`` trains on the run's labels alone (:func:`train_from_files`; measured in the module
#: docstring).
RETRAIN_FROM = enum("ml.retrain_from")

LABEL_COLUMNS = ("glass", "i", "j", "is_dw", "splitting", "iteration")
RANKING_COLUMNS = ("glass", "i", "j", "rank", "p_dw", "splitting_pred", "p_tls")


# ---------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------


def empty_labels() -> pd.DataFrame:
    """A labels table with no rows and the right column types."""
    return pd.DataFrame(
        {
            "glass": pd.Series([], dtype="string"),
            "i": pd.Series([], dtype="int64"),
            "j": pd.Series([], dtype="int64"),
            "is_dw": pd.Series([], dtype="bool"),
            "splitting": pd.Series([], dtype="float64"),
            "iteration": pd.Series([], dtype="int64"),
        }
    )


def check_labels_table(df: pd.DataFrame, source: str = "labels table") -> pd.DataFrame:
    """Check a labels table; return it with normalised types (``iteration`` filled with -1)."""
    missing = [c for c in ("glass", "i", "j", "is_dw", "splitting") if c not in df.columns]
    if missing:
        raise TLSFinderError(f"{source}: missing column(s) {missing}; a labels table needs {list(LABEL_COLUMNS)}")
    df = df.copy()
    if "iteration" not in df.columns:
        df["iteration"] = -1
    for c in ("i", "j", "iteration"):
        if not pd.api.types.is_integer_dtype(df[c]):
            raise TLSFinderError(f"{source}: column {c!r} must be integer, got {df[c].dtype}")
        df[c] = df[c].astype("int64")
    if df["is_dw"].isna().any():
        raise TLSFinderError(f"{source}: column 'is_dw' has {int(df['is_dw'].isna().sum())} missing value(s)")
    if not (pd.api.types.is_bool_dtype(df["is_dw"]) or set(pd.unique(df["is_dw"])) <= {0, 1}):
        raise TLSFinderError(f"{source}: column 'is_dw' must be boolean (or 0/1), got {df['is_dw'].dtype}")
    df["is_dw"] = df["is_dw"].astype(bool)
    if not pd.api.types.is_numeric_dtype(df["splitting"]):
        raise TLSFinderError(f"{source}: column 'splitting' must be numeric, got {df['splitting'].dtype}")
    s = df["splitting"].to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isnan(s) & ~(np.isfinite(s) & (s > 0))
    if bad.any():
        raise TLSFinderError(f"{source}: column 'splitting' has {int(bad.sum())} value(s) that are not positive and finite")
    bad = ~df["is_dw"].to_numpy() & ~np.isnan(s)
    if bad.any():
        raise TLSFinderError(f"{source}: {int(bad.sum())} row(s) give a splitting for a pair that is not a DW")
    df["splitting"] = s
    df["glass"] = df["glass"].astype("string")
    if df["glass"].isna().any():
        raise TLSFinderError(f"{source}: column 'glass' has missing values")
    n_order = int((df["i"] >= df["j"]).sum())
    if n_order:
        raise TLSFinderError(f"{source}: {n_order} row(s) with i >= j; pairs are written with i < j")
    dup = df.duplicated(list(PAIR_KEY))
    if dup.any():
        ex = df.loc[dup, list(PAIR_KEY)].head(3).to_dict("records")
        raise TLSFinderError(f"{source}: {int(dup.sum())} pair(s) labelled twice, e.g. {ex}")
    return df


#: Parquet key-value metadata key of a labels table's provenance (JSON: ``model``, ``preset``).
LABELS_META_KEY = b"tlsfinder.labels"


def write_labels(path: str | Path, df: pd.DataFrame, model: str, preset: str) -> None:
    """Write a labels table with its provenance: the glass model (KA2, PSS) and the unit preset whose
    splittings it holds, in the Parquet file's key-value metadata (read back by :func:`read_labels`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from .io import atomic_path

    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[LABELS_META_KEY] = json.dumps({"model": str(model), "preset": str(preset)}).encode()
    with atomic_path(path) as tmp:
        pq.write_table(table.replace_schema_metadata(meta), tmp)


def labels_provenance(path: str | Path) -> dict | None:
    """``{"model": ..., "preset": ...}`` of a labels file, or None when it does not record them."""
    import pyarrow.parquet as pq

    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:
        raise TLSFinderError(f"{path}: not a readable Parquet table ({exc})") from exc
    if LABELS_META_KEY not in meta:
        return None
    try:
        return json.loads(meta[LABELS_META_KEY])
    except ValueError as exc:
        raise TLSFinderError(f"{path}: unreadable labels provenance ({exc})") from exc


def _check_provenance(what: str, source, found: dict | None, model: str | None, preset: str | None) -> None:
    """Refuse ``found`` (``model``/``preset`` of a file) when it differs from the run's; name both."""
    if found is None:
        if model is not None or preset is not None:
            log.warning("%s: %s, with no record of the glass model and unit preset; taken as the run's (%s %s)",
                        source, what, model, preset)
        return
    for key, want in (("model", model), ("preset", preset)):
        have = found.get(key)
        if want is not None and have is not None and str(have) != str(want):
            raise TLSFinderError(
                f"{source}: {what} of {key} {have} ({found.get('model')} {found.get('preset')}), but this run is "
                f"{key} {want} ({model} {preset}): splittings and the TLS threshold differ between glass models "
                f"and unit presets")


def check_labels_provenance(path: str | Path, model: str | None, preset: str | None) -> None:
    """Refuse a labels file recorded for another model or preset than ``model`` / ``preset``."""
    _check_provenance("labels", path, labels_provenance(path), model, preset)


def read_labels(path: str | Path | None, model: str | None = None, preset: str | None = None) -> pd.DataFrame:
    """Read and check a labels table (``None`` or a missing optional file: empty table).

    With ``model`` / ``preset``, a table recorded (:func:`write_labels`) for another glass model or
    unit preset is refused, naming both.
    """
    if path is None:
        return empty_labels()
    path = Path(path)
    if not path.exists():
        raise TLSFinderError(f"{path}: no such labels table")
    if model is not None or preset is not None:
        check_labels_provenance(path, model, preset)
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise TLSFinderError(f"{path}: not a readable Parquet table ({exc})") from exc
    return check_labels_table(df, source=str(path))


def _key_frame(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"glass": df["glass"].astype("string").to_numpy(), "i": df["i"].to_numpy(), "j": df["j"].to_numpy()})


#: Outcomes (labels' ``neb_status``) that are not trained on: a path connected through
#: intermediate minima is neither one double well nor a non-DW (its elementary sub-pairs carry
#: the information, with labels of their own), and an unconverged band says nothing.
UNTRAINED_STATUSES = ("split", "unconverged")


def training_labels(labels: pd.DataFrame, pairs: pd.DataFrame) -> pd.DataFrame:
    """The labels a model trains on: without the :data:`UNTRAINED_STATUSES`, and without the
    elementary sub-pairs (``origin == "split"``) that have no row in ``pairs`` (a minimum found by
    NEB, or |Delta_E| beyond ``ml.delta_e_max``: no features); both dropped with a count in the log."""
    keep = np.ones(len(labels), dtype=bool)
    if "neb_status" in labels.columns:
        status = labels["neb_status"].astype(str).to_numpy()
        skip = np.isin(status, UNTRAINED_STATUSES)
        if skip.any():
            log.info("training: %d label(s) with outcome %s not trained on", int(skip.sum()),
                     "/".join(UNTRAINED_STATUSES))
        keep &= ~skip
    if "origin" in labels.columns:
        sub = keep & (labels["origin"].astype(str).to_numpy() == "split")
        if sub.any():
            m = _key_frame(labels[sub]).merge(_key_frame(pairs).drop_duplicates().assign(_in=1),
                                             on=list(PAIR_KEY), how="left")
            absent = np.flatnonzero(sub)[m["_in"].isna().to_numpy()]
            if len(absent):
                log.info("training: %d elementary sub-pair label(s) have no features (a minimum found by NEB, or "
                         "|Delta_E| beyond ml.delta_e_max) and are not trained on", len(absent))
            keep[absent] = False
    return labels[keep].reset_index(drop=True)


def join_labels(pairs: pd.DataFrame, labels: pd.DataFrame, source: str = "labels") -> np.ndarray:
    """Row index into ``pairs`` of every label row; unknown pairs raise with a count and examples."""
    left = _key_frame(labels)
    right = _key_frame(pairs)
    right["_row"] = np.arange(len(pairs))
    m = left.merge(right, on=list(PAIR_KEY), how="left")
    unknown = m["_row"].isna().to_numpy()
    if unknown.any():
        ex = left[unknown].head(5).to_dict("records")
        raise TLSFinderError(
            f"{source}: {int(unknown.sum())} of {len(labels)} labelled pair(s) are not in the pairs table, e.g. {ex}"
        )
    return m["_row"].to_numpy(dtype=np.int64)


def glass_split(groups, val_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of rows whose glass goes to the validation set.

    ``round(val_fraction * n_glasses)`` whole glasses (at least one when there are
    two or more glasses; none with a single glass), chosen with ``rng``.
    """
    groups = pd.Series(np.asarray(groups)).astype("string")
    uniq = np.array(sorted(groups.unique()), dtype=object)
    n_val = 0 if len(uniq) < 2 else int(min(len(uniq) - 1, max(1, round(val_fraction * len(uniq)))))
    if n_val == 0 or val_fraction <= 0:
        return np.zeros(len(groups), dtype=bool)
    val = set(rng.choice(uniq, size=n_val, replace=False).tolist())
    return groups.isin(val).to_numpy()


# ---------------------------------------------------------------------------
# the two models
# ---------------------------------------------------------------------------


def _feature_matrix(X, features: list[str], source: str = "input") -> np.ndarray:
    """Column-major float64 matrix of ``features`` from a DataFrame (or a checked array)."""
    if isinstance(X, pd.DataFrame):
        missing = [f for f in features if f not in X.columns]
        if missing:
            raise TLSFinderError(
                f"{source}: the model was trained on features {features}; missing here: {missing}"
            )
        M = np.empty((len(X), len(features)), order="F")
        for k, f in enumerate(features):
            col = X[f]
            if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
                raise TLSFinderError(f"{source}: feature column {f!r} is not numeric ({col.dtype})")
            if isinstance(col.dtype, np.dtype):
                M[:, k] = col.to_numpy()
            else:  # nullable extension types: missing values become NaN (and are refused below)
                M[:, k] = col.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        M = np.asarray(X, dtype=np.float64)
        if M.ndim != 2 or M.shape[1] != len(features):
            raise TLSFinderError(
                f"{source}: expected {len(features)} feature columns {features}, got an array of shape {M.shape}"
            )
    if not np.isfinite(M).all():
        bad = [f for k, f in enumerate(features) if not np.isfinite(M[:, k]).all()]
        raise TLSFinderError(f"{source}: NaN or inf in feature column(s) {bad}")
    return M


class _GBM:
    """Shared fit/predict machinery (scikit-learn style) of the two LightGBM models."""

    objective = ""

    def __init__(self, params: dict | None = None, *, val_fraction: float = DEFAULTS["val_fraction"],
                 early_stopping_rounds: int = DEFAULTS["early_stopping_rounds"],
                 max_rounds: int = DEFAULTS["max_rounds"], fallback_rounds: int = DEFAULTS["fallback_rounds"],
                 seed: int = 0, n_models: int = ENSEMBLE_SIZE) -> None:
        self.params = {**DEFAULT_PARAMS, **(params or {})}
        self.val_fraction = val_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.max_rounds = max_rounds
        self.fallback_rounds = fallback_rounds
        self.seed = seed
        if isinstance(n_models, bool) or not isinstance(n_models, (int, np.integer)) or n_models < 1:
            raise TLSFinderError(f"{type(self).__name__}: n_models must be an integer >= 1, got {n_models!r}")
        self.n_models = int(n_models)
        #: The members of the ensemble (LightGBM boosters); predictions are their average.
        self.boosters_: list = []
        self.features_: list[str] | None = None
        self.info_: dict = {}

    @property
    def booster_(self):
        """The first member (the whole model when ``n_models`` is 1); None before fitting."""
        return self.boosters_[0] if self.boosters_ else None

    # -- training -------------------------------------------------------
    def _objective_params(self) -> dict:
        return {"objective": self.objective}

    def _target(self, y) -> np.ndarray:
        return np.asarray(y, dtype=float)

    def fit(self, X, y, *, groups=None, sample_weight=None, val_mask=None, init=None):
        """Fit on ``X`` (DataFrame of features, or array), targets ``y``.

        ``groups`` (glass of each row) gives the validation split for early
        stopping; ``val_mask`` (boolean per row, or one such row per member) imposes one
        instead.  Without either, or with a single glass, ``fallback_rounds`` boosting
        rounds are run without early stopping.  Each of the ``n_models`` members draws its
        own validation glasses and LightGBM seed (``seed + k`` for member k).

        ``init``: a fitted model of the same kind, features and objective (the prior).  Member k
        continues boosting from the prior's member k (LightGBM ``init_model``: the prior's trees stay
        and new trees fit what they get wrong on these rows, early-stopped as above); the ensemble then
        has the prior's number of members.
        """
        if isinstance(X, pd.DataFrame):
            features = [str(c) for c in X.columns]
        else:
            features = self.features_ or [f"f{k}" for k in range(np.asarray(X).shape[1])]
        M = _feature_matrix(X, features, source=f"{type(self).__name__}.fit")
        t = self._target(y)
        if t.shape != (len(M),):
            raise TLSFinderError(f"{type(self).__name__}.fit: {len(M)} rows of features but {t.shape} targets")
        if len(M) == 0:
            raise TLSFinderError(f"{type(self).__name__}.fit: no training rows")
        w = None
        if sample_weight is not None:
            w = np.asarray(sample_weight, dtype=float)
            if w.shape != (len(M),) or not np.isfinite(w).all() or (w < 0).any():
                raise TLSFinderError(f"{type(self).__name__}.fit: sample_weight must be {len(M)} finite non-negative numbers")
        if init is not None:
            self._check_init(init, features)
            self.n_models = len(init.boosters_)
        masks = self._member_masks(val_mask, groups, len(M))
        members = [self._fit_member(M, t, w, masks[k], self.seed + k, features,
                                    None if init is None else init.boosters_[k]) for k in range(self.n_models)]
        if not members[0]["early_stopping"]:
            log.warning("%s: no validation glasses; %d rounds without early stopping", type(self).__name__,
                        members[0]["rounds"])
        self.boosters_ = [m.pop("booster") for m in members]
        self.features_ = features
        first = members[0]
        self.info_ = {
            "n_train": first["n_train"],
            "n_val": first["n_val"],
            "n_glasses_val": int(pd.Series(np.asarray(groups)[masks[0]]).nunique()) if groups is not None else 0,
            "n_models": self.n_models,
            "rounds": int(round(np.mean([m["rounds"] for m in members]))),
            "rounds_each": [m["rounds"] for m in members],
            **({} if init is None else {"prior_rounds_each": [m["prior_rounds"] for m in members]}),
            "early_stopping": first["early_stopping"],
            "train_seconds": round(sum(m["train_seconds"] for m in members), 3),
            # members that trained on every row have no validation score
            "val": {k: float(np.mean([m["val"][k] for m in members if k in m["val"]]))
                    for k in sorted({k for m in members for k in m["val"]})},
        }
        return self

    def _check_init(self, init: "_GBM", features: list[str]) -> None:
        """Refuse a prior that is not a fitted model of this kind, features and objective (naming both)."""
        name = type(self).__name__
        if type(init) is not type(self) or not init.boosters_:
            raise TLSFinderError(f"{name}: the prior to continue from must be a fitted {name}, got {init!r}")
        if list(init.features_) != list(features):
            raise TLSFinderError(f"{name}: the prior was trained on features {init.features_}, these labels have "
                                 f"{features}; continued boosting needs the same features in the same order")
        if init._objective_params() != self._objective_params():
            raise TLSFinderError(f"{name}: the prior learnt {init._objective_params()}, this model "
                                 f"{self._objective_params()}; continued boosting needs the same objective")

    def _member_masks(self, val_mask, groups, n: int) -> np.ndarray:
        """(n_models, n) boolean array: the validation rows of each member.

        ``val_mask``: one mask (every member validates on it) or one per member; without it, member k
        draws its validation glasses from ``groups`` with seed ``seed + k`` (none without groups).
        """
        if val_mask is None:
            if groups is None:
                return np.zeros((self.n_models, n), dtype=bool)
            return np.array([glass_split(groups, self.val_fraction, np.random.default_rng(self.seed + k))
                             for k in range(self.n_models)], dtype=bool).reshape(self.n_models, n)
        masks = np.asarray(val_mask, dtype=bool)
        if masks.ndim == 1:
            masks = np.broadcast_to(masks, (self.n_models, len(masks)))
        if masks.shape != (self.n_models, n):
            raise TLSFinderError(f"{type(self).__name__}.fit: val_mask must have {n} rows (or {self.n_models} x {n} "
                                 f"for the ensemble's members), got shape {masks.shape}")
        return masks

    def _fit_member(self, M, t, w, val_mask, seed: int, features, init_booster=None) -> dict:
        """Train one booster (early stopping on the ``val_mask`` rows, if any); its booster and summary.

        ``init_booster``: a prior booster to continue from; the result holds its trees and the new ones
        (``rounds``: new trees only, ``prior_rounds``: the prior's)."""
        import lightgbm as lgb

        # e.g. every labelled DW sits in the validation glasses: use them all, no early stopping.  A
        # handful of training rows fails as well: LightGBM refused a set of 2 (PSS demo, 17 DW in 2 glasses).
        if (~val_mask).sum() < MIN_TRAIN_ROWS:
            log.warning("%s: %d of %d rows are outside the validation glasses; training on all of them",
                        type(self).__name__, int((~val_mask).sum()), len(M))
            val_mask = np.zeros(len(M), dtype=bool)
        tr = ~val_mask
        params = {**self.params, **self._objective_params(), "seed": seed}
        dtrain = lgb.Dataset(M[tr], t[tr], weight=None if w is None else w[tr], feature_name=_safe_names(features),
                             free_raw_data=True)
        # with init_model, LightGBM counts iterations from the prior's: best_iteration includes its trees
        prior_rounds = 0 if init_booster is None else int(init_booster.current_iteration())
        t0 = time.perf_counter()
        if val_mask.any():
            dval = lgb.Dataset(M[val_mask], t[val_mask], weight=None if w is None else w[val_mask], reference=dtrain)
            booster = lgb.train(params, dtrain, self.max_rounds, valid_sets=[dval], valid_names=["val"],
                                init_model=init_booster,
                                callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False)])
            best = booster.best_iteration or booster.current_iteration()
            booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best))
            # fewer when boosting found no split (a prior continued on a handful of rows adds no tree)
            best = booster.current_iteration()
            val_score = _val_scores(booster, M[val_mask], t[val_mask], self.objective)
        else:
            booster = lgb.train(params, dtrain, self.fallback_rounds, init_model=init_booster)
            best, val_score = booster.current_iteration(), {}
        return {"booster": booster, "n_train": int(tr.sum()), "n_val": int(val_mask.sum()),
                "rounds": int(best) - prior_rounds, "prior_rounds": prior_rounds,
                "early_stopping": bool(val_mask.any()), "train_seconds": time.perf_counter() - t0, "val": val_score}

    # -- prediction -----------------------------------------------------
    def _check_fitted(self):
        if self.booster_ is None:
            raise TLSFinderError(f"{type(self).__name__}: not fitted")

    def predict_matrix(self, M: np.ndarray) -> np.ndarray:
        """Probability (classifier) or value (regressor) for each row of a checked feature matrix:
        the average over the ensemble's members."""
        self._check_fitted()
        out = self.boosters_[0].predict(M, num_threads=1)
        for b in self.boosters_[1:]:
            out += b.predict(M, num_threads=1)
        return out / len(self.boosters_) if len(self.boosters_) > 1 else out

    def _predict_values(self, X) -> np.ndarray:
        self._check_fitted()
        return self.predict_matrix(_feature_matrix(X, self.features_, source=f"{type(self).__name__}.predict"))

    # -- persistence ----------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write member 0 to ``path`` (a LightGBM text model) and member k to :func:`member_path`."""
        self._check_fitted()
        for k, b in enumerate(self.boosters_):
            member_path(path, k).write_text(b.model_to_string())

    def _load(self, path: str | Path, features: list[str], n_models: int = 1):
        import lightgbm as lgb

        boosters = []
        for k in range(n_models):
            p = member_path(path, k)
            if not p.exists():
                raise TLSFinderError(f"{p}: model file missing (member {k} of an ensemble of {n_models})")
            try:
                b = lgb.Booster(model_file=str(p))
            except Exception as exc:
                raise TLSFinderError(f"{p}: not a LightGBM model ({exc})") from exc
            names = b.feature_name()
            if names != _safe_names(features):
                raise TLSFinderError(f"{p}: the booster's features {names} differ from the model's list {features}")
            boosters.append(b)
        self.boosters_ = boosters
        self.n_models = n_models
        self.features_ = list(features)
        return self


def member_path(path: str | Path, k: int) -> Path:
    """File of member ``k`` of an ensemble saved at ``path``: ``path`` itself for member 0 (so a folder
    of one model is as before), ``{stem}-{k}{suffix}`` beside it for the others."""
    path = Path(path)
    return path if k == 0 else path.with_name(f"{path.stem}-{k}{path.suffix}")


def _safe_names(features: list[str]) -> list[str]:
    # LightGBM replaces some characters in feature names; keep names as they are when possible.
    return [f.replace(" ", "_") for f in features]


def _val_scores(booster, M, t, objective) -> dict[str, float]:
    p = booster.predict(M, num_threads=1)
    if objective == "binary":
        return {"accuracy": float(((p >= 0.5) == (t >= 0.5)).mean())}
    return {"rmse": float(np.sqrt(np.mean((p - t) ** 2)))}


class DWClassifier(_GBM):
    """Probability that a pair is a single double well (binary LightGBM)."""

    objective = "binary"

    def _target(self, y):
        y = np.asarray(y)
        if y.dtype != bool and not np.isin(y, (0, 1)).all():
            raise TLSFinderError("DWClassifier.fit: targets must be booleans or 0/1")
        y = y.astype(float)
        if len(y) and (y.min() == y.max()):
            log.warning("DWClassifier: every training pair has is_dw = %s; predictions will be constant", bool(y[0]))
        return y

    def predict_proba(self, X) -> np.ndarray:
        """(n, 2) array: P(not DW), P(DW)."""
        p = self._predict_values(X)
        return np.column_stack([1.0 - p, p])

    def predict_p_dw(self, X) -> np.ndarray:
        return self._predict_values(X)

    def predict(self, X) -> np.ndarray:
        return self._predict_values(X) >= 0.5


class SplittingRegressor(_GBM):
    """-log10(splitting) of a double well (regression LightGBM).

    ``fit(X, splitting)`` takes splittings (positive, reduced units) and learns
    y = -log10(splitting); ``predict`` returns y, ``predict_splitting`` 10**-y.

    ``quantile``: None learns the conditional mean of y (squared error); a level q in (0, 1)
    learns its q-quantile (pinball loss), so that a fraction 1 - q of the double wells that
    look alike have a smaller splitting than predicted.  The TLS are the far tail of small
    splittings (1.2 % of the published double wells), which a mean regression pulls towards
    the bulk; an upper quantile keeps more of that tail in the ranking (see :class:`TLSRanker`).
    """

    objective = "regression"

    def __init__(self, params: dict | None = None, *, quantile: float | None = None, **kw) -> None:
        super().__init__(params, **kw)
        if quantile is not None and not 0 < quantile < 1:
            raise TLSFinderError(f"SplittingRegressor: quantile must be in (0, 1) or None, got {quantile}")
        self.quantile = None if quantile is None else float(quantile)

    def _objective_params(self) -> dict:
        if self.quantile is None:
            return {"objective": self.objective}
        return {"objective": "quantile", "alpha": self.quantile}

    def _target(self, y):
        s = np.asarray(y, dtype=float)
        if not (np.isfinite(s) & (s > 0)).all():
            raise TLSFinderError("SplittingRegressor.fit: splittings must be positive and finite")
        return -np.log10(s)

    def predict(self, X) -> np.ndarray:
        return self._predict_values(X)

    def predict_splitting(self, X) -> np.ndarray:
        return 10.0 ** (-self._predict_values(X))


# ---------------------------------------------------------------------------
# the ranker: both models, tables in and out, a folder on disk
# ---------------------------------------------------------------------------


class TLSRanker:
    """DW classifier + splitting regressor on the same features; ranks pairs by their chance of being a TLS.

    ``model`` (KA2, PSS) and ``preset`` (unit preset) say what the splittings it learns are; the TLS
    threshold is then the preset's k_B T_Q.  Both are saved with it, and a run of another model or
    preset refuses it (:func:`check_model_provenance`).  Without them the threshold is
    ``tls_splitting_max`` (default: the published :data:`TLS_SPLITTING_MAX`).
    ``regressor_quantile``: the quantile of -log10(splitting) the regressor learns (None: the
    mean); saved in model.json.  ``n_models``: boosters per model (:data:`ENSEMBLE_SIZE`),
    averaged; saved in model.json.
    """

    def __init__(self, features=PUBLISHED_FEATURES, *, model: str | None = None, preset: str | None = None,
                 tls_splitting_max: float | None = None,
                 sigma: float = DEFAULTS["sigma"], order: str = DEFAULTS["order"], params: dict | None = None,
                 val_fraction: float = DEFAULTS["val_fraction"],
                 early_stopping_rounds: int = DEFAULTS["early_stopping_rounds"], max_rounds: int = DEFAULTS["max_rounds"],
                 fallback_rounds: int = DEFAULTS["fallback_rounds"], seed: int = 0,
                 regressor_quantile: float | None = REGRESSOR_QUANTILE, n_models: int = ENSEMBLE_SIZE) -> None:
        self.features = list(features)
        if not self.features:
            raise TLSFinderError("TLSRanker: empty feature list")
        tls_splitting_max = tls_threshold_of(model, preset, tls_splitting_max)
        self.model, self.preset = model, preset
        if not (tls_splitting_max > 0):
            raise TLSFinderError(f"TLSRanker: tls_splitting_max must be positive, got {tls_splitting_max}")
        if not (sigma > 0):
            raise TLSFinderError(f"TLSRanker: sigma must be positive, got {sigma}")
        if order not in ORDERS:
            raise TLSFinderError(f"TLSRanker: order must be one of {ORDERS}, got {order!r}")
        self.tls_splitting_max = float(tls_splitting_max)
        self.sigma = float(sigma)
        self.order = order
        self.seed = seed
        kw = dict(params=params, val_fraction=val_fraction, early_stopping_rounds=early_stopping_rounds,
                  max_rounds=max_rounds, fallback_rounds=fallback_rounds, seed=seed, n_models=n_models)
        self.classifier = DWClassifier(**kw)
        self.regressor = SplittingRegressor(**kw, quantile=regressor_quantile)
        self.regressor_quantile = self.regressor.quantile
        self.n_models = self.classifier.n_models
        self.info: dict = {}
        #: What the labels were (source, T_f of the glasses...), saved as ``training_data`` in model.json.
        self.training_data: dict = {}
        #: The prior this model continued boosting from (:func:`prior_record`; None: trained from scratch),
        #: saved as ``continued_from`` in model.json.
        self.continued_from: dict | None = None
        #: Where a loaded model was read from (as given: a folder or ``builtin:NAME``).
        self.source: str | None = None

    # -- training -------------------------------------------------------
    def fit(self, pairs: pd.DataFrame, labels: pd.DataFrame, sample_weight=None,
            prior: "TLSRanker | None" = None) -> "TLSRanker":
        """Train both models on the labelled pairs.

        ``sample_weight``: None, an array aligned with ``labels`` rows, or the
        name of a column of ``labels``.  Member k of both ensembles validates on the
        same glasses (drawn with ``seed + k``).

        ``prior``: a trained ranker (e.g. the run's pretrained model) whose members both models
        continue boosting from (:meth:`_GBM.fit` ``init``), instead of starting from nothing.  It must
        be of this ranker's glass model, unit preset, features, regressor quantile and ensemble size
        (refused otherwise, naming both); it is recorded as ``continued_from``.
        """
        if prior is not None:
            self._check_prior(prior)
        check_pairs_table(pairs, self.features, source="pairs")
        labels = training_labels(check_labels_table(labels, source="labels"), pairs)
        if len(labels) == 0:
            raise TLSFinderError("labels: no labelled pairs to train on")
        rows = join_labels(pairs, labels)
        X = pairs.iloc[rows][self.features].reset_index(drop=True)
        groups = labels["glass"].to_numpy(dtype=object)
        if isinstance(sample_weight, str):
            if sample_weight not in labels.columns:
                raise TLSFinderError(f"labels: no weight column {sample_weight!r} (have {list(labels.columns)})")
            sample_weight = labels[sample_weight].to_numpy(dtype=float)
        w = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        vals = np.array([glass_split(groups, self.classifier.val_fraction, np.random.default_rng(self.seed + k))
                         for k in range(self.n_models)], dtype=bool).reshape(self.n_models, len(labels))
        val = vals[0]
        is_dw = labels["is_dw"].to_numpy()
        t0 = time.perf_counter()
        self.classifier.fit(X, is_dw, groups=groups, sample_weight=w, val_mask=vals,
                            init=None if prior is None else prior.classifier)
        reg = is_dw & np.isfinite(labels["splitting"].to_numpy())
        if not reg.any():
            raise TLSFinderError("labels: no double well with a splitting; the regressor cannot be trained")
        self.regressor.fit(X[reg], labels["splitting"].to_numpy()[reg], groups=groups[reg],
                           sample_weight=None if w is None else w[reg], val_mask=vals[:, reg],
                           init=None if prior is None else prior.regressor)
        self.continued_from = None if prior is None else prior_record(prior)
        s = labels["splitting"].to_numpy()
        self.info = {
            "n_labels": int(len(labels)),
            "n_dw": int(is_dw.sum()),
            "n_tls": int((is_dw & (s < self.tls_splitting_max)).sum()),
            "n_glasses": int(pd.Series(groups).nunique()),
            "val_glasses": sorted(pd.Series(groups[val]).unique().tolist()),
            "train_seconds": round(time.perf_counter() - t0, 3),
            "classifier": self.classifier.info_,
            "regressor": self.regressor.info_,
        }
        return self

    def _check_prior(self, prior: "TLSRanker") -> None:
        """Refuse a prior of another glass model, unit preset, feature set, regressor quantile or ensemble
        size than this ranker, naming both (its splittings, or its trees, would not mean the same)."""
        where = prior.source or "the prior model"
        _check_provenance("a prior model trained on splittings", where,
                          _model_provenance({"model": prior.model, "preset": prior.preset}), self.model, self.preset)
        if prior.model is None and not np.isclose(prior.tls_splitting_max, self.tls_splitting_max, rtol=1e-9, atol=0):
            raise TLSFinderError(f"{where}: a prior model of TLS threshold {prior.tls_splitting_max}, but this "
                                 f"ranker's is {self.tls_splitting_max}")
        for what, have, want in (("features", prior.features, self.features),
                                 ("regressor_quantile", prior.regressor_quantile, self.regressor_quantile),
                                 ("n_models", prior.n_models, self.n_models)):
            if have != want:
                raise TLSFinderError(f"{where}: a prior model of {what} {have}, but this ranker has {what} {want}; "
                                     f"continued boosting needs the prior's")

    # -- prediction -----------------------------------------------------
    def predict(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """``glass``, ``i``, ``j``, ``p_dw``, ``splitting_pred``, ``p_tls`` for every row of ``pairs``."""
        from scipy.special import ndtr

        missing = [c for c in PAIR_KEY if c not in pairs.columns]
        if missing:
            raise TLSFinderError(f"pairs: missing column(s) {missing}")
        M = _feature_matrix(pairs, self.features, source="pairs")
        p_dw = self.classifier.predict_matrix(M)
        y = self.regressor.predict_matrix(M)
        y_max = -np.log10(self.tls_splitting_max)
        return pd.DataFrame({
            "glass": pairs["glass"].reset_index(drop=True),  # a categorical stays one (cheap for 1e6+ rows)
            "i": pairs["i"].to_numpy(dtype=np.int64),
            "j": pairs["j"].to_numpy(dtype=np.int64),
            "p_dw": p_dw,
            "splitting_pred": 10.0 ** (-y),
            "p_tls": p_dw * ndtr((y - y_max) / self.sigma),
        })

    def rank(self, pairs: pd.DataFrame, order: str | None = None) -> pd.DataFrame:
        """Predictions sorted best first, with a ``rank`` column (0 = compute first)."""
        return order_predictions(self.predict(pairs), order or self.order)

    # -- persistence ----------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the model folder (replaced as a whole: written beside it, then renamed)."""
        with atomic_dir(path) as tmp:
            self.classifier.save(tmp / "classifier.txt")
            self.regressor.save(tmp / "regressor.txt")
            meta = {
                "format": MODEL_FORMAT,
                "features": self.features,
                "model": self.model,
                "preset": self.preset,
                "tls_splitting_max": self.tls_splitting_max,
                "sigma": self.sigma,
                "regressor_quantile": self.regressor_quantile,
                "n_models": self.n_models,
                "order": self.order,
                "seed": self.seed,
                "params": self.classifier.params,
                "settings": {k: getattr(self.classifier, k) for k in
                             ("val_fraction", "early_stopping_rounds", "max_rounds", "fallback_rounds")},
                "training": self.info,
                "training_data": self.training_data,
                "continued_from": self.continued_from,
                "provenance": provenance(seed=self.seed),
            }
            (tmp / "model.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")

    @staticmethod
    def read_meta(path: str | Path) -> dict:
        """The ``model.json`` of a model folder, checked for its format."""
        path = resolve_model_path(path)
        meta_path = path / "model.json"
        if not meta_path.exists():
            raise TLSFinderError(f"{path}: not a model folder (no model.json)")
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as exc:
            raise TLSFinderError(f"{meta_path}: unreadable ({exc})") from exc
        if meta.get("format") != MODEL_FORMAT:
            raise TLSFinderError(f"{meta_path}: format {meta.get('format')!r}, expected {MODEL_FORMAT!r}")
        return meta

    @classmethod
    def load(cls, path: str | Path, model: str | None = None, preset: str | None = None) -> "TLSRanker":
        """Read a model folder; with ``model`` / ``preset`` (the run's), refuse one made for another
        glass model or unit preset, naming both.  ``path``: a folder, or ``builtin:NAME`` for a model
        shipped with the package (:data:`BUILTIN_MODELS`)."""
        source, path = path, resolve_model_path(path)
        meta = cls.read_meta(path)
        _check_provenance("a model trained on splittings", path, _model_provenance(meta), model, preset)
        settings = meta.get("settings", {})
        n_models = meta.get("n_models", 1)  # older folders: one booster per model
        if isinstance(n_models, bool) or not isinstance(n_models, int) or n_models < 1:
            raise TLSFinderError(f"{path / 'model.json'}: n_models must be an integer >= 1, got {n_models!r}")
        if meta.get("model") is not None and meta.get("preset") is not None:  # older folders: threshold only
            kw = {"model": meta["model"], "preset": meta["preset"]}
        else:
            kw = {"tls_splitting_max": meta["tls_splitting_max"]}
        self = cls(meta["features"], **kw, sigma=meta["sigma"],
                   order=meta.get("order", DEFAULTS["order"]), params=meta.get("params"), seed=meta.get("seed", 0),
                   regressor_quantile=meta.get("regressor_quantile"), n_models=n_models, **settings)
        self.classifier._load(path / "classifier.txt", self.features, n_models)
        self.regressor._load(path / "regressor.txt", self.features, n_models)
        self.info = meta.get("training", {})
        self.training_data = meta.get("training_data") or {}
        self.continued_from = meta.get("continued_from")
        self.source = str(source)
        self.meta = meta
        return self


def prior_record(prior: TLSRanker) -> dict:
    """What model.json's ``continued_from`` records of a prior: where it was read from (``source``, as
    given: a folder or ``builtin:NAME``), its glass model, preset, features, trees per member, training
    summary and data, its provenance and its own ``continued_from`` (a chain of priors)."""
    meta = getattr(prior, "meta", None) or {}
    return {
        "source": prior.source,
        "model": prior.model,
        "preset": prior.preset,
        "features": prior.features,
        "regressor_quantile": prior.regressor_quantile,
        "n_models": prior.n_models,
        "trees": {name: [int(b.current_iteration()) for b in m.boosters_]
                  for name, m in (("classifier", prior.classifier), ("regressor", prior.regressor))},
        "training": {k: prior.info.get(k) for k in ("n_labels", "n_dw", "n_tls", "n_glasses")},
        "training_data": prior.training_data,
        "provenance": meta.get("provenance"),
        "continued_from": prior.continued_from,
    }


def _model_provenance(meta: dict) -> dict | None:
    if meta.get("model") is None and meta.get("preset") is None:
        return None
    return {"model": meta.get("model"), "preset": meta.get("preset")}


def check_model_provenance(path: str | Path, model: str | None, preset: str | None) -> None:
    """Refuse a model folder (or ``builtin:NAME``) trained for another glass model or unit preset than
    ``model`` / ``preset``."""
    path = resolve_model_path(path)
    _check_provenance("a model trained on splittings", path, _model_provenance(TLSRanker.read_meta(path)), model,
                      preset)


#: Prefix of a model shipped with the package (``ml.pretrained_model: builtin:pss-T0.07``).
BUILTIN_PREFIX = "builtin:"

#: Models shipped with the package: name -> folder under ``tlsfinder/data/pretrained``.  ``pss-T0.07``:
#: both models trained on the published PSS T_f = 0.07 tables (Ciarella et al. (2023), "Finding defects
#: in glasses through machine learning", arXiv:2212.05582; TLS_ML_exploration, MIT licence, copied in
#: the folder), splittings in PSS argon units; rebuilt by benchmarks/build_pretrained.py.
BUILTIN_MODELS = {"pss-T0.07": "pss-T0.07"}


def builtin_model_dir(name: str) -> Path:
    """Folder of the shipped model ``name`` (a key of :data:`BUILTIN_MODELS`)."""
    from importlib.resources import files

    if name not in BUILTIN_MODELS:
        raise TLSFinderError(f"{BUILTIN_PREFIX}{name}: no such model shipped with tlsfinder; known: "
                             f"{[BUILTIN_PREFIX + k for k in sorted(BUILTIN_MODELS)]}")
    path = Path(str(files("tlsfinder") / "data" / "pretrained" / BUILTIN_MODELS[name]))
    if not (path / "model.json").exists():
        raise TLSFinderError(f"{BUILTIN_PREFIX}{name}: the shipped model is missing from the installed package "
                             f"({path}); reinstall tlsfinder")
    return path


def resolve_model_path(path: str | Path) -> Path:
    """A model folder: ``builtin:NAME`` is the shipped model NAME, anything else a path."""
    s = str(path)
    if s.startswith(BUILTIN_PREFIX):
        return builtin_model_dir(s[len(BUILTIN_PREFIX):])
    return Path(path)


def warn_tf_range(model_path: str | Path, temperatures, max_ratio: float = 1.5) -> list[float]:
    """Log a warning for each T_f more than a factor ``max_ratio`` away from every T_f the model at
    ``model_path`` (a folder or ``builtin:NAME``) was trained on (its ``training_data.tf``); return
    those T_f.  Models without that record are not checked.  Transition counts and the splitting
    distribution change with T_f, so a model is trusted near the glasses it learnt from (the shipped
    T_f = 0.07 model covers the published 0.062 and 0.092)."""
    meta = TLSRanker.read_meta(model_path)
    trained = [float(x) for x in (meta.get("training_data") or {}).get("tf", [])]
    if not trained:
        return []
    far = [float(tf) for tf in temperatures
           if min(abs(np.log(float(tf) / t)) for t in trained) > np.log(max_ratio)]
    for tf in far:
        log.warning("%s: trained on glasses of T_f %s; this run's T_f = %g is more than a factor %g away: its "
                    "ranking may be poor until retrained on this run's labels", model_path, trained, tf, max_ratio)
    return far


def order_predictions(pred: pd.DataFrame, order: str = DEFAULTS["order"]) -> pd.DataFrame:
    """Sort predictions best first and add ``rank``; ties keep the input order."""
    if order == "p_tls":
        idx = np.argsort(-pred["p_tls"].to_numpy(), kind="stable")
    elif order == "dw_then_splitting":
        key = np.where(pred["p_dw"].to_numpy() >= 0.5, 0.0, 1.0)
        idx = np.lexsort((pred["splitting_pred"].to_numpy(), key))
    else:
        raise TLSFinderError(f"order must be one of {ORDERS}, got {order!r}")
    out = pred.iloc[idx].reset_index(drop=True)
    out.insert(3, "rank", np.arange(len(out), dtype=np.int64))
    return out


def heuristic_ranking(pairs: pd.DataFrame) -> pd.DataFrame:
    """Ranking before any model: pairs crossed both ways first, then by increasing Delta_E.

    This is the classical candidate rule (T_ij >= 1 and T_ji >= 1; Mocanu et al. (2023),
    "Microscopic observation of TLS in a metallic glass model") with
    the smallest energy differences first; predictions are NaN.
    """
    check_pairs_table(pairs, ("Delta_E", "Tij", "Tji"), source="pairs")
    both = (pairs["Tij"].to_numpy() >= 1) & (pairs["Tji"].to_numpy() >= 1)
    idx = np.lexsort((pairs["Delta_E"].to_numpy(), ~both))
    n = len(pairs)
    out = pd.DataFrame({
        "glass": pairs["glass"].to_numpy()[idx],
        "i": pairs["i"].to_numpy(dtype=np.int64)[idx],
        "j": pairs["j"].to_numpy(dtype=np.int64)[idx],
        "rank": np.arange(n, dtype=np.int64),
        "p_dw": np.full(n, np.nan),
        "splitting_pred": np.full(n, np.nan),
        "p_tls": np.full(n, np.nan),
    })
    return out


# ---------------------------------------------------------------------------
# the loop: which pairs next, and how well past iterations did
# ---------------------------------------------------------------------------


def select_pairs(ranking: pd.DataFrame, labels: pd.DataFrame, k: int, *,
                 explore_fraction: float = DEFAULTS["explore_fraction"], min_p_dw: float = DEFAULTS["min_p_dw"],
                 seed: int | np.random.Generator = 0, iteration: int | None = None) -> pd.DataFrame:
    """The next ``k`` pairs for NEB.

    Unlabelled pairs only.  ``round(k * explore_fraction)`` of them are drawn
    uniformly at random (seeded) among the unlabelled pairs not chosen by the
    model; the others are the first in ranking order among pairs predicted to be
    DWs (``p_dw >= min_p_dw``; NaN, as in the heuristic ranking, counts as yes),
    topped up in ranking order if there are too few.  Returned in ranking order,
    model picks first.  ``seed``: an int or a numpy Generator.
    """
    if k < 0:
        raise TLSFinderError(f"k must be >= 0, got {k}")
    if not 0 <= explore_fraction <= 1:
        raise TLSFinderError(f"explore_fraction must be in [0, 1], got {explore_fraction}")
    missing = [c for c in RANKING_COLUMNS if c not in ranking.columns]
    if missing:
        raise TLSFinderError(f"ranking: missing column(s) {missing}")
    ranking = ranking.sort_values("rank", kind="stable").reset_index(drop=True)
    done = np.zeros(len(ranking), dtype=bool)
    if len(labels):
        lab = _key_frame(labels).drop_duplicates().assign(_lab=1)
        m = _key_frame(ranking).merge(lab, on=list(PAIR_KEY), how="left")
        done = m["_lab"].notna().to_numpy()
    free = np.flatnonzero(~done)
    k = min(k, len(free))
    n_explore = int(round(k * explore_fraction))
    n_model = k - n_explore
    p = ranking["p_dw"].to_numpy()[free]
    dw_like = np.isnan(p) | (p >= min_p_dw)
    model = free[dw_like][:n_model]
    if len(model) < n_model:
        rest = free[~dw_like][: n_model - len(model)]
        model = np.concatenate([model, rest])
    left = np.setdiff1d(free, model)
    rng = np.random.default_rng(seed)
    explore = np.sort(rng.choice(left, size=min(n_explore, len(left)), replace=False)) if n_explore else left[:0]
    out = pd.concat([ranking.iloc[model].assign(reason="ranked"), ranking.iloc[explore].assign(reason="explore")],
                    ignore_index=True)
    out["iteration"] = np.int64(-1 if iteration is None else iteration)
    return out


def selected_mask(labels: pd.DataFrame) -> np.ndarray:
    """Which labels are pairs a NEB was started on: the elementary sub-pairs of their paths
    (``origin == "split"``) add labels, and TLS, but not NEBs."""
    if "origin" not in labels.columns:
        return np.ones(len(labels), dtype=bool)
    return labels["origin"].astype(str).to_numpy() != "split"


def iteration_yield(labels: pd.DataFrame, tls_splitting_max: float = TLS_SPLITTING_MAX) -> pd.DataFrame:
    """Per iteration: NEBs run, DWs and TLS found, TLS per NEB, and running totals."""
    labels = check_labels_table(labels)
    tls = labels["is_dw"].to_numpy() & (labels["splitting"].to_numpy() < tls_splitting_max)
    selected = selected_mask(labels)
    g = labels.assign(_tls=tls, _sel=selected).groupby("iteration", sort=True)
    out = pd.DataFrame({
        "n_neb": g["_sel"].sum().astype("int64"),
        "n_dw": g["is_dw"].sum().astype("int64"),
        "n_tls": g["_tls"].sum().astype("int64"),
    }).reset_index()
    out["tls_per_neb"] = out["n_tls"] / out["n_neb"]
    out["cum_neb"] = out["n_neb"].cumsum()
    out["cum_tls"] = out["n_tls"].cumsum()
    return out


# ---------------------------------------------------------------------------
# file level (used by the CLI and the workflow scripts)
# ---------------------------------------------------------------------------


def tls_threshold_of(model: str | None = None, preset: str | None = None,
                     tls_splitting_max: float | None = None) -> float:
    """The TLS threshold (eps): k_B T_Q of ``model`` / ``preset`` if given (``tls_splitting_max``, if
    also given, must agree), else ``tls_splitting_max``, else the published :data:`TLS_SPLITTING_MAX`."""
    if (model is None) != (preset is None):
        raise TLSFinderError(f"give both the glass model and the unit preset, got model={model!r}, preset={preset!r}")
    if model is None:
        return TLS_SPLITTING_MAX if tls_splitting_max is None else float(tls_splitting_max)
    from .units import get_preset

    kt_q = get_preset(model, preset).kT_Q
    if tls_splitting_max is not None and not np.isclose(tls_splitting_max, kt_q, rtol=1e-9, atol=0):
        raise TLSFinderError(f"tls_splitting_max = {tls_splitting_max} differs from the TLS threshold of {model} "
                             f"{preset}, k_B T_Q = {kt_q}; give one or the other")
    return kt_q


def train_from_files(pairs_paths, labels_path, out_dir, *, features=PUBLISHED_FEATURES, weight_column=None,
                     model: str | None = None, preset: str | None = None, training_data: dict | None = None,
                     prior_model=None, min_dw: int = 0, retrain_from: str = DEFAULTS["retrain_from"],
                     **settings) -> TLSRanker:
    """Train on a labels file; ``model`` / ``preset`` (the run's) are checked against the labels'
    provenance, saved with the model folder, and set the TLS threshold (the preset's k_B T_Q).
    ``training_data`` (e.g. ``{"source": ..., "tf": [0.07]}``) is saved in model.json as it is.

    ``prior_model`` (a model folder or ``builtin:NAME``, e.g. the run's ml.pretrained_model; refused
    when made for another glass model or preset): while the labels hold fewer than ``min_dw`` double
    wells, that model is written to ``out_dir`` instead of one trained on them (ml.min_retrain_dw: a
    few dozen DW make a model that ranks whole groups of pairs alike).  From ``min_dw`` DW on,
    ``retrain_from`` (ml.retrain_from) says how: ``"prior"`` continues boosting from the prior's
    members on the labels (its features, regressor quantile and ensemble size; another feature set
    than ``features`` is refused) and records it as ``continued_from`` in model.json; ``"scratch"``
    trains on the labels alone.  Without ``prior_model``, ``retrain_from`` does nothing."""
    if retrain_from not in RETRAIN_FROM:
        raise TLSFinderError(f"ml.retrain_from must be one of {RETRAIN_FROM}, got {retrain_from!r}")
    labels = read_labels(labels_path, model, preset)
    n_dw = int(labels["is_dw"].astype(bool).sum())
    prior = None if prior_model is None else TLSRanker.load(prior_model, model, preset)
    if prior is not None and n_dw < int(min_dw):
        prior.save(out_dir)
        log.info("%d labels hold %d DW (< ml.min_retrain_dw = %d): ranking stays with %s", len(labels), n_dw,
                 int(min_dw), prior_model)
        return prior
    if prior is not None and retrain_from == "prior":
        if prior.features != list(features):
            raise TLSFinderError(f"{prior_model}: a prior model of features {prior.features}, but this run trains "
                                 f"on features {list(features)}; continued boosting needs the prior's")
        settings = {**settings, "regressor_quantile": prior.regressor_quantile, "n_models": prior.n_models}
    else:
        prior = None
    pairs = read_pairs(pairs_paths, features)
    ranker = TLSRanker(features, model=model, preset=preset, **settings).fit(pairs, labels, sample_weight=weight_column,
                                                                             prior=prior)
    ranker.training_data = dict(training_data or {})
    ranker.save(out_dir)
    cont = "" if prior is None else (f", continuing from {prior_model} (new trees per member: classifier "
                                     f"{ranker.info['classifier']['rounds_each']}, regressor "
                                     f"{ranker.info['regressor']['rounds_each']})")
    log.info("trained on %d labels (%d DW, %d TLS) from %d glasses in %.1f s%s -> %s", ranker.info["n_labels"],
             ranker.info["n_dw"], ranker.info["n_tls"], ranker.info["n_glasses"], ranker.info["train_seconds"], cont,
             out_dir)
    return ranker


def rank_from_files(model_dir, pairs_paths, out, *, order: str | None = None, model: str | None = None,
                    preset: str | None = None) -> pd.DataFrame:
    """Rank all pairs with a model folder (``None``: the heuristic ranking) and write the ranking.

    ``model`` / ``preset``: the run's; a model folder made for another glass model or preset is refused.
    """
    if model_dir is None:
        pairs = read_pairs(pairs_paths, ("Delta_E", "Tij", "Tji"))
        ranking = heuristic_ranking(pairs)
    else:
        import pyarrow.parquet as pq

        ranker = TLSRanker.load(model_dir, model, preset)
        for path in [pairs_paths] if isinstance(pairs_paths, (str, Path)) else pairs_paths:
            try:
                have = set(pq.read_schema(path).names)
            except Exception:
                continue  # read_pairs reports unreadable files
            missing = [f for f in ranker.features if f not in have]
            if missing:
                raise TLSFinderError(f"the model in {model_dir} was trained on features {ranker.features}; "
                                     f"the pairs table {path} lacks {missing}")
        pairs = read_pairs(pairs_paths, ranker.features)
        ranking = ranker.rank(pairs, order)
    write_parquet(out, ranking)
    return ranking


def select_from_files(ranking_path, labels_path, out, *, k: int, explore_fraction: float = DEFAULTS["explore_fraction"],
                      min_p_dw: float = DEFAULTS["min_p_dw"], seed: int | np.random.Generator = 0, iteration: int | None = None,
                      tls_splitting_max: float | None = None, model: str | None = None, preset: str | None = None,
                      yield_out=None):
    """Select the next pairs and report past yields.  The yields' TLS threshold is
    :func:`tls_threshold_of` (``model``, ``preset``, ``tls_splitting_max``); the labels' provenance
    is checked against ``model`` / ``preset``."""
    tls_splitting_max = tls_threshold_of(model, preset, tls_splitting_max)
    ranking_path = Path(ranking_path)
    if not ranking_path.exists():
        raise TLSFinderError(f"{ranking_path}: no such ranking table")
    ranking = pd.read_parquet(ranking_path)
    labels = read_labels(labels_path, model, preset)
    sel = select_pairs(ranking, labels, k, explore_fraction=explore_fraction, min_p_dw=min_p_dw, seed=seed,
                       iteration=iteration)
    yld = iteration_yield(labels, tls_splitting_max)
    for r in yld.itertuples(index=False):
        log.info("iteration %d: %d NEB, %d DW, %d TLS (%.3f TLS per NEB)", r.iteration, r.n_neb, r.n_dw, r.n_tls,
                 r.tls_per_neb)
    # The selection last: the loop's input functions take its existence for the checkpoint's end, so a
    # run killed between the two writes must not leave a selection without its yield table.
    if yield_out is not None:
        write_parquet(yield_out, yld)
    write_parquet(out, sel)
    return sel, yld


# ---------------------------------------------------------------------------
# workflow helpers (rules/ml.smk)
# ---------------------------------------------------------------------------


def ml_setting(config: dict, key: str):
    """``config["ml"][key]`` or its schema default."""
    if key == "tls_splitting_max":
        raise TLSFinderError("ml.tls_splitting_max is no longer a setting: the TLS threshold is loop.preset's "
                             "k_B T_Q (tlsfinder.loop.tls_threshold(config))")
    if key not in DEFAULTS:
        raise TLSFinderError(f"unknown ml setting {key!r}; known: {sorted(DEFAULTS)}")
    return (config.get("ml") or {}).get(key, DEFAULTS[key])
