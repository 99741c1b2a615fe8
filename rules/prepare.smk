# Stage 1: equilibrium liquids at each T_f by hybrid swap MC / MD (seed 001, II.C).


rule prepare:
    output:
        glass="results/prepare/T{tf}/g{g}/glass.h5",
        thermo="results/prepare/T{tf}/g{g}/thermo.parquet",
        summary="results/prepare/T{tf}/g{g}/summary.json",
    log:
        "logs/prepare/T{tf}/g{g}.log",
    benchmark:
        "benchmarks/out/prepare/T{tf}/g{g}.tsv"
    resources:
        mem_mb=lambda wc: 1000 + config["model"].get("n", 1200) // 2,
        runtime=lambda wc: 10 + config["prepare"]["blocks"] * config["model"].get("n", 1200) // 200000,
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/prepare.py"


rule prepare_diagnostics:
    input:
        thermo=lambda wc: [f"results/prepare/T{wc.tf}/g{g}/thermo.parquet" for t, g in GLASSES if t == wc.tf],
        summary=lambda wc: [f"results/prepare/T{wc.tf}/g{g}/summary.json" for t, g in GLASSES if t == wc.tf],
    output:
        plot=report("results/prepare/T{tf}/diagnostics.png", caption="../report/prepare.rst", category="Preparation"),
        table="results/prepare/T{tf}/samples.parquet",
    log:
        "logs/prepare/T{tf}/diagnostics.log",
    benchmark:
        "benchmarks/out/prepare/T{tf}/diagnostics.tsv"
    resources:
        mem_mb=1000,
        runtime=10,
        cpus_per_task=1,
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/prepare_diagnostics.py"


rule prepare_all:
    input:
        [f"results/prepare/T{tf}/g{g}/glass.h5" for tf, g in GLASSES],
        [f"results/prepare/T{tf}/diagnostics.png" for tf in TFS],
