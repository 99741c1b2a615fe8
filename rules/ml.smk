# The ML steps of loop iteration k: train (k >= 1), rank, select (checkpoint).  Science: tlsfinder.ml.
#
# Iteration k >= 1 trains on results/loop/iter{k}/labels.parquet (every pair computed exactly in
# iterations < k, written by the loop's merge step).  Iteration 0 trains nothing: it ranks with the
# user's pretrained model (ml.pretrained_model) or, without one, by the heuristic (pairs crossed both
# ways, smallest Delta_E first), and selects among pairs not in ml.initial_labels (if given).


rule ml_train:
    input:
        pairs=per_glass(paths.PAIRS),
        labels=paths.LABELS,
    output:
        model=directory(paths.MODEL),
    log:
        paths.log("loop", "iter{k}", "train"),
    benchmark:
        paths.bench("loop", "iter{k}", "train")
    params:
        seed=config["seed"],
        ml=config["ml"],
        # the labels' glass model and unit preset (saved with the model; the TLS threshold is the preset's)
        model=config["model"]["name"],
        preset=config["loop"]["preset"],
    resources:
        # pairs of every glass in memory (~120 bytes each) plus LightGBM's binned copy
        mem_mb=2000 + 200 * len(GLASSES),
        runtime=60,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/train.py"


rule ml_rank:
    input:
        unpack(iteration_input("model")),
        pairs=per_glass(paths.PAIRS),
    output:
        ranking=paths.RANKING,
    log:
        paths.log("loop", "iter{k}", "rank"),
    benchmark:
        paths.bench("loop", "iter{k}", "rank")
    params:
        order=config["ml"]["order"],
        # a pretrained model of another glass model or unit preset is refused
        model=config["model"]["name"],
        preset=config["loop"]["preset"],
    resources:
        mem_mb=2000 + 200 * len(GLASSES),
        runtime=30,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/rank.py"


checkpoint ml_select:
    input:
        unpack(iteration_input("labels")),
        ranking=paths.RANKING,
        # the classical protocol selects from the pairs' transition counts, not from a ranking
        pairs=per_glass(paths.PAIRS) if config["loop"]["mode"] == "classical" else [],
    output:
        selected=paths.SELECTED,
        yield_table=paths.YIELD,
    log:
        paths.log("loop", "iter{k}", "select"),
    benchmark:
        paths.bench("loop", "iter{k}", "select")
    params:
        seed=config["seed"],
        ml=config["ml"],
        mode=config["loop"]["mode"],
        # the TLS threshold of the yields is the preset's k_B T_Q
        model=config["model"]["name"],
        preset=config["loop"]["preset"],
    resources:
        mem_mb=2000 + 100 * len(GLASSES),
        runtime=10,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/select.py"
