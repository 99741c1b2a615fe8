# Loop step: NEB + splitting on the pairs selected in iteration k, in batches (Mocanu et al. 2023,
# Secs. II.D and III.C).  Science: tlsfinder.neb, tlsfinder.splitting, tlsfinder.units.
#
# Batch b of n takes the selected rows b, b+n, b+2n, ...; n = ceil(selected / loop.batch_size) is
# known once the checkpoint ml_select has run (tlsfinder.workflow.loop_n_batches).  Each batch writes
# its DW table and a folder with the path files (path CSV, path and saddle extended XYZ) of every
# pair it computed.


rule neb:
    input:
        selected=paths.SELECTED,
        libraries=per_glass(paths.IS_LIBRARY),
    output:
        table=paths.NEB_TABLE,
        paths=directory(paths.NEB_PATHS),
    log:
        paths.log("loop", "iter{k}", "neb", "batch{b}"),
    benchmark:
        paths.bench("loop", "iter{k}", "neb", "batch{b}")
    params:
        n_batches=lambda wc: loop_n_batches(checkpoints, config, int(wc.k)),
        glasses=[paths.glass_id(tf, g) for tf, g in GLASSES],
        model=config["model"],
        neb=config["neb"],
        units=config["units"],
        splitting=config["splitting"],
    resources:
        # the IS library of one glass at a time, plus the band: n_images x N x 3 doubles (a few MB)
        mem_mb=2000 + N * 2,
        # ~1-3 min per KA2 N=1200 NEB on one core (benchmarks/neb.py), selected pairs spread over batches
        # (minutes; a job that hit its time limit gets more on its retry)
        runtime=lambda wc, attempt: (30 + 3 * config["loop"]["batch_size"]) * attempt,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/neb.py"
