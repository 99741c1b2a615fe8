"""``tlsfinder train``, ``rank``, ``select``: the ML ranking of candidate pairs."""

from __future__ import annotations

import json

from ..ml import ORDERS, TLS_SPLITTING_MAX, rank_from_files, select_from_files, train_from_files
from ..pairs import PUBLISHED_FEATURES
from ..schema import default, defaults, enum

# Options that mirror keys of the config's ml section default to the schema's values.
ML = defaults("ml")


def _add_threshold(p, what: str) -> None:
    """--model/--preset (the run's: the threshold is the preset's k_B T_Q, and files made for another
    model or preset are refused) or, without them, an explicit --tls-splitting-max."""
    p.add_argument("--model-name", dest="model_name", choices=enum("model.name"),
                   help="glass model of the run (with --preset)")
    p.add_argument("--preset", choices=enum("loop.preset"),
                   help=f"unit preset of the run (with --model-name): the TLS threshold is its k_B T_Q, and {what} "
                        f"made for another model or preset are refused (the workflow's default: "
                        f"{default('loop.preset')})")
    p.add_argument("--tls-splitting-max", type=float,
                   help=f"splitting (eps) below which a DW counts as a TLS, without --model-name/--preset "
                        f"(default {TLS_SPLITTING_MAX}, the published PSS criterion)")


def add_cli(sub) -> None:
    p = sub.add_parser("train", help="train the DW classifier and splitting regressor on labelled pairs")
    p.add_argument("--pairs", nargs="+", required=True, help="pairs table(s) (Parquet)")
    p.add_argument("--labels", required=True, help="labels table (Parquet)")
    p.add_argument("--out", required=True, help="model folder to write")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-fraction", type=float, default=ML["val_fraction"],
                   help="share of glasses for early stopping (%(default)s)")
    p.add_argument("--sigma", type=float, default=ML["sigma"],
                   help="error width of -log10(splitting) in p_tls (%(default)s)")
    _add_threshold(p, "labels")
    p.add_argument("--order", choices=ORDERS, default=ML["order"], help="default ranking order (%(default)s)")
    p.add_argument("--features", nargs="+", default=list(PUBLISHED_FEATURES))
    p.add_argument("--weight-column", help="column of the labels table with sample weights")
    p.add_argument("--params", type=json.loads, default=None, help='LightGBM overrides as JSON, e.g. \'{"num_leaves": 15}\'')
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("rank", help="rank pairs by their predicted chance of being a TLS")
    p.add_argument("--model", help="model folder (omit: heuristic ranking, bidirectional pairs by Delta_E)")
    p.add_argument("--pairs", nargs="+", required=True, help="pairs table(s) (Parquet)")
    p.add_argument("--out", required=True, help="ranking table to write (Parquet)")
    p.add_argument("--order", choices=ORDERS, help="override the model's ranking order")
    p.add_argument("--model-name", dest="model_name", choices=enum("model.name"),
                   help="glass model of the run (with --preset): a model folder made for another is refused")
    p.add_argument("--preset", choices=enum("loop.preset"),
                   help="unit preset of the run (with --model-name): a model folder made for another is refused")
    p.set_defaults(func=cmd_rank)

    p = sub.add_parser("select", help="choose the next pairs for NEB from a ranking and the labels so far")
    p.add_argument("--ranking", required=True)
    p.add_argument("--labels", help="labels so far (Parquet; omit: none)")
    p.add_argument("--out", required=True, help="selected pairs (Parquet)")
    p.add_argument("-k", type=int, default=ML["k"], help="number of pairs K (%(default)s)")
    p.add_argument("--explore-fraction", type=float, default=ML["explore_fraction"],
                   help="share of K drawn at random (%(default)s)")
    p.add_argument("--min-p-dw", type=float, default=ML["min_p_dw"],
                   help="smallest p_dw of the pairs taken in rank order (%(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--iteration", type=int)
    _add_threshold(p, "labels")
    p.add_argument("--yield-out", help="also write the per-iteration yield table here")
    p.set_defaults(func=cmd_select)


def cmd_train(args):
    r = train_from_files(args.pairs, args.labels, args.out, features=args.features, weight_column=args.weight_column,
                         seed=args.seed, val_fraction=args.val_fraction, sigma=args.sigma, model=args.model_name,
                         preset=args.preset, tls_splitting_max=args.tls_splitting_max, order=args.order,
                         params=args.params)
    return {"out": args.out, **{k: r.info[k] for k in ("n_labels", "n_dw", "n_tls", "n_glasses", "train_seconds")}}


def cmd_rank(args):
    ranking = rank_from_files(args.model, args.pairs, args.out, order=args.order, model=args.model_name,
                              preset=args.preset)
    return {"out": args.out, "pairs": len(ranking)}


def cmd_select(args):
    sel, yld = select_from_files(args.ranking, args.labels, args.out, k=args.k, explore_fraction=args.explore_fraction,
                                 min_p_dw=args.min_p_dw, seed=args.seed, iteration=args.iteration,
                                 tls_splitting_max=args.tls_splitting_max, model=args.model_name, preset=args.preset,
                                 yield_out=args.yield_out)
    return {"out": args.out, "selected": len(sel), "yield": yld.to_dict("records")}
