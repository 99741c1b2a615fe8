# The outer loop: iteration k = 0, 1, ... ranks the pairs (rules/ml.smk), selects K of them
# (checkpoint ml_select: the number of NEB batches is known only then), runs NEB + splitting in
# batches (rules/neb.smk), merges the labels into iteration k+1's table, and a cheap local
# checkpoint decides whether iteration k+1 runs (tlsfinder.loop.decide).
#
# The input functions walk the iterations with a plain loop (no recursion), so the DAG is
# rebuilt cheaply when a checkpoint finishes.

from tlsfinder.loop import LoopSettings, n_batches, read_decision

LOOP = LoopSettings.from_config(config)


def neb_batches(k):
    """NEB batch tables of iteration k (known once its selection exists)."""
    import pandas as pd

    selected = checkpoints.ml_select.get(k=k).output.selected
    n = len(pd.read_parquet(selected, columns=["i"]))
    return [f"results/loop/iter{k}/neb/batch{b}.parquet" for b in range(n_batches(n, LOOP.batch_size))]


def previous_labels(k):
    """Labels iteration k started from (none, or ml.initial_labels, at k = 0)."""
    return loop_inputs(config, k).get("labels", [])


def final_iteration():
    """Last iteration that runs: walk the decisions until one says stop."""
    k = 0
    while not read_decision(checkpoints.loop_decide.get(k=k).output.decision)["stop"]:
        k += 1
    return k


def loop_outputs(wildcards=None):
    """Everything the finished loop produced (for the report and rule loop_all)."""
    last = final_iteration()
    iters = range(last + 1)
    out = {
        "labels": [f"results/loop/iter{last + 1}/labels.parquet"],
        "decisions": [f"results/loop/iter{k}/decision.json" for k in iters],
        "rankings": [f"results/loop/iter{k}/ranking.parquet" for k in iters],
        "selected": [f"results/loop/iter{k}/selected.parquet" for k in iters],
        "yields": [f"results/loop/iter{k}/yield.parquet" for k in iters],
        "neb": [f for k in iters for f in neb_batches(k)],
    }
    return out


def report_inputs(wildcards=None):
    """Inputs of rule report (keys: tlsfinder.report.REPORT_INPUT_KEYS)."""
    lo = loop_outputs()
    last = len(lo["decisions"]) - 1
    return {
        "neb": lo["neb"],
        "glasses": [f"results/explore/T{tf}/glasses.parquet" for tf in TFS],
        "n_is": [f"results/explore/T{tf}/n_is.parquet" for tf in TFS],
        "persistence": [f"results/explore/T{tf}/persistence.parquet" for tf in TFS],
        "timeseries": [f"results/explore/T{tf}/g{g}/timeseries.parquet" for tf, g in GLASSES],
        "libraries": [f"results/explore/T{tf}/g{g}/is_library.h5" for tf, g in GLASSES],
        "ranking": lo["rankings"],
        "labels": [f"results/loop/iter{k}/labels.parquet" for k in range(1, last + 2)],
        "yields": lo["yields"],
    }


rule merge_labels:
    input:
        batches=lambda wc: neb_batches(int(wc.k) - 1),
        previous=lambda wc: previous_labels(int(wc.k) - 1),
    output:
        labels="results/loop/iter{k}/labels.parquet",
    wildcard_constraints:
        k=r"[1-9]\d*",
    log:
        "logs/loop/iter{k}/merge_labels.log",
    benchmark:
        "benchmarks/out/loop/iter{k}/merge_labels.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
        cpus_per_task=1,
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/merge_labels.py"


checkpoint loop_decide:
    input:
        labels=lambda wc: f"results/loop/iter{int(wc.k) + 1}/labels.parquet",
        selected="results/loop/iter{k}/selected.parquet",
    output:
        decision="results/loop/iter{k}/decision.json",
    log:
        "logs/loop/iter{k}/decide.log",
    benchmark:
        "benchmarks/out/loop/iter{k}/decide.tsv"
    resources:
        mem_mb=1000,
        runtime=5,
        cpus_per_task=1,
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/decide.py"


rule loop_all:
    input:
        unpack(loop_outputs),


localrules:
    merge_labels,
    loop_decide,
    loop_all,
