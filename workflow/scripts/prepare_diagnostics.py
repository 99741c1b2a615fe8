"""Snakemake adapter: per-T_f diagnostics of the prepared glasses (rule ``prepare_diagnostics``)."""

from tlsfinder.diagnostics import prepare_diagnostics
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    prepare_diagnostics(list(snakemake.input.thermo), list(snakemake.input.summary), snakemake.output.plot,
                        snakemake.output.table, title=f"T_f = {snakemake.wildcards.tf}")
    log.info("wrote %s", snakemake.output.plot)


run_script(snakemake, main)  # noqa: F821
