"""Where a run's files live: every results path template and id format, in one place.

Paths are relative to the workflow's working directory (Snakemake's ``--directory``),
so a results folder moved or copied elsewhere keeps working.  Templates use Snakemake's
wildcard names, so rules use them as they are and Python fills them with :func:`fill`:

``{tf}``  the fictive temperature as a label (:func:`tf_label`: ``0.617``)
``{g}``   the glass index within its T_f, 0 .. N_g - 1
``{k}``   the loop iteration, 0, 1, ...
``{b}``   the NEB batch of an iteration, 0 .. n_batches - 1

Ids written into tables:

glass id   ``T{tf}/g{g}`` (:func:`glass_id`)
pair id    ``T{tf}/g{g}/{i}-{j}`` for a selected pair of IS i < j; the elementary
           sub-pairs NEB splits it into append ``.n`` per level (``.../3-7.2.1``)
IS id      0 .. n_IS - 1 in the glass's IS library; minima found by NEB that the library
           lacks continue the numbering (n_IS, n_IS + 1, ... in the order they were found;
           :mod:`tlsfinder.identity`)
"""

from __future__ import annotations

import re
from pathlib import Path

from . import TLSFinderError

RESULTS = "results"
LOGS = "logs"
BENCHMARKS = "benchmarks/out"

# -- stage 1: glasses ------------------------------------------------------------------
GLASS = "results/prepare/T{tf}/g{g}/glass.h5"
PREPARE_THERMO = "results/prepare/T{tf}/g{g}/thermo.parquet"
PREPARE_SUMMARY = "results/prepare/T{tf}/g{g}/summary.json"
PREPARE_PLOT = "results/prepare/T{tf}/diagnostics.png"
PREPARE_SAMPLES = "results/prepare/T{tf}/samples.parquet"

# -- stage 2: exploration --------------------------------------------------------------
IS_LIBRARY = "results/explore/T{tf}/g{g}/is_library.h5"
TIMESERIES = "results/explore/T{tf}/g{g}/timeseries.parquet"
TRANSITIONS = "results/explore/T{tf}/g{g}/transitions.parquet"
EXPLORE_SUMMARY = "results/explore/T{tf}/g{g}/summary.json"
GLASSES_TABLE = "results/explore/T{tf}/glasses.parquet"
PERSISTENCE = "results/explore/T{tf}/persistence.parquet"
N_IS = "results/explore/T{tf}/n_is.parquet"

# -- stage 3: candidate pairs ----------------------------------------------------------
PAIRS = "results/pairs/T{tf}/g{g}/pairs.parquet"

# -- the loop: iteration k ranks, selects, runs NEB; labels of k+1 gather everything so far
ITER = "results/loop/iter{k}"
LABELS = ITER + "/labels.parquet"
MODEL = ITER + "/model"
RANKING = ITER + "/ranking.parquet"
SELECTED = ITER + "/selected.parquet"
YIELD = ITER + "/yield.parquet"
DECISION = ITER + "/decision.json"
NEB_TABLE = ITER + "/neb/batch{b}.parquet"
NEB_PATHS = ITER + "/neb/batch{b}_paths"
NEB_BATCH_MINIMA = ITER + "/neb/batch{b}_minima.h5"  # minima a batch found that the IS library lacks
NEB_MERGED = ITER + "/neb.parquet"  # all batches of the iteration, every IS id real
NEB_MINIMA = ITER + "/neb_minima.h5"  # the IS libraries' extension: minima found by NEB in iterations <= k

# -- modes, elastic moduli, TLS-strain coupling (rules/modes.smk; off unless configured) --
MODES_TABLE = "results/modes/T{tf}/g{g}/modes.parquet"  # one row per mode of the sampled IS
MODES_SUMMARY = "results/modes/T{tf}/g{g}/summary.parquet"  # one row per sampled IS
ELASTIC = "results/elastic/T{tf}/g{g}/elastic.parquet"  # moduli of the glass's IS 0
ELASTIC_TF = "results/elastic/T{tf}/elastic.parquet"  # mean and standard error over the glasses
DW_MODES = "results/modes/T{tf}/g{g}/dw_modes.parquet"  # per catalogue DW, after the loop
COUPLING = "results/coupling/T{tf}/g{g}/coupling.parquet"  # per TLS / near-threshold DW, after the loop

# -- the report ------------------------------------------------------------------------
REPORT_DIR = "results/report"
SUMMARY = REPORT_DIR + "/summary.txt"
RUN_RECORD = "results/run_config.json"

_GLASS_ID_RE = re.compile(r"^T([0-9.eE+-]+)/g(\d+)$")
_PATH_GLASS_RE = re.compile(r"T([0-9.eE+-]+)/g(\d+)(?:/|$)")
_ITER_RE = re.compile(r"iter(\d+)")
_ROOT_PAIR_RE = re.compile(r"^(-?\d+)-(-?\d+)")


def fill(template: str, **wildcards) -> str:
    """A template with its wildcards filled (``fill(LABELS, k=2)``)."""
    try:
        return template.format(**wildcards)
    except KeyError as exc:
        raise TLSFinderError(f"path template {template!r} needs wildcard {exc.args[0]!r}") from None


def log(*parts) -> str:
    """A job's log file ``logs/<parts>.log``."""
    return "/".join([LOGS, *map(str, parts)]) + ".log"


def bench(*parts) -> str:
    """A job's Snakemake benchmark file ``benchmarks/out/<parts>.tsv``."""
    return "/".join([BENCHMARKS, *map(str, parts)]) + ".tsv"


def tf_label(tf: float) -> str:
    """T_f as it appears in paths and ids (``0.617`` -> ``"0.617"``)."""
    return f"{float(tf):g}"


def glass_id(tf: float | str, g: int) -> str:
    """The id of glass g at T_f, ``T{tf}/g{g}``, as used in every table."""
    return f"T{tf_label(tf)}/g{int(g)}"


def parse_glass_id(gid: str, source: str = "table") -> tuple[float, int]:
    """(T_f, index) of a glass id ``T<T_f>/g<index>``."""
    m = _GLASS_ID_RE.match(str(gid))
    if m is None:
        raise TLSFinderError(f"{source}: glass id {gid!r} is not of the form 'T<T_f>/g<index>'")
    return float(m.group(1)), int(m.group(2))


def glass_of_path(path) -> str:
    """The glass id of a per-glass file ``.../T{tf}/g{g}/<file>``."""
    hits = _PATH_GLASS_RE.findall(str(path))
    if not hits:
        raise TLSFinderError(f"{path}: cannot tell the glass (expected '.../T<T_f>/g<index>/' in the path)")
    tf, g = hits[-1]
    return glass_id(float(tf), int(g))


def iteration_of(path) -> int:
    """The loop iteration k of a path ``.../iter{k}/...``."""
    hits = _ITER_RE.findall(str(path))
    if not hits:
        raise TLSFinderError(f"{path}: cannot tell the loop iteration (no 'iter<k>' in the path and no "
                             "'iteration' column)")
    return int(hits[-1])


def pair_id(glass: str, i: int, j: int) -> str:
    """The id of the selected pair (i, j) of a glass."""
    return f"{glass}/{int(i)}-{int(j)}"


def root_pair(pid: str, glass: str) -> tuple[int, int] | None:
    """IS ids (i, j) of the selected pair a (sub-)pair id ``<glass>/<i>-<j>[.n...]`` descends from."""
    s = str(pid)
    prefix = f"{glass}/"
    if not s.startswith(prefix):
        return None
    m = _ROOT_PAIR_RE.match(s[len(prefix):])
    return (int(m.group(1)), int(m.group(2))) if m else None


def per_glass(template: str, glasses) -> list[str]:
    """``template`` for every (T_f label, index) of ``glasses``."""
    return [fill(template, tf=tf, g=g) for tf, g in glasses]


def per_tf(template: str, tfs) -> list[str]:
    """``template`` for every T_f label of ``tfs``."""
    return [fill(template, tf=tf) for tf in tfs]


def under(results_dir: str | Path, template: str) -> str:
    """The glob pattern of ``template`` inside another results folder (``tlsfinder report --results``)."""
    rel = template[len(RESULTS) + 1:] if template.startswith(RESULTS + "/") else template
    return re.sub(r"\{[a-z]+\}", "*", str(Path(results_dir) / rel))
