# The outer loop: iteration k = 0, 1, ... ranks the pairs (rules/ml.smk), selects K of them
# (checkpoint ml_select: the number of NEB batches is known only then), runs NEB + splitting in
# batches (rules/neb.smk), merges the labels into iteration k+1's table, and a cheap local
# checkpoint decides whether iteration k+1 runs (tlsfinder.loop.decide).
#
# The input functions (tlsfinder.workflow) walk the iterations with a plain loop (no recursion), so
# the DAG is rebuilt cheaply when a checkpoint finishes.


rule merge_labels:
    input:
        neb=lambda wc: paths.fill(paths.NEB_MERGED, k=int(wc.k) - 1),
        previous=lambda wc: previous_labels(config, int(wc.k) - 1),
    output:
        labels=paths.LABELS,
    wildcard_constraints:
        k=r"[1-9]\d*",
    log:
        paths.log("loop", "iter{k}", "merge_labels"),
    benchmark:
        paths.bench("loop", "iter{k}", "merge_labels")
    params:
        preset=config["loop"]["preset"],
        model=config["model"]["name"],
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/merge_labels.py"


checkpoint loop_decide:
    input:
        labels=lambda wc: paths.fill(paths.LABELS, k=int(wc.k) + 1),
        selected=paths.SELECTED,
    output:
        decision=paths.DECISION,
    log:
        paths.log("loop", "iter{k}", "decide"),
    benchmark:
        paths.bench("loop", "iter{k}", "decide")
    params:
        # the stopping rule: changing max_iter, min_yield or patience re-decides (cheap) and extends the loop
        model=config["model"],
        loop=config["loop"],
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/decide.py"


rule loop_all:
    input:
        unpack(lambda wc: loop_outputs(checkpoints, config)),


localrules:
    merge_labels,
    loop_decide,
    loop_all,
