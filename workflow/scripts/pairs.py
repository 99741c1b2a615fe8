"""Snakemake adapter: candidate pairs of one glass and their features (rule ``pairs``)."""

from tlsfinder import paths
from tlsfinder.pairs import pairs_from_files
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    glass = paths.glass_id(snakemake.wildcards.tf, snakemake.wildcards.g)
    df = pairs_from_files(snakemake.input.library, snakemake.input.transitions, glass=glass,
                          delta_e_max=float(snakemake.params.delta_e_max),
                          transition_count=snakemake.params.transition_count, timeseries=snakemake.input.timeseries,
                          out=snakemake.output.pairs)
    crossed = int(((df["Tij"] > 0) | (df["Tji"] > 0)).sum())
    log.info("glass %s: %d pairs (%d crossed by the dynamics, transitions counted per %s) -> %s", glass, len(df),
             crossed, snakemake.params.transition_count, snakemake.output.pairs)


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
