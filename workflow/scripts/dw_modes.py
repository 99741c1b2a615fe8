"""Snakemake adapter: mode overlaps and the 1D check of the DWs of one glass (rule ``dw_modes``)."""

from tlsfinder import paths
from tlsfinder.io import write_parquet
from tlsfinder.modes_stage import Minima, dw_modes, glass_catalogue
from tlsfinder.workflow import input_list, run_script


def main(snakemake, config, log):
    glass = paths.glass_id(snakemake.wildcards.tf, snakemake.wildcards.g)
    cat = glass_catalogue(input_list(snakemake, "neb"), config, glass)
    minima = Minima(input_list(snakemake, "library")[0], input_list(snakemake, "neb_minima")[0])
    table = dw_modes(cat, minima, config["modes"])
    write_parquet(snakemake.output.table, table)
    log.info("%s: modes of %d DW(s)", glass, len(table))


run_script(snakemake, main)  # noqa: F821
