# Stage 2: landscape exploration of each glass at T_exp, the IS library and its transitions.


rule explore:
    input:
        glass="results/prepare/T{tf}/g{g}/glass.h5",
    output:
        library="results/explore/T{tf}/g{g}/is_library.h5",
        timeseries="results/explore/T{tf}/g{g}/timeseries.parquet",
        transitions="results/explore/T{tf}/g{g}/transitions.parquet",
        summary="results/explore/T{tf}/g{g}/summary.json",
    log:
        "logs/explore/T{tf}/g{g}.log",
    benchmark:
        "benchmarks/out/explore/T{tf}/g{g}.tsv"
    resources:
        mem_mb=lambda wc: 1500 + config["model"].get("n", 1200) * 3,
        runtime=lambda wc: 30 + config["explore"]["n_cg"] * config["model"].get("n", 1200) // 20000,
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/explore.py"


rule explore_aggregate:
    input:
        summaries=lambda wc: [f"results/explore/T{wc.tf}/g{g}/summary.json" for t, g in GLASSES if t == wc.tf],
        timeseries=lambda wc: [f"results/explore/T{wc.tf}/g{g}/timeseries.parquet" for t, g in GLASSES if t == wc.tf],
    output:
        table="results/explore/T{tf}/glasses.parquet",
        persistence="results/explore/T{tf}/persistence.parquet",
        n_is="results/explore/T{tf}/n_is.parquet",
    log:
        "logs/explore/T{tf}/aggregate.log",
    benchmark:
        "benchmarks/out/explore/T{tf}/aggregate.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
        cpus_per_task=1,
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/explore_aggregate.py"


rule explore_all:
    input:
        [f"results/explore/T{tf}/g{g}/is_library.h5" for tf, g in GLASSES],
        [f"results/explore/T{tf}/glasses.parquet" for tf in TFS],
