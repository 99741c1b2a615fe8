# tlsfinder: find tunneling two-level systems in simulated glasses.
#
#   snakemake --cores 2                       # demo (config/config.yaml)
#   snakemake --profile profiles/slurm --configfile config/<study>.yaml
#   snakemake -n                              # show the DAG without running
#
# Stages live in rules/*.smk; the science is in the tlsfinder package.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"


wildcard_constraints:
    tf=r"[0-9.]+",
    g=r"\d+",


include: "rules/prepare.smk"
include: "rules/explore.smk"
include: "rules/ml.smk"
include: "rules/neb.smk"
include: "rules/loop.smk"
include: "rules/report.smk"


rule all:
    input:
        rules.prepare_all.input,
        rules.explore_all.input,
        "results/report/summary.txt",
    default_target: True


onstart:
    record_results_config(config, RUN_RECORD)


onsuccess:
    import pathlib

    summary = pathlib.Path("results/report/summary.txt")
    if summary.exists():
        print(summary.read_text())
