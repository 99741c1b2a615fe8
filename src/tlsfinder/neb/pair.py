"""One pair of minima: endpoints, band, intermediate minima, elementary double wells.

:func:`neb_pair` is the NEB step for one pair (the rows of the DW table, see
:mod:`tlsfinder.neb.batch`):

1. both endpoints are re-minimised tightly with our own energy function
   (L-BFGS, then Newton steps with the analytic Hessian down to max |F| <=
   ``endpoint_ftol``), and B is aligned to A by the minimum image convention
   (so no particle jumps across the box along the path) with the rigid
   translation between them removed (zero mode: it would only lengthen the path);
2. the band is the linear interpolation, relaxed by :func:`run_neb` until
   ``fmax`` or ``max_steps``; a band that does not converge is recorded with
   ``status = "unconverged"`` and no splitting is computed from it;
3. the band is checked for intermediate minima (interior images lower than the
   highest image on each side by more than ``intermediate_tol``) at the end and,
   every ``check_every`` steps, while it relaxes (then with a 1e-3 eps
   threshold, so that a band that has already found a minimum is not relaxed
   to the end); each dip is minimised, and if it is a new minimum the pair is
   split into elementary double wells A-M1, M1-M2, ..., Mk-B, each run again
   through steps 2-3 (``split_depth`` levels deep; new rows carry ``parent`` and
   ``origin = "split"``), or marked ``status = "non_dw"`` beyond that depth
   (Mocanu et al. (2023), "Microscopic observation of TLS in a metallic glass
   model", Sec. II.D).  A band without a barrier above its upper end is
   ``non_dw`` too;
4. an elementary path gives one row: splitting quantities for every unit preset
   (:func:`tlsfinder.splitting.analyse_mep`), d (Eq. 7) and PR (Eq. 16 of the
   same paper) of the pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from .. import TLSFinderError
from ..geometry import displacements, participation_ratio, rms_distance
from ..splitting import MEP, analyse_mep
from .band import Band, intermediate_minima, run_neb
from .forcefield import BatchForceField
from .minima import Minimum, align, minimize, same_minimum
from .settings import NEBSettings

log = logging.getLogger(__name__)


@dataclass
class PairResult:
    """One pair (input or from a split) and what the NEB made of it."""

    pair_id: str
    parent: str
    origin: str  # "input" or "split"
    status: str  # "dw", "split", "non_dw", "unconverged", "same_minimum"
    pos_a: np.ndarray
    pos_b: np.ndarray  # aligned to pos_a
    e_a: float
    e_b: float
    band: Band | None
    row: dict = field(default_factory=dict)


def _check_endpoints(pos_a, pos_b, species, box, where: str):
    a = np.asarray(pos_a, dtype=float)
    b = np.asarray(pos_b, dtype=float)
    n = len(species)
    if a.shape != (n, 3) or b.shape != (n, 3):
        raise TLSFinderError(f"{where}: endpoints have shapes {a.shape} and {b.shape}; expected ({n}, 3) "
                             "(different particle counts?)")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise TLSFinderError(f"{where}: endpoint positions are not finite")
    if np.abs(displacements(a, b, box)).max() < 1e-10:
        raise TLSFinderError(f"{where}: the two endpoints are identical configurations")
    return a, b


def neb_pair(model, box, species, pos_a, pos_b, settings: NEBSettings | None = None, presets=(),
             pair_id: str = "pair", splitting_options: dict | None = None, init=None) -> list[PairResult]:
    """NEB between two configurations of one glass: minimise both ends, relax the band,
    split at intermediate minima, analyse every elementary double well.

    Returns one :class:`PairResult` per pair considered: the input pair first, then
    any elementary sub-pairs (``origin = "split"``).  ``presets``: unit presets
    for the splitting columns; ``splitting_options``: keyword arguments for
    :func:`tlsfinder.splitting.analyse_mep` (n_xi, continuation, ...);
    ``init``: a starting band (n_images, N, 3) for the input pair, its ends
    replaced by the minimised, aligned endpoints (default: linear interpolation;
    sub-pairs always start linear).
    """
    settings = settings or NEBSettings()
    box = np.asarray(box, dtype=float)
    species = model.check_species(species, f"pair {pair_id}: species")
    a, b = _check_endpoints(pos_a, pos_b, species, box, f"pair {pair_id}")
    ff = BatchForceField(model, box, species, skin=settings.skin)
    ma = minimize(ff, a, settings.endpoint_ftol)
    mb = minimize(ff, b, settings.endpoint_ftol)
    for m, name in ((ma, "A"), (mb, "B")):
        if not m.converged:
            log.warning("pair %s: endpoint %s minimised only to max|F| = %.2e (asked %.1e)", pair_id, name,
                        m.fmax, settings.endpoint_ftol)
    splitter = ElementaryWellSplitter(ff, box, settings, list(presets), dict(splitting_options or {}))
    return splitter.split(ma, mb, pair_id, "", "input", 0, init=init)


class ElementaryWellSplitter:
    """Relaxes the band between two minima and splits the pair at the new minima the band
    passes through into elementary double wells, recursively (steps 2-4 of the module
    docstring); ``presets`` and ``sopts`` (keyword arguments of :func:`analyse_mep`) give the
    splitting columns of each elementary well."""

    def __init__(self, ff: BatchForceField, box, settings: NEBSettings, presets, sopts):
        self.box, self.ff = box, ff
        self.s, self.presets, self.sopts = settings, presets, sopts

    def new_minima(self, band_images, energies, known, tol):
        """Minimise from the band's intermediate dips; return [(image index, Minimum)] of new minima."""
        found = []
        for k in intermediate_minima(energies, tol):
            m = minimize(self.ff, band_images[k], self.s.endpoint_ftol)
            if any(same_minimum(m.positions, q, self.box, self.s.same_min_tol) for q in known):
                continue
            if any(same_minimum(m.positions, q.positions, self.box, self.s.same_min_tol) for _, q in found):
                continue
            found.append((k, m))
        return found

    def split(self, ma: Minimum, mb: Minimum, pair_id, parent, origin, depth, init=None) -> list[PairResult]:
        """Rows of the pair ma-mb (``depth`` splits below the input pair) and of its elementary sub-pairs."""
        s = self.s
        b_al, shift = align(ma.positions, mb.positions, self.box)
        base = dict(pair_id=pair_id, parent=parent, origin=origin, e_A=ma.energy, e_B=mb.energy,
                    translation_removed=shift)
        disp = b_al - ma.positions
        base.update(d=rms_distance(disp), total_displacement=float(np.sqrt(np.sum(disp * disp))),
                    PR=participation_ratio(disp))
        if same_minimum(ma.positions, b_al, self.box, s.same_min_tol):
            row = {**base, "status": "same_minimum", "neb_converged": False, "neb_steps": 0, "force_calls": 0,
                   "n_intermediate": 0}
            return [PairResult(pair_id, parent, origin, "same_minimum", ma.positions, b_al, ma.energy, mb.energy,
                               None, row)]
        known = [ma.positions, b_al]
        early: list = []

        def monitor(step, energies, images):
            # Only look for dips deeper than the band's own force noise.
            found = self.new_minima(images, energies, known, max(s.intermediate_tol, 1e-3))
            if found:
                early.extend(found)
                log.info("pair %s: intermediate minimum at step %d (images %s): splitting", pair_id, step,
                         [k for k, _ in found])
                return True
            return False

        if init is not None:
            init = np.array(init, dtype=float)
            if init.ndim != 3 or init.shape[1:] != ma.positions.shape:
                raise TLSFinderError(
                    f"pair {pair_id}: starting band of shape {init.shape} does not match the endpoints")
            # Put the band next to A (minimum image, per image) and pin its ends.
            init = np.array([align(ma.positions, x, self.box, remove_translation=False)[0] for x in init])
            init[0], init[-1] = ma.positions, b_al
        band = run_neb(self.ff, ma.positions, b_al, s, init=init,
                       monitor=monitor if depth < s.split_depth else None)
        found = early or self.new_minima(band.images, band.energies, known, s.intermediate_tol)
        row = {**base, "neb_converged": band.converged, "neb_steps": band.steps, "force_calls": band.force_calls,
               "fmax": band.fmax, "n_images": len(band.energies), "saddle_image": band.climb_index,
               "neb_wall_s": band.wall_time, "n_intermediate": len(found)}
        if found:
            status = "split" if depth < s.split_depth else "non_dw"
            res = [PairResult(pair_id, parent, origin, status, ma.positions, b_al, ma.energy, mb.energy, band,
                              {**row, "status": status})]
            if status == "split":
                chain = [ma] + [m for _, m in sorted(found, key=lambda km: km[0])]
                chain.append(Minimum(b_al, mb.energy, mb.fmax, mb.converged, 0))
                for n in range(len(chain) - 1):
                    res += self.split(chain[n], chain[n + 1], f"{pair_id}.{n + 1}", pair_id, "split", depth + 1)
            return res
        if not band.converged:
            return [PairResult(pair_id, parent, origin, "unconverged", ma.positions, b_al, ma.energy, mb.energy,
                               band, {**row, "status": "unconverged"})]
        e = band.energies
        if e[1:-1].max() - max(e[0], e[-1]) <= s.intermediate_tol:
            # No barrier above the upper minimum: not a double well.
            return [PairResult(pair_id, parent, origin, "non_dw", ma.positions, b_al, ma.energy, mb.energy, band,
                               {**row, "status": "non_dw"})]
        mep = MEP(band.s, band.energies, source=f"pair {pair_id}")
        try:
            row.update(analyse_mep(mep, self.presets, **self.sopts))
            status = "dw"
        except TLSFinderError as exc:
            log.warning("pair %s: no splitting (%s)", pair_id, exc)
            status = "non_dw"
        row["status"] = status
        return [PairResult(pair_id, parent, origin, status, ma.positions, b_al, ma.energy, mb.energy, band, row)]
