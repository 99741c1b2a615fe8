"""Snakemake adapter: labels of iteration k = labels so far + NEB results of iteration k-1."""

from tlsfinder.loop import LoopSettings, merge_labels
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    k = int(snakemake.wildcards.k)
    prev = snakemake.input.previous
    prev = prev[0] if isinstance(prev, list) and prev else (prev or None)
    merged = merge_labels(prev, list(snakemake.input.batches), k - 1, LoopSettings.from_config(config).preset,
                          snakemake.output.labels)
    new = merged[merged["iteration"] == k - 1]
    log.info("iteration %d: %d new labels (%d DW), %d labels in all", k - 1, len(new), int(new["is_dw"].sum()),
             len(merged))


run_script(snakemake, main)  # noqa: F821
