# Loop step: NEB + splitting on the pairs selected in iteration k, in batches (seed 001 II.D, III.C).
# Science: src/tlsfinder/neb.py, src/tlsfinder/splitting.py, src/tlsfinder/units.py.
# Settings: config["neb"] (NEBSettings fields), config["units"]["presets"],
# config["splitting"]; all optional, defaults in tlsfinder.neb.NEBSettings.
#
# Batch b of n takes the selected rows b, b+n, b+2n, ...; n = ceil(selected / loop.batch_size) is
# known once the checkpoint ml_select has run (rules/loop.smk, loop_n_batches).  Each batch writes
# its DW table and a folder with the path files (path CSV, path and saddle extended XYZ) of every
# pair it computed.


rule neb:
    input:
        selected="results/loop/iter{k}/selected.parquet",
        libraries=[f"results/explore/T{tf}/g{g}/is_library.h5" for tf, g in GLASSES],
    output:
        table="results/loop/iter{k}/neb/batch{b}.parquet",
        paths=directory("results/loop/iter{k}/neb/batch{b}_paths"),
    log:
        "logs/loop/iter{k}/neb/batch{b}.log",
    benchmark:
        "benchmarks/out/loop/iter{k}/neb/batch{b}.tsv"
    params:
        n_batches=lambda wc: loop_n_batches(checkpoints, config, int(wc.k)),
        glasses=[f"T{tf}/g{g}" for tf, g in GLASSES],
    wildcard_constraints:
        b=r"\d+",
    resources:
        # the IS library of one glass at a time, plus the band: n_images x N x 3 doubles (a few MB)
        mem_mb=lambda wc: 2000 + config["model"].get("n", 1200) * 2,
        # ~1-3 min per KA2 N=1200 NEB on one core (benchmarks/neb.py), selected pairs spread over batches
        runtime=lambda wc: 30 + 3 * config["loop"]["batch_size"],
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/neb.py"
