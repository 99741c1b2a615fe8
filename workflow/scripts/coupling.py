"""Snakemake adapter: strain coupling of the TLS and near-threshold DWs of one glass (rule ``coupling``)."""

from tlsfinder import paths
from tlsfinder.io import write_parquet
from tlsfinder.modes_stage import Minima, dw_coupling, glass_catalogue
from tlsfinder.neb import settings_from_config
from tlsfinder.workflow import input_list, run_script


def main(snakemake, config, log):
    glass = paths.glass_id(snakemake.wildcards.tf, snakemake.wildcards.g)
    cat = glass_catalogue(input_list(snakemake, "neb"), config, glass)
    _, presets, _ = settings_from_config(config)
    minima = Minima(input_list(snakemake, "library")[0], input_list(snakemake, "neb_minima")[0])
    table = dw_coupling(cat, minima, config["coupling"], presets)
    write_parquet(snakemake.output.table, table)
    log.info("%s: coupling of %d of %d DW(s)", glass, len(table), len(cat))


run_script(snakemake, main)  # noqa: F821
