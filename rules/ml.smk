# Stage 3 (candidate pairs and their features) and the ML steps of the loop (train, rank, select).
# Science: src/tlsfinder/pairs.py, src/tlsfinder/ml.py.  Settings: config["ml"], defaults in
# tlsfinder.ml.DEFAULTS (read through tlsfinder.ml.ml_setting).
#
# Iteration k >= 1 reads results/loop/iter{k}/labels.parquet (every pair computed exactly in
# iterations < k, written by the loop's merge step) and writes model/, ranking.parquet,
# selected.parquet and yield.parquet there.  Iteration 0 trains nothing: it ranks with the user's
# pretrained model (ml.pretrained_model) or, without one, by the heuristic (pairs crossed both ways,
# smallest Delta_E first), and selects among pairs not in ml.initial_labels (if given).

from tlsfinder.ml import loop_inputs, ml_setting


wildcard_constraints:
    k=r"\d+",


rule pairs:
    input:
        library="results/explore/T{tf}/g{g}/is_library.h5",
        transitions="results/explore/T{tf}/g{g}/transitions.parquet",
    output:
        pairs="results/pairs/T{tf}/g{g}/pairs.parquet",
    log:
        "logs/pairs/T{tf}/g{g}.log",
    benchmark:
        "benchmarks/out/pairs/T{tf}/g{g}.tsv"
    params:
        delta_e_max=lambda wc: ml_setting(config, "delta_e_max"),
    resources:
        # the IS library plus ~120 bytes per pair (600 IS of 1200 atoms: ~100 MB)
        mem_mb=4000,
        runtime=30,
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/pairs.py"


rule ml_train:
    input:
        pairs=lambda wc: [f"results/pairs/T{tf}/g{g}/pairs.parquet" for tf, g in GLASSES],
        labels="results/loop/iter{k}/labels.parquet",
    output:
        model=directory("results/loop/iter{k}/model"),
    log:
        "logs/loop/iter{k}/train.log",
    benchmark:
        "benchmarks/out/loop/iter{k}/train.tsv"
    resources:
        # pairs of every glass in memory (~120 bytes each) plus LightGBM's binned copy
        mem_mb=lambda wc: 2000 + 200 * len(GLASSES),
        runtime=60,
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/train.py"


rule ml_rank:
    input:
        unpack(lambda wc: {k: v for k, v in loop_inputs(config, wc.k).items() if k == "model"}),
        pairs=lambda wc: [f"results/pairs/T{tf}/g{g}/pairs.parquet" for tf, g in GLASSES],
    output:
        ranking="results/loop/iter{k}/ranking.parquet",
    log:
        "logs/loop/iter{k}/rank.log",
    benchmark:
        "benchmarks/out/loop/iter{k}/rank.tsv"
    resources:
        mem_mb=lambda wc: 2000 + 200 * len(GLASSES),
        runtime=30,
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/rank.py"


checkpoint ml_select:
    input:
        unpack(lambda wc: {k: v for k, v in loop_inputs(config, wc.k).items() if k == "labels"}),
        ranking="results/loop/iter{k}/ranking.parquet",
        # the classical protocol selects from the pairs' transition counts, not from a ranking
        pairs=lambda wc: [f"results/pairs/T{tf}/g{g}/pairs.parquet" for tf, g in GLASSES]
        if config["loop"]["mode"] == "classical"
        else [],
    output:
        selected="results/loop/iter{k}/selected.parquet",
        yield_table="results/loop/iter{k}/yield.parquet",
    log:
        "logs/loop/iter{k}/select.log",
    benchmark:
        "benchmarks/out/loop/iter{k}/select.tsv"
    resources:
        mem_mb=lambda wc: 2000 + 100 * len(GLASSES),
        runtime=10,
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/select.py"
