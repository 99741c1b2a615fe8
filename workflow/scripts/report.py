"""Snakemake adapter: the report (rule ``report``): catalogue, Table I, n0, plots, summary."""

from pathlib import Path

from tlsfinder import TLSFinderError
from tlsfinder.report import OUTPUT_FILES, REPORT_INPUT_KEYS, make_report
from tlsfinder.workflow import run_script


def main(snakemake, config, log):
    out_dir = Path(snakemake.output.summary).parent
    for key, name in OUTPUT_FILES.items():
        got = snakemake.output.get(key)
        if got is None or Path(got) != out_dir / name:
            raise TLSFinderError(f"rule report: output {key!r} must be {out_dir / name} (tlsfinder.report."
                                 f"OUTPUT_FILES), got {got!r}")
    unknown = sorted(set(snakemake.input.keys()) - set(REPORT_INPUT_KEYS))
    if unknown:
        raise TLSFinderError(f"rule report: report_inputs() returned unknown key(s) {unknown}; "
                             f"known: {sorted(REPORT_INPUT_KEYS)}")
    inputs = {k: snakemake.input.get(k) for k in REPORT_INPUT_KEYS if k in snakemake.input.keys()}
    res = make_report(inputs, config, out_dir)
    log.info("%d double wells, TLS %s; NEB outcomes %s", res["n_dw"], res["n_tls"], res["neb_outcomes"])
    log.info("summary:\n%s", res["summary"])


run_script(snakemake, main)  # noqa: F821  (snakemake is injected)
