# Loop step: NEB + splitting on the pairs selected in iteration k, in batches (Mocanu et al. 2023,
# Secs. II.D and III.C).  Science: tlsfinder.neb, tlsfinder.splitting, tlsfinder.units.
#
# Batch b of n takes the selected rows b, b+n, b+2n, ...; n = ceil(selected / loop.batch_size) is
# known once the checkpoint ml_select has run (tlsfinder.workflow.loop_n_batches).  Each batch writes
# its DW table, a folder with the path files (path CSV, path and saddle extended XYZ) of every
# pair it computed, and the minima it found that the IS libraries lack; neb_merge gives those
# minima their real ids (tlsfinder.identity) and writes the iteration's NEB table.


rule neb:
    input:
        unpack(iteration_input("labels")),
        selected=paths.SELECTED,
        libraries=per_glass(paths.IS_LIBRARY),
    output:
        table=paths.NEB_TABLE,
        paths=directory(paths.NEB_PATHS),
        minima=paths.NEB_BATCH_MINIMA,
    log:
        paths.log("loop", "iter{k}", "neb", "batch{b}"),
    benchmark:
        paths.bench("loop", "iter{k}", "neb", "batch{b}")
    params:
        n_batches=lambda wc: loop_n_batches(checkpoints, config, int(wc.k)),
        glasses=[paths.glass_id(tf, g) for tf, g in GLASSES],
        model=config["model"],
        # the IS identity rule: sub-pair minima are matched to the IS library with it
        explore={k: config["explore"][k] for k in ("energy_tol", "distance_tol")},
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


rule neb_merge:
    input:
        batches=lambda wc: neb_batches(checkpoints, config, int(wc.k)),
        minima=lambda wc: neb_batches(checkpoints, config, int(wc.k), paths.NEB_BATCH_MINIMA),
        previous=lambda wc: previous_neb_minima(wc.k),
        libraries=per_glass(paths.IS_LIBRARY),
    output:
        table=paths.NEB_MERGED,
        minima=paths.NEB_MINIMA,
    log:
        paths.log("loop", "iter{k}", "neb_merge"),
    benchmark:
        paths.bench("loop", "iter{k}", "neb_merge")
    params:
        explore={k: config["explore"][k] for k in ("energy_tol", "distance_tol")},
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/neb_merge.py"


localrules:
    neb_merge,
