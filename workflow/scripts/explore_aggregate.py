"""Snakemake adapter: per-T_f exploration statistics (rule ``explore_aggregate``)."""

from tlsfinder.explore import aggregate
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    aggregate(list(snakemake.input.summaries), list(snakemake.input.timeseries), snakemake.output.table,
              snakemake.output.persistence, snakemake.output.n_is)
    log.info("aggregated %d glasses at T_f=%s", len(snakemake.input.summaries), snakemake.wildcards.tf)


run_script(snakemake, main)  # noqa: F821
