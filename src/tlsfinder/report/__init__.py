"""The report: TLS catalogue, Table I, n(E)/E and n0, and the plots of Mocanu et al. (2023).

F. C. Mocanu et al., "Microscopic observation of two-level systems in a metallic glass
model", J. Chem. Phys. 158, 014501 (2023).  The last stage of the workflow (rule
``report``) and ``tlsfinder report``:

* :mod:`.inputs` - the files read (:data:`REPORT_INPUT_KEYS`, the input spec) and
  written (:data:`OUTPUT_FILES`), and reading them;
* :mod:`.tables` - pure functions from tables to tables: the catalogue, Table I, n(E),
  n0, growth curves, the loop's yield (the output columns are specified there);
* :mod:`.plots` - the figures;
* :mod:`.summary` - ``summary.txt``, one screen of text;
* :mod:`.make` - :func:`make_report`, which reads the inputs and writes everything;
* :mod:`.modes` - the section of the optional modes, elastic and coupling stages
  (``elastic.csv``, ``modes.csv``, ``coupling.csv``; rule ``report_modes``), written after the
  report, whose catalogue and n0 it reads; :mod:`.modes_plots` - its figures
  (``dw_linear_modes.png``, ``dw_nonlinear_modes.png``, ``qlm_dos.png``).

Reduced LJ units (eps, sigma, tau; k_B = 1) unless a column says otherwise; every file
is written atomically.
"""

from .inputs import OUTPUT_FILES, REPORT_INPUT_KEYS, check_inputs, discover_inputs, read_neb_tables, read_tables
from .make import make_report, run_settings
from .summary import summary_text
from .tables import (catalogue, combine_yields, common_time, discovery_times, growth_curves, loop_yield, n_of_e,
                     neb_outcomes, plateau_n0, poisson_upper, table_one, truth_vs_prediction)

__all__ = ["OUTPUT_FILES", "REPORT_INPUT_KEYS", "catalogue", "check_inputs", "combine_yields", "common_time",
           "discover_inputs", "discovery_times", "growth_curves", "loop_yield", "make_report",
           "n_of_e", "neb_outcomes", "plateau_n0", "poisson_upper", "read_neb_tables",
           "read_tables", "run_settings", "summary_text", "table_one", "truth_vs_prediction"]
