"""Snakemake adapter: the NEB table of iteration k with real IS ids, and the NEB minima so far (rule ``neb_merge``)."""

from tlsfinder.loop import merge_neb
from tlsfinder.workflow import input_list, run_script


def main(snakemake, config, log):
    k = int(snakemake.wildcards.k)
    previous = input_list(snakemake, "previous")
    df = merge_neb(input_list(snakemake, "batches"), input_list(snakemake, "minima"),
                   previous[0] if previous else None, input_list(snakemake, "libraries"), config, k,
                   snakemake.output.table, snakemake.output.minima)
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    log.info("iteration %d: %d NEB rows %s -> %s", k, len(df), counts, snakemake.output.table)


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
