"""Snakemake adapter: elastic moduli of the IS of one glass (rule ``elastic``)."""

from tlsfinder.io import write_parquet
from tlsfinder.modes_stage import glass_elastic
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    row = glass_elastic(snakemake.input.library, config["elastic"], config["mass"])
    write_parquet(snakemake.output.table, row)
    log.info("G = %.4g, K = %.4g (%s) in %.1f s", row["G"].iloc[0], row["K"].iloc[0], row["method"].iloc[0],
             row["wall_s"].iloc[0])


run_script(snakemake, main)  # noqa: F821
