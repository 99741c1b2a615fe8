"""Snakemake adapter: the loop's stopping rule after iteration k (checkpoint ``loop_decide``)."""

import pandas as pd

from tlsfinder.loop import LoopSettings, decide, tls_threshold, write_decision
from tlsfinder.ml import read_labels
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    k = int(snakemake.wildcards.k)
    n_selected = len(pd.read_parquet(snakemake.input.selected, columns=["i"]))
    d = decide(read_labels(snakemake.input.labels), k, n_selected, LoopSettings.from_config(config),
               tls_threshold(config))
    write_decision(snakemake.output.decision, d)
    y = d["yields"][-1]
    log.info("iteration %d: %d NEB, %d TLS (%.4f per NEB); %d TLS in all -> %s (%s)", k, y["n_neb"], y["n_tls"],
             y["tls_per_neb"], d["total_tls"], "stop" if d["stop"] else "continue", d["reason"])


run_script(snakemake, main)  # noqa: F821
