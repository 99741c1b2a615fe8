# Optional stage: vibrational modes, elastic moduli and TLS-strain coupling (config sections modes,
# elastic, coupling; all off by default, and then rule all asks for nothing here, so no job of this
# file is in the DAG).  Science: tlsfinder.modes, tlsfinder.elastic, tlsfinder.coupling; glue:
# tlsfinder.modes_stage.
#
# Per glass, beside the loop: modes of a sample of its IS, moduli of its IS 0; per T_f the moduli's
# mean and standard error.  After the loop's last checkpoint (tlsfinder.workflow.dw_stage_inputs):
# per glass, mode overlaps and the 1D check of its DWs, and the strain coupling of its TLS and
# near-threshold DWs.  The report section (report_modes) runs after the report, whose n0 it uses.

from tlsfinder.modes_stage import stages
from tlsfinder.workflow import dw_stage_inputs, modes_report_inputs, modes_targets


rule modes:
    input:
        library=paths.IS_LIBRARY,
    output:
        table=paths.MODES_TABLE,
        summary=paths.MODES_SUMMARY,
    log:
        paths.log("modes", "T{tf}", "g{g}"),
    benchmark:
        paths.bench("modes", "T{tf}", "g{g}")
    params:
        seed=config["seed"],
        modes=config["modes"],
    resources:
        # dense route: the dynamical matrix and eigenvectors, (3N)^2 doubles a few times over
        mem_mb=1000 + 288 * N * N // 10**6,
        runtime=10 + config["modes"]["sample"] * max(1, (N // 600) ** 3),
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/modes.py"


rule elastic:
    input:
        library=paths.IS_LIBRARY,
    output:
        table=paths.ELASTIC,
    log:
        paths.log("elastic", "T{tf}", "g{g}"),
    benchmark:
        paths.bench("elastic", "T{tf}", "g{g}")
    params:
        elastic=config["elastic"],
        mass=config["modes"]["mass"],
    resources:
        mem_mb=1000 + N,
        runtime=10 + N // 100,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/elastic.py"


rule elastic_aggregate:
    input:
        glasses=lambda wc: [paths.fill(paths.ELASTIC, tf=wc.tf, g=g) for g in glasses_at(wc.tf)],
    output:
        table=paths.ELASTIC_TF,
    log:
        paths.log("elastic", "T{tf}", "aggregate"),
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/elastic_aggregate.py"


rule dw_modes:
    input:
        unpack(lambda wc: dw_stage_inputs(checkpoints, config, wc.tf, wc.g)),
    output:
        table=paths.DW_MODES,
    log:
        paths.log("modes", "T{tf}", "g{g}", "dw_modes"),
    benchmark:
        paths.bench("modes", "T{tf}", "g{g}", "dw_modes")
    params:
        modes=config["modes"],
        # the catalogue's DWs and which are TLS: unit presets and loop.preset's k_B T_Q
        model=config["model"],
        units=config["units"],
        loop=config["loop"],
    resources:
        mem_mb=1000 + 288 * N * N // 10**6,
        runtime=30 + 5 * max(1, (N // 600) ** 3),
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/dw_modes.py"


rule coupling:
    input:
        unpack(lambda wc: dw_stage_inputs(checkpoints, config, wc.tf, wc.g)),
    output:
        table=paths.COUPLING,
    log:
        paths.log("coupling", "T{tf}", "g{g}"),
    benchmark:
        paths.bench("coupling", "T{tf}", "g{g}")
    params:
        coupling=config["coupling"],
        model=config["model"],
        units=config["units"],
        loop=config["loop"],
    resources:
        mem_mb=1000 + 288 * N * N // 10**6,
        runtime=30 + 5 * max(1, (N // 600) ** 3),
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/coupling.py"


rule report_modes:
    input:
        # dw_modes enters through the catalogue; listed here too so that a dry run shows its jobs
        unpack(lambda wc: modes_report_inputs(config)),
        # the per-mode frequencies of the sampled IS: D(omega) and I(omega)/omega^5 of the figures
        modes_table=lambda wc: per_glass(paths.MODES_TABLE) if stages(config)["modes"] else [],
        # the report's catalogue (with the dw_modes and coupling columns) and its n0
        catalogue=f"{paths.REPORT_DIR}/tls_catalogue.parquet",
        n0=f"{paths.REPORT_DIR}/n0.csv",
    output:
        # names: tlsfinder.report.modes.MODES_FILES
        elastic=report_file("elastic.csv", "elastic.rst", "Modes and coupling"),
        coupling=report_file("coupling.csv", "coupling.rst", "Modes and coupling"),
        modes=report_file("modes.csv", "modes.rst", "Modes and coupling"),
        plot_dw_linear=report_file("dw_linear_modes.png", "dw_linear_modes.rst", "Modes and coupling"),
        plot_dw_nonlinear=report_file("dw_nonlinear_modes.png", "dw_nonlinear_modes.rst", "Modes and coupling"),
        plot_dos=report_file("qlm_dos.png", "qlm_dos.rst", "Modes and coupling"),
    log:
        paths.log("report", "modes"),
    params:
        model=config["model"],
        units=config["units"],
        modes=config["modes"],
        # loop.preset: the splitting and TLS flag the DW figures use
        loop=config["loop"],
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/report_modes.py"


localrules:
    elastic_aggregate,
    report_modes,
