"""Snakemake adapter: choose the pairs of iteration k for NEB and report past yields (rule ``ml_select``)."""

from tlsfinder.ml import ml_setting, select_from_files, tls_threshold_of
from tlsfinder.seeding import stage_rng
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    k = int(snakemake.wildcards.k)
    if config["mode"] == "classical":
        import pandas as pd

        from tlsfinder.io import write_parquet
        from tlsfinder.loop import classical_selection
        from tlsfinder.ml import iteration_yield, read_labels

        sel = classical_selection(pd.concat([pd.read_parquet(f) for f in snakemake.input.pairs], ignore_index=True))
        labels = read_labels(snakemake.input.get("labels"), config["model"], config["preset"])
        # the selection last (see tlsfinder.ml.select_from_files)
        write_parquet(snakemake.output.yield_table,
                      iteration_yield(labels, tls_threshold_of(config["model"], config["preset"])))
        write_parquet(snakemake.output.selected, sel)
        log.info("classical protocol: %d pairs crossed both ways selected for NEB", len(sel))
        return
    sel, _ = select_from_files(snakemake.input.ranking, snakemake.input.get("labels"), snakemake.output.selected,
                               k=int(ml_setting(config, "k")), explore_fraction=ml_setting(config, "explore_fraction"),
                               min_p_dw=ml_setting(config, "min_p_dw"),
                               seed=stage_rng(config["seed"], "ml_select", f"iter{k}"), iteration=k,
                               model=config["model"], preset=config["preset"], yield_out=snakemake.output.yield_table)
    log.info("iteration %d: %d pairs selected (%d in ranking order, %d at random)", k, len(sel),
             int((sel["reason"] == "ranked").sum()), int((sel["reason"] == "explore").sum()))


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
