# Stage 1: equilibrium liquids at each T_f by hybrid swap MC / MD (Mocanu et al. 2023, Sec. II.C).
# Science: tlsfinder.prepare.


rule prepare:
    output:
        glass=paths.GLASS,
        thermo=paths.PREPARE_THERMO,
        summary=paths.PREPARE_SUMMARY,
    log:
        paths.log("prepare", "T{tf}", "g{g}"),
    benchmark:
        paths.bench("prepare", "T{tf}", "g{g}")
    params:
        seed=config["seed"],
        model=config["model"],
        # one glass does not depend on how many others there are or at which T_f
        prepare={k: v for k, v in config["prepare"].items() if k not in ("temperatures", "n_glasses")},
    resources:
        mem_mb=1000 + N // 2,
        # minutes; a job that hit its time limit gets more on its retry
        runtime=lambda wc, attempt: (10 + config["prepare"]["blocks"] * N // 200000) * attempt,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/prepare.py"


rule prepare_diagnostics:
    input:
        thermo=lambda wc: [paths.fill(paths.PREPARE_THERMO, tf=wc.tf, g=g) for g in glasses_at(wc.tf)],
        summary=lambda wc: [paths.fill(paths.PREPARE_SUMMARY, tf=wc.tf, g=g) for g in glasses_at(wc.tf)],
    output:
        plot=report(paths.PREPARE_PLOT, caption="../report/prepare.rst", category="Preparation"),
        table=paths.PREPARE_SAMPLES,
    log:
        paths.log("prepare", "T{tf}", "diagnostics"),
    benchmark:
        paths.bench("prepare", "T{tf}", "diagnostics")
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/prepare_diagnostics.py"


rule prepare_all:
    input:
        per_glass(paths.GLASS),
        per_tf(paths.PREPARE_PLOT),
