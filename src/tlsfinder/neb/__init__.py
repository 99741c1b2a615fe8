"""Nudged elastic band between two inherent structures, and the double wells it reveals.

Units and conventions: reduced LJ units (eps, sigma, all masses 1); positions
are unwrapped (N, 3) arrays in an orthorhombic periodic box; forces in eps/sigma.

The modules, in the order a pair goes through them:

* :mod:`~tlsfinder.neb.settings`: :class:`NEBSettings` (config section ``neb``);
* :mod:`~tlsfinder.neb.forcefield`: :class:`BatchForceField`, energies and forces
  of many configurations in one compiled pass;
* :mod:`~tlsfinder.neb.minima`: tight minimisation of the endpoints and of the
  band's dips, Hessian eigenvalues, comparing and aligning two minima;
* :mod:`~tlsfinder.neb.band`: :func:`run_neb`, the climbing-image band relaxed by FIRE;
* :mod:`~tlsfinder.neb.pair`: :func:`neb_pair`, one pair from its endpoints to its
  elementary double wells (:class:`ElementaryWellSplitter`);
* :mod:`~tlsfinder.neb.files`: the path files of a pair and the endpoint files of
  ``tlsfinder neb``;
* :mod:`~tlsfinder.neb.batch`: the DW table of a batch of selected pairs (workflow).
"""

from .band import Band, intermediate_minima, run_neb
from .batch import ROW_COLUMNS, dw_table, run_batch
from .files import read_endpoint, safe_name, write_pair_files
from .forcefield import BatchForceField
from .minima import (Minimum, align, end_derivatives, lowest_eigenvalues, minimize, saddle_check, same_minimum,
                     soft_modes)
from .pair import ElementaryWellSplitter, PairResult, neb_pair
from .settings import END_CURVATURES, NEB_METHODS, NEBSettings, settings_from_config

__all__ = [
    "END_CURVATURES", "NEB_METHODS", "NEBSettings", "settings_from_config",
    "BatchForceField",
    "Minimum", "minimize", "lowest_eigenvalues", "saddle_check", "same_minimum", "align", "soft_modes",
    "end_derivatives",
    "Band", "run_neb", "intermediate_minima",
    "PairResult", "ElementaryWellSplitter", "neb_pair",
    "safe_name", "write_pair_files", "read_endpoint",
    "ROW_COLUMNS", "dw_table", "run_batch",
]
