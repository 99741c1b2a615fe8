# Stage 5: the report (DESIGN section 6): TLS catalogue, Table I, n(E)/E and n0, plots, summary.
# Science: src/tlsfinder/report.py (make_report); adapter: workflow/scripts/report.py.
#
# The inputs come from tlsfinder.workflow.report_inputs (after the loop's last checkpoint).  It returns a
# dict of lists of paths with these keys (tlsfinder.report.REPORT_INPUT_KEYS); all but neb and
# glasses may be empty or absent:
#   neb          results/loop/iter{k}/neb/batch{b}.parquet       every iteration and batch (required)
#   glasses      results/explore/T{tf}/glasses.parquet           every T_f (required)
#   n_is         results/explore/T{tf}/n_is.parquet              every T_f
#   persistence  results/explore/T{tf}/persistence.parquet       every T_f
#   timeseries   results/explore/T{tf}/g{g}/timeseries.parquet   every glass (first-seen times of IS)
#   libraries    results/explore/T{tf}/g{g}/is_library.h5        every glass (optional fallback)
#   ranking      results/loop/iter{k}/ranking.parquet            every iteration
#   labels       results/loop/iter{k}/labels.parquet             every one that exists
#   yields       results/loop/iter{k}/yield.parquet              every iteration
# The output names below are tlsfinder.report.OUTPUT_FILES (the script checks that they match).

from tlsfinder.workflow import report_inputs

REPORT_DIR = "results/report"


rule report:
    input:
        unpack(lambda wc: report_inputs(checkpoints, config)),
    output:
        catalogue=f"{REPORT_DIR}/tls_catalogue.parquet",
        table1=f"{REPORT_DIR}/table1.parquet",
        table1_csv=report(f"{REPORT_DIR}/table1.csv", caption="../report/table1.rst", category="Tables"),
        n0=report(f"{REPORT_DIR}/n0.csv", caption="../report/n0.rst", category="Tables"),
        nE=f"{REPORT_DIR}/nE.parquet",
        loop_yield=report(f"{REPORT_DIR}/loop_yield.csv", caption="../report/loop_yield.rst", category="Tables"),
        summary=f"{REPORT_DIR}/summary.txt",
        plot_nE=report(f"{REPORT_DIR}/nE_over_E.png", caption="../report/nE_over_E.rst", category="TLS density"),
        plot_cdf=report(f"{REPORT_DIR}/cdf_splittings.png", caption="../report/cdf_splittings.rst",
                        category="Double wells"),
        plot_vs_E=report(f"{REPORT_DIR}/dw_vs_E.png", caption="../report/dw_vs_E.rst", category="Double wells"),
        plot_exploration=report(f"{REPORT_DIR}/exploration.png", caption="../report/exploration.rst",
                                category="Exploration"),
        plot_growth=report(f"{REPORT_DIR}/growth.png", caption="../report/growth.rst", category="Exploration"),
        plot_ml=report(f"{REPORT_DIR}/ml_diagnostics.png", caption="../report/ml_diagnostics.rst",
                       category="ML loop"),
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/out/report/report.tsv"
    resources:
        # the NEB tables of all iterations (~1 kB per row) and the exploration tables in memory
        mem_mb=4000,
        runtime=30,
        cpus_per_task=1,
    threads: 1
    conda:
        "../envs/tlsfinder.yaml"
    container:
        CONTAINER
    script:
        "../workflow/scripts/report.py"
