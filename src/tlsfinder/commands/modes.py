"""``tlsfinder modes``: normal modes, quasi-localised modes and elastic moduli of one inherent structure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import TLSFinderError
from ..config import read_optional_config
from ..io import atomic_path, write_parquet
from ..models import model_from_config


def add_cli(sub) -> None:
    p = sub.add_parser(
        "modes", help="normal modes, QLMs, D(omega) and elastic moduli of one inherent structure",
        description="The structure: a glass file (glass.h5), an IS library entry (is_library.h5:ID) or an extended "
        "XYZ file (then --config gives the model).  Writes DIR/modes.parquet (frequency, eigenvalue, PR, qlm per "
        "mode) and DIR/modes.json (moduli, sound speeds, omega_t, omega_D, A_4, QLM count).",
    )
    p.add_argument("structure", help="the inherent structure (a minimum)")
    p.add_argument("--config", help="YAML config with a model section (needed for XYZ input)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--k", type=int, help="lowest modes only, by shift-invert Lanczos (default: all, dense)")
    p.add_argument("--mass", type=float, default=1.0, help="particle mass (default 1)")
    p.add_argument("--pr-max", type=float, default=0.1, help="QLM participation-ratio threshold (default 0.1)")
    p.add_argument("--qlm-omega-max", type=float, help="QLM frequency cut (default: omega_t of the structure)")
    p.add_argument("--aqs", action="store_true", help="also the AQS moduli (re-minimised small strains)")
    p.add_argument("--ftol", type=float, default=1e-6, help="largest force of a minimum, eps/sigma (default 1e-6)")
    p.set_defaults(func=cmd_modes)


def cmd_modes(args):
    from .. import elastic as el
    from .. import modes as M
    from ..neb import read_endpoint

    config = read_optional_config(args.config)
    x, box, species, model_cfg = read_endpoint(args.structure, config.get("model"))
    model = model_from_config(model_cfg)
    box = np.asarray(box, dtype=float)
    if args.mass <= 0:
        raise TLSFinderError(f"--mass must be positive, got {args.mass}")
    try:
        res = M.analyse(model, x, box, species, k=args.k, masses=args.mass, pr_max=args.pr_max,
                        qlm_omega_max=args.qlm_omega_max, ftol=args.ftol)
        aqs = el.aqs_moduli(model, x, box, species, ftol_input=args.ftol) if args.aqs else None
    except TLSFinderError as exc:
        raise TLSFinderError(f"{args.structure}: {exc}") from exc
    modes = res["modes"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_parquet(out / "modes.parquet", pd.DataFrame({
        "mode": np.arange(len(modes.frequencies)), "eigenvalue": modes.eigenvalues,
        "frequency": modes.frequencies, "PR": modes.participation, "qlm": res["qlm"]}))
    summary = {"structure": args.structure, "n": len(species), "method": modes.method, "n_modes": len(modes.frequencies),
               **res["acoustic"], "pressure": res["moduli"].pressure, "qlm_omega_max": res["qlm_omega_max"], "n_qlm": res["n_qlm"],
               "A4": None if res["a4"] is None else res["a4"].A4,
               "A4_count": None if res["a4"] is None else res["a4"].count,
               "A4_qlm": None if res["a4_qlm"] is None else res["a4_qlm"].A4}
    if aqs is not None:
        summary.update(G_aqs=aqs.G, K_aqs=aqs.K)
    with atomic_path(out / "modes.json") as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=2))
    return summary
