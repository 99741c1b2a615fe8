"""Snakemake adapter: prepare one glass sample (rule ``prepare``)."""

from pathlib import Path

from tlsfinder.prepare import run_prepare
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    tf, g = float(snakemake.wildcards.tf), int(snakemake.wildcards.g)
    log.info("preparing glass T_f=%g g=%d (%s)", tf, g, config["model"]["name"])
    summary = run_prepare(config, tf, g, Path(snakemake.output.glass).parent)
    log.info("done: acceptance %s, tau_alpha %s, drift %s sigma, %.1f s", summary["acceptance"],
             summary["tau_alpha"], summary["e_pot_drift_sigma"], summary["wall_time_s"])


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
