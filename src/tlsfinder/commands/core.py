"""``tlsfinder models``, ``validate-config``, ``prepare``: the foundation."""

from __future__ import annotations

import numpy as np

from ..config import load_config
from ..models import KA2_EPS, KA2_SIGMA, TYPE_NAMES, model_from_config
from ..prepare import run_prepare


def add_cli(sub) -> None:
    p = sub.add_parser("models", help="print the model definitions (pair parameters, cutoffs, box) of a config")
    p.add_argument("--config", help="YAML config (default: the built-in KA2 and PSS models)")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("validate-config", help="check a config file against the schema; print it with defaults")
    p.add_argument("config")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("prepare", help="equilibrate one glass sample at T_f by swap MC / MD")
    p.add_argument("--config", required=True, help="YAML config")
    p.add_argument("--tf", type=float, required=True, help="fictive temperature T_f")
    p.add_argument("--glass", type=int, required=True, help="sample index 0..N_g-1")
    p.add_argument("--out", required=True, help="output folder (glass.h5, thermo.parquet, summary.json)")
    p.set_defaults(func=cmd_prepare)


def cmd_models(args):
    cfgs = [load_config(args.config)["model"]] if args.config else [{"name": "KA2"}, {"name": "PSS"}]
    out = []
    for cfg in cfgs:
        m = model_from_config(cfg)
        d = {**m.to_config(), "box_length": m.box_length, "pair_form": m.form.__dict__, "max_cutoff": m.max_cutoff()}
        if m.name == "KA2":
            d["counts"] = dict(zip(TYPE_NAMES, m.counts.tolist()))
            d["pairs"] = {f"{TYPE_NAMES[a]}{TYPE_NAMES[b]}": {"eps": KA2_EPS[a, b], "sigma": KA2_SIGMA[a, b]}
                          for a in range(3) for b in range(a, 3)}
        else:
            d["diameters"] = {"s_min": m.s_min, "s_max": m.s_max}
        out.append(d)
    return [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in d.items()} for d in out]


def cmd_validate(args):
    return load_config(args.config)


def cmd_prepare(args):
    return run_prepare(load_config(args.config), args.tf, args.glass, args.out)
