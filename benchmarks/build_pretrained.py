"""Rebuild the pretrained model shipped with tlsfinder (``ml.pretrained_model: builtin:pss-T0.07``).

Trains both models (DW classifier, splitting regressor: :class:`tlsfinder.ml.TLSRanker`, the code
behind ``tlsfinder train``) on the published PSS tables at T_f = 0.07: the classifier table
(39,065 pairs of 50 glasses, ``is_dw``) and the predictor table (the splittings of its 23,535
double wells), imported with :func:`tlsfinder.importer.import_tlsml`.  The T_f = 0.092 lists carry
labels but no features and are not used.  Data: Ciarella, Khomenko, Berthier, Mocanu, Reichman,
Scalliet, Zamponi, "Finding defects in glasses through machine learning", Nat. Commun. 14, 4229
(2023) / arXiv:2212.05582, repository SCiarella/TLS_ML_exploration (MIT licence; its LICENSE is
copied into the model folder).

Units: the published splittings are PSS argon units, TLS below 0.00151; the model is recorded as
glass model PSS, unit preset Ar, whose k_B T_Q = 0.0015 (tlsfinder.units) is its TLS threshold.

Every setting is the ``ml`` schema default (seed 0, one thread, deterministic LightGBM), so a rebuild
gives the same trees.  Each model is an ensemble of ``tlsfinder.ml.ENSEMBLE_SIZE`` boosters
(``classifier.txt``, ``classifier-1.txt``, ..., the same for the regressor; ~1.4 MB in all).
The machine name that model.json's provenance records is dropped.

Usage (from the repository):
    python benchmarks/build_pretrained.py DATA_DIR [--out src/tlsfinder/data/pretrained/pss-T0.07]
DATA_DIR holds pretraining-classifier-T007.feather, pretraining-predictor-T007.feather and LICENSE.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from tlsfinder import TLSFinderError  # noqa: E402
from tlsfinder.importer import PUBLISHED_MODEL, PUBLISHED_PRESET, import_tlsml  # noqa: E402
from tlsfinder.io import write_parquet  # noqa: E402
from tlsfinder.ml import train_from_files, write_labels  # noqa: E402

NAME = "pss-T0.07"
TABLES = ("pretraining-classifier-T007.feather", "pretraining-predictor-T007.feather")
SOURCE = {
    "data": "SCiarella/TLS_ML_exploration, commit 08a460f5d5aeb1fa09d3aab01e0a172aa227d569 (MIT licence)",
    "paper": "Ciarella, Khomenko, Berthier, Mocanu, Reichman, Scalliet, Zamponi, 'Finding defects in glasses "
             "through machine learning', Nat. Commun. 14, 4229 (2023), arXiv:2212.05582",
    "tables": list(TABLES),
    "system": "PSS, N = 1500, number density 1.0",
    "tf": [0.07],
    "published_tls_threshold": 0.00151,
}
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "tlsfinder" / "data" / "pretrained" / NAME


def build(data: str | Path, out: str | Path, seed: int = 0):
    """Import the published T_f = 0.07 tables, train, write the model folder ``out``; return the ranker."""
    data, out = Path(data), Path(out)
    missing = [t for t in (*TABLES, "LICENSE") if not (data / t).exists()]
    if missing:
        raise TLSFinderError(f"{data}: missing {missing}; expected the published TLS_ML_exploration tables")
    pairs, labels = import_tlsml([data / t for t in TABLES], paired_only=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_parquet(Path(tmp) / "pairs.parquet", pairs)
        write_labels(Path(tmp) / "labels.parquet", labels, PUBLISHED_MODEL, PUBLISHED_PRESET)
        ranker = train_from_files(Path(tmp) / "pairs.parquet", Path(tmp) / "labels.parquet", out, seed=seed,
                                  model=PUBLISHED_MODEL, preset=PUBLISHED_PRESET, training_data=SOURCE)
    meta_path = out / "model.json"
    meta = json.loads(meta_path.read_text())
    meta["provenance"].pop("host", None)  # a shipped file names no machine
    meta_path.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    shutil.copyfile(data / "LICENSE", out / "DATA_LICENSE")
    return ranker


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="folder of the published tables")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model folder to write (%(default)s)")
    args = ap.parse_args(argv)
    r = build(args.data, args.out)
    sizes = {p.name: p.stat().st_size for p in sorted(args.out.iterdir())}
    print(f"{args.out}: {r.info['n_labels']} labels ({r.info['n_dw']} DW, {r.info['n_tls']} TLS below "
          f"{r.tls_splitting_max}) of {r.info['n_glasses']} glasses; trees: classifier "
          f"{r.info['classifier']['rounds']}, regressor {r.info['regressor']['rounds']}; files {sizes}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except TLSFinderError as exc:
        sys.exit(f"error: {exc}")
