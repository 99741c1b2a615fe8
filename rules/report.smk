# Stage 5: the report: TLS catalogue, Table I, n(E)/E and n0, plots, summary.
# Science: tlsfinder.report (make_report; its inputs are described at REPORT_INPUT_KEYS).
# The inputs come from tlsfinder.workflow.report_inputs, after the loop's last checkpoint.
# The output names below are tlsfinder.report.OUTPUT_FILES (the script checks that they match).

rule report:
    input:
        unpack(lambda wc: report_inputs(checkpoints, config)),
    output:
        catalogue=report_file("tls_catalogue.parquet"),
        table1=report_file("table1.parquet"),
        table1_csv=report_file("table1.csv", "table1.rst", "Tables"),
        n0=report_file("n0.csv", "n0.rst", "Tables"),
        nE=report_file("nE.parquet"),
        loop_yield=report_file("loop_yield.csv", "loop_yield.rst", "Tables"),
        summary=paths.SUMMARY,
        plot_nE=report_file("nE_over_E.png", "nE_over_E.rst", "TLS density"),
        plot_cdf=report_file("cdf_splittings.png", "cdf_splittings.rst", "Double wells"),
        plot_vs_E=report_file("dw_vs_E.png", "dw_vs_E.rst", "Double wells"),
        plot_exploration=report_file("exploration.png", "exploration.rst", "Exploration"),
        plot_growth=report_file("growth.png", "growth.rst", "Exploration"),
        plot_ml=report_file("ml_diagnostics.png", "ml_diagnostics.rst", "ML loop"),
    log:
        paths.log("report", "report"),
    benchmark:
        paths.bench("report", "report")
    params:
        # the report states the run's settings, so it depends on every science section
        # (the optional sections only when on: switching them off changes no report number)
        **{k: v for k, v in config.items()
           if k != "container" and not (k in OPTIONAL_SECTIONS and not v["enabled"])},
    resources:
        # the NEB tables of all iterations (~1 kB per row) and the exploration tables in memory
        mem_mb=4000,
        runtime=30,
    conda:
        "../envs/tlsfinder.yaml"
    script:
        "../workflow/scripts/report.py"
