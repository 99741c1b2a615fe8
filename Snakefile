# tlsfinder: find tunneling two-level systems in simulated glasses.
#
#   snakemake --cores 2                       # demo (config/config.yaml)
#   snakemake --profile profiles/slurm --configfile config/<study>.yaml
#   snakemake -n                              # show the DAG without running
#
# Stages live in rules/*.smk (one file per stage); the science is in the tlsfinder package.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "rules/common.smk"


# Every job runs in this image under --sdm apptainer (containers/tlsfinder.def builds it).
container: config["container"]


wildcard_constraints:
    tf=r"[0-9.]+",
    g=r"\d+",
    k=r"\d+",
    b=r"\d+",


include: "rules/prepare.smk"
include: "rules/explore.smk"
include: "rules/pairs.smk"
include: "rules/ml.smk"
include: "rules/neb.smk"
include: "rules/loop.smk"
include: "rules/report.smk"
include: "rules/modes.smk"


rule all:
    input:
        rules.prepare_all.input,
        rules.explore_all.input,
        paths.SUMMARY,
        # the report section of modes, elastic moduli and coupling; nothing unless configured
        modes_targets(config),
    default_target: True


onstart:
    record_results_config(config, paths.RUN_RECORD)


onsuccess:
    import pathlib

    summary = pathlib.Path(paths.SUMMARY)
    if summary.exists():
        print(summary.read_text())
