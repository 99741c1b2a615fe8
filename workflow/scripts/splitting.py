"""Snakemake adapter: splitting table from path files (``tlsfinder splitting`` as a rule).

Inputs: ``paths`` (path CSV / Parquet / extended XYZ files).  Output: ``table``
(Parquet, one row per path; columns of tlsfinder.splitting.analyse_mep plus
``path_file``).  Presets from config["units"]["presets"] (default Ar, NiP of the
config's model), options from config["splitting"].
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pandas as pd  # noqa: E402

from tlsfinder.io import write_parquet  # noqa: E402
from tlsfinder.neb import settings_from_config  # noqa: E402
from tlsfinder.splitting import analyse_mep, read_path  # noqa: E402
from tlsfinder.workflow import run_script  # noqa: E402


def main(snakemake, config, log):
    _, presets, sopts = settings_from_config(config)
    rows = []
    for f in snakemake.input.paths:
        rows.append({"path_file": str(f), **analyse_mep(read_path(f), presets, **sopts)})
    write_parquet(snakemake.output.table, pd.DataFrame(rows))
    log.info("%d path(s) -> %s", len(rows), snakemake.output.table)


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
