"""Snakemake adapter: train the DW classifier and splitting regressor of iteration k (rule ``ml_train``)."""

from tlsfinder.ml import ml_setting, train_from_files
from tlsfinder.seeding import stage_seed_sequence
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    k = int(snakemake.wildcards.k)
    seed = int(stage_seed_sequence(config["seed"], "ml_train", f"iter{k}").generate_state(1)[0] % 2**31)
    keys = ("sigma", "order", "val_fraction", "early_stopping_rounds", "max_rounds", "fallback_rounds")
    train_from_files(snakemake.input.pairs, snakemake.input.labels, snakemake.output.model, seed=seed,
                     model=config["model"], preset=config["preset"], params=ml_setting(config, "params"),
                     prior_model=config["ml"].get("pretrained_model"), min_dw=ml_setting(config, "min_retrain_dw"),
                     retrain_from=ml_setting(config, "retrain_from"),
                     **{key: ml_setting(config, key) for key in keys})


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
