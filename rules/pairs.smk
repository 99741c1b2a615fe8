# Stage 3: candidate pairs of IS of each glass and their features.
# Science: tlsfinder.pairs.


rule pairs:
    input:
        library=paths.IS_LIBRARY,
        transitions=paths.TRANSITIONS,
        timeseries=paths.TIMESERIES,
    output:
        pairs=paths.PAIRS,
    log:
        paths.log("pairs", "T{tf}", "g{g}"),
    benchmark:
        paths.bench("pairs", "T{tf}", "g{g}")
    params:
        delta_e_max=config["ml"]["delta_e_max"],
        transition_count=config["ml"]["transition_count"],
    resources:
        # the IS library plus ~120 bytes per pair (600 IS of 1200 atoms: ~100 MB)
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/pairs.py"
