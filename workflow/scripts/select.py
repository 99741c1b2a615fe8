"""Snakemake adapter: choose the pairs of iteration k for NEB and report past yields (rule ``ml_select``)."""

from tlsfinder.ml import ml_setting, select_from_files
from tlsfinder.seeding import stage_rng
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    k = int(snakemake.wildcards.k)
    sel, _ = select_from_files(snakemake.input.ranking, snakemake.input.get("labels"), snakemake.output.selected,
                               k=int(ml_setting(config, "k")), explore_fraction=ml_setting(config, "explore_fraction"),
                               min_p_dw=ml_setting(config, "min_p_dw"),
                               seed=stage_rng(config["seed"], "ml_select", f"iter{k}"), iteration=k,
                               tls_splitting_max=ml_setting(config, "tls_splitting_max"),
                               yield_out=snakemake.output.yield_table)
    log.info("iteration %d: %d pairs selected (%d in ranking order, %d at random)", k, len(sel),
             int((sel["reason"] == "ranked").sum()), int((sel["reason"] == "explore").sum()))


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
