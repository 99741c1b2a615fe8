"""Snakemake adapter: explore one glass (rule ``explore``); resumes from its checkpoint."""

from pathlib import Path

from tlsfinder import paths
from tlsfinder.explore import run_explore
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    tf, g = float(snakemake.wildcards.tf), int(snakemake.wildcards.g)
    gid = paths.glass_id(tf, g)
    # how often the job saves itself is not a param (changing it must not rerun explorations)
    every = snakemake.config.get("explore", {}).get("checkpoint_seconds")
    if every is not None:
        config = {**config, "explore": {**config["explore"], "checkpoint_seconds": every}}
    log.info("exploring glass %s at T_exp=%g (%s protocol)", gid, config["explore"]["temperature"],
             config["explore"]["protocol"])
    s = run_explore(config, snakemake.input.glass, Path(snakemake.output.library).parent, gid)
    log.info("done: %d IS, %d transitions, %d bidirectional pairs, %d quenches (+%d shortened), %.1f s",
             s["n_IS"], s["transitions"], s["bidirectional_pairs"], s["quenches"], s["shortened_quenches"],
             s["wall_time_s"])


run_script(snakemake, main)  # noqa: F821
