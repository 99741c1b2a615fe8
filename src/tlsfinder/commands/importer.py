"""``tlsfinder import-tlsml``: the published TLS_ML_exploration data as pairs and labels tables."""

from __future__ import annotations

from .. import TLSFinderError
from ..importer import PUBLISHED_MODEL, PUBLISHED_PRESET, import_tlsml
from ..io import write_parquet
from ..ml import write_labels
from ..schema import default


def add_cli(sub) -> None:
    p = sub.add_parser("import-tlsml", help="import published TLS_ML_exploration data (feather, CSV, Configurations)")
    p.add_argument("sources", nargs="+", help="feather tables, quantum_splitting/nonDW CSV files, Configurations folders")
    p.add_argument("--pairs-out", help="pairs table to write (Parquet)")
    p.add_argument("--labels-out", help=f"labels table to write (Parquet; recorded as {PUBLISHED_MODEL} glasses with "
                                        f"{PUBLISHED_PRESET}-preset splittings, as published)")
    p.add_argument("--tf", type=float, help="T_f when the file names do not tell it")
    p.add_argument("--delta-e-max", type=float, default=default("ml.delta_e_max"),
                   help="window for pairs from configurations (eps; %(default)s)")
    p.add_argument("--paired-only", action="store_true", help="drop labels whose pair has no features in the sources")
    p.set_defaults(func=cmd_import)


def cmd_import(args):
    if not args.pairs_out and not args.labels_out:
        raise TLSFinderError("nothing to write: give --pairs-out and/or --labels-out")
    pairs, labels = import_tlsml(args.sources, tf=args.tf, delta_e_max=args.delta_e_max, paired_only=args.paired_only)
    if args.pairs_out:
        write_parquet(args.pairs_out, pairs)
    if args.labels_out:
        write_labels(args.labels_out, labels, PUBLISHED_MODEL, PUBLISHED_PRESET)
    return {"pairs": len(pairs), "labels": len(labels), "dw": int(labels["is_dw"].sum()),
            "glasses": int(pairs["glass"].nunique()) if len(pairs) else 0}
