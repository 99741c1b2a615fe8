# Stage 2: landscape exploration of each glass at T_exp, the IS library and its transitions.
# Science: tlsfinder.explore.


rule explore:
    input:
        glass=paths.GLASS,
    output:
        library=paths.IS_LIBRARY,
        timeseries=paths.TIMESERIES,
        transitions=paths.TRANSITIONS,
        summary=paths.EXPLORE_SUMMARY,
    log:
        paths.log("explore", "T{tf}", "g{g}"),
    benchmark:
        paths.bench("explore", "T{tf}", "g{g}")
    params:
        seed=config["seed"],
        model=config["model"],
        # checkpoint_seconds only says how often a job saves itself: not a param, so changing it
        # never reruns an exploration (the script reads it from the config)
        explore={k: v for k, v in config["explore"].items() if k != "checkpoint_seconds"},
    resources:
        mem_mb=1500 + N * 3,
        # minutes; a job that hit its time limit gets more on its retry (and resumes from its checkpoint)
        runtime=lambda wc, attempt: (30 + config["explore"]["n_cg"] * N // 20000) * attempt,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/explore.py"


rule explore_aggregate:
    input:
        summaries=lambda wc: [paths.fill(paths.EXPLORE_SUMMARY, tf=wc.tf, g=g) for g in glasses_at(wc.tf)],
        timeseries=lambda wc: [paths.fill(paths.TIMESERIES, tf=wc.tf, g=g) for g in glasses_at(wc.tf)],
    output:
        table=paths.GLASSES_TABLE,
        persistence=paths.PERSISTENCE,
        n_is=paths.N_IS,
    log:
        paths.log("explore", "T{tf}", "aggregate"),
    benchmark:
        paths.bench("explore", "T{tf}", "aggregate")
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/explore_aggregate.py"


rule explore_all:
    input:
        per_glass(paths.IS_LIBRARY),
        per_tf(paths.GLASSES_TABLE),
