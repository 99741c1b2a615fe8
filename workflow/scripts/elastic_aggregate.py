"""Snakemake adapter: elastic moduli of one T_f, mean and standard error over glasses (rule ``elastic_aggregate``)."""

import pandas as pd

from tlsfinder.io import write_parquet
from tlsfinder.modes_stage import tf_elastic
from tlsfinder.workflow import input_list, run_script


def main(snakemake, config, log):
    table = tf_elastic(pd.read_parquet(p) for p in input_list(snakemake, "glasses"))
    write_parquet(snakemake.output.table, table)
    log.info("T_f=%s: G = %.4g +- %.2g over %d glasses", snakemake.wildcards.tf, table["G"].iloc[0],
             table["G_err"].iloc[0], int(table["N_g"].iloc[0]))


run_script(snakemake, main)  # noqa: F821
