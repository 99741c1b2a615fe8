"""Snakemake adapter: NEB + splitting on one batch of the selected pairs (rule ``neb``)."""

import os

# One core per job: keep BLAS from spinning threads (must precede the numpy import).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from tlsfinder.neb import run_batch  # noqa: E402
from tlsfinder.workflow import input_list, run_script  # noqa: E402


def main(snakemake, config, log):
    b, n = int(snakemake.wildcards.b), int(snakemake.params.n_batches)
    libraries = dict(zip(snakemake.params.glasses, snakemake.input.libraries))
    labels = input_list(snakemake, "labels")
    df = run_batch(config, snakemake.input.selected, libraries, b, n, snakemake.output.table,
                   snakemake.output.paths, labels_path=labels[0] if labels else None,
                   minima_path=snakemake.output.minima)
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    log.info("iteration %s batch %d/%d: %d rows %s -> %s", snakemake.wildcards.k, b, n, len(df), counts,
             snakemake.output.table)


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
