"""Snakemake adapter: the report section of the modes, elastic and coupling stages (rule ``report_modes``)."""

from pathlib import Path

from tlsfinder import TLSFinderError
from tlsfinder.report.modes import MODES_FILES, MODES_INPUT_KEYS, make_modes_report
from tlsfinder.workflow import input_list, run_script


def main(snakemake, config, log):
    out_dir = Path(snakemake.output.elastic).parent
    for key, name in MODES_FILES.items():
        if Path(snakemake.output[key]) != out_dir / name:
            raise TLSFinderError(f"rule report_modes: output {key!r} must be {out_dir / name} "
                                 f"(tlsfinder.report.modes.MODES_FILES), got {snakemake.output[key]!r}")
    tables = make_modes_report({k: input_list(snakemake, k) for k in MODES_INPUT_KEYS}, config, out_dir)
    log.info("report section: %s", ", ".join(f"{k} {len(v)} row(s)" for k, v in tables.items()))


run_script(snakemake, main)  # noqa: F821
