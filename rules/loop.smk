# The outer loop: iteration k = 0, 1, ... ranks the pairs (rules/ml.smk), selects K of them
# (checkpoint ml_select: the number of NEB batches is known only then), runs NEB + splitting in
# batches (rules/neb.smk), merges the labels into iteration k+1's table, and a cheap local
# checkpoint decides whether iteration k+1 runs (tlsfinder.loop.decide).
#
# The input functions walk the iterations with a plain loop (no recursion), so the DAG is
# rebuilt cheaply when a checkpoint finishes.

from tlsfinder.workflow import loop_n_batches, loop_outputs, neb_batches, previous_labels


rule merge_labels:
    input:
        batches=lambda wc: neb_batches(checkpoints, config, int(wc.k) - 1),
        previous=lambda wc: previous_labels(config, int(wc.k) - 1),
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
        unpack(lambda wc: loop_outputs(checkpoints, config)),


localrules:
    merge_labels,
    loop_decide,
    loop_all,
