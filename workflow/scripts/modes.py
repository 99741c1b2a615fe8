"""Snakemake adapter: normal modes of a sample of the IS of one glass (rule ``modes``)."""

from tlsfinder.io import write_parquet
from tlsfinder.modes_stage import glass_modes
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    table, summary = glass_modes(snakemake.input.library, config["modes"], config["seed"])
    write_parquet(snakemake.output.table, table)
    write_parquet(snakemake.output.summary, summary)
    log.info("modes of %d IS, %d QLM in all", len(summary), int(summary["n_qlm"].sum()))


run_script(snakemake, main)  # noqa: F821
