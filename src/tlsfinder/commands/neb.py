"""``tlsfinder neb``: climbing-image NEB between two given minima."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import TLSFinderError
from ..config import read_optional_config
from ..io import write_parquet
from ..models import model_from_config
from ..neb import NEB_METHODS, dw_table, neb_pair, read_endpoint, settings_from_config, write_pair_files
from ..schema import defaults


def add_cli(sub) -> None:
    p = sub.add_parser(
        "neb", help="climbing-image NEB between two minima, split at intermediate minima, splitting per preset",
        description="Endpoints: a glass file (glass.h5), an IS library entry (is_library.h5:ID) or an extended "
        "XYZ file (then --config gives the model).  Writes DIR/dw.parquet and the path files.",
    )
    p.add_argument("a", help="first minimum")
    p.add_argument("b", help="second minimum")
    p.add_argument("--config", help="YAML config (sections model, neb, units, splitting)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--pair-id", default="pair")
    # Not given: the config's value, else the schema's (settings_from_config fills it).
    neb, units = defaults("neb"), defaults("units")
    p.add_argument("--n-images", type=int, help=f"images of the band (default: config, else {neb['n_images']})")
    p.add_argument("--spring", type=float, help=f"spring constant, eps/sigma^2 (default: config, else {neb['spring']})")
    p.add_argument("--fmax", type=float, help=f"convergence, eps/sigma (default: config, else {neb['fmax']})")
    p.add_argument("--max-steps", type=int, help=f"FIRE steps (default: config, else {neb['max_steps']})")
    p.add_argument("--method", choices=NEB_METHODS, help=f"NEB tangent (default: config, else {neb['method']})")
    p.add_argument("--preset", action="append", dest="presets",
                   help=f"unit preset, repeatable (default: config, else {' '.join(units['presets'])})")
    p.set_defaults(func=cmd_neb)


def cmd_neb(args):
    config = read_optional_config(args.config)
    ea = read_endpoint(args.a, config.get("model"))
    eb = read_endpoint(args.b, config.get("model"))
    (xa, box_a, sp_a, m_a), (xb, box_b, sp_b, m_b) = ea, eb
    if len(sp_a) != len(sp_b):
        raise TLSFinderError(f"{args.a} has {len(sp_a)} particles, {args.b} has {len(sp_b)}")
    if m_a != m_b:
        raise TLSFinderError(f"{args.a} and {args.b} are configurations of different models ({m_a} vs {m_b})")
    if not np.allclose(box_a, box_b, rtol=0, atol=1e-9):
        raise TLSFinderError(f"{args.a} and {args.b} have different boxes ({box_a} vs {box_b})")
    if not np.array_equal(np.asarray(sp_a), np.asarray(sp_b)):
        raise TLSFinderError(f"{args.a} and {args.b} have different species (not two minima of one glass)")
    config.setdefault("model", m_a)
    neb_cfg = dict(config.get("neb") or {})
    for key in ("n_images", "spring", "fmax", "max_steps", "method"):
        v = getattr(args, key)
        if v is not None:
            neb_cfg[key] = v
    config["neb"] = neb_cfg
    if args.presets:
        config["units"] = dict(config.get("units") or {}, presets=args.presets)
    settings, presets, sopts = settings_from_config(config)
    model = model_from_config(m_a)
    res = neb_pair(model, box_a, sp_a, xa, xb, settings, presets, pair_id=args.pair_id, splitting_options=sopts)
    out = Path(args.out)
    for r in res:
        files = write_pair_files(r, out, sp_a, box_a)
        r.row.update({k: Path(v).name for k, v in files.items()})
    write_parquet(out / "dw.parquet", dw_table(res))
    keep = ["pair_id", "status", "neb_steps", "force_calls", "V_a", "Delta_V"] + [f"E_{p.name}" for p in presets]
    # JSON has no NaN: unknown values print as null
    return [{k: (None if (isinstance(v, float) and not math.isfinite(v)) else v) for k, v in r.row.items() if k in keep}
            for r in res]
