"""Snakemake adapter: labels of iteration k = labels so far + the merged NEB table of iteration k-1."""

from tlsfinder.loop import merge_labels
from tlsfinder.workflow import input_list, run_script


def main(snakemake, config, log):
    k = int(snakemake.wildcards.k)
    previous = input_list(snakemake, "previous")
    merged = merge_labels(previous[0] if previous else None, [snakemake.input.neb], k - 1, config["preset"],
                          snakemake.output.labels, model=config["model"])
    new = merged[merged["iteration"] == k - 1]
    log.info("iteration %d: %d new labels (%d DW), %d labels in all", k - 1, len(new), int(new["is_dw"].sum()),
             len(merged))


run_script(snakemake, main)  # noqa: F821
