"""Snakemake adapter: rank every pair for iteration k (rule ``ml_rank``); no model -> heuristic ranking."""

from tlsfinder.ml import rank_from_files
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    model = snakemake.input.get("model")
    order = config["order"] if model else None
    ranking = rank_from_files(model, snakemake.input.pairs, snakemake.output.ranking, order=order,
                              model=config["model"], preset=config["preset"])
    log.info("ranked %d pairs with %s", len(ranking), model or "the heuristic (crossed both ways, Delta_E)")


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
