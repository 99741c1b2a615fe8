# tlsfinder: find tunneling two-level systems in simulated glasses.
#
#   snakemake --cores 2                       # demo (config/config.yaml)
#   snakemake --profile profiles/slurm --configfile config/<study>.yaml   # the study's file alone
#   snakemake -n                              # show the DAG without running
#
# Stages live in rules/*.smk (one file per stage); the science is in the tlsfinder package.

import os

from snakemake.utils import min_version

min_version("9.0")


# The demo config only when no --configfile is given: a study's file replaces it instead of being
# merged into it (merged, a KA2 study would inherit the PSS demo's model, pretrained ranker, ...);
# keys a study leaves out take the schema's defaults.
if not workflow.overwrite_configfiles:

    configfile: os.path.join(workflow.basedir, "config", "config.yaml")


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
