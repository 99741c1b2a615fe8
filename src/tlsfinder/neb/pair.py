"""One pair of minima: endpoints, band, intermediate minima, elementary double wells.

:func:`neb_pair` is the NEB step for one pair (the rows of the DW table, see
:mod:`tlsfinder.neb.batch`):

1. both endpoints are re-minimised tightly with our own energy function
   (L-BFGS, then Newton steps with the analytic Hessian down to max |F| <=
   ``endpoint_ftol``), and B is aligned to A by the minimum image convention
   (so no particle jumps across the box along the path) with the rigid
   translation between them removed (zero mode: it would only lengthen the path);
2. the band is the linear interpolation, relaxed by :func:`run_neb` until
   ``fmax`` or ``max_steps``, and, if it has not converged, up to ``retries``
   times more from the last band with FIRE restarted
   (:func:`~tlsfinder.neb.band.relax_band`); a band that still does not converge is
   recorded with ``status = "unconverged"`` and no splitting is computed from it;
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
   same paper) of the pair;
5. refinement (``neb.refine``): a double well whose splitting E lies below
   ``refine_kT_factor`` k_B T_Q of some preset (the TLS and the wells next to the
   threshold) is relaxed again from its converged band to ``refine_fmax``, then
   with the image intervals halved (n -> 2n - 1, spline midpoints added) until
   E and Delta_0 of those presets and d_path change by less than ``refine_rtol``
   between the last two bands (or the next band would exceed
   ``refine_max_images``).  The splitting columns and path files are those of the
   last band.  Why both: on a KA2 N = 300 double well (32 images) E changed by
   0.07 % and Delta_0 (NiP units) by 0.9 % from fmax 1e-3 to 3e-4 and by <= 0.02 %
   from 3e-4 to 3e-5, and by 0.2 % and 0.8 % from 32 to 64 images at 1e-4; on
   others 32 -> 63 images moved E by up to 6 %, through the wells' curvature at the
   minima, which the spline of V through the images resolves slowly.  It now comes from the
   Hessian (``neb.end_curvature``, :mod:`tlsfinder.splitting`): on 26 KA2 wells (N = 300)
   refined 32 -> 63 images at fmax 3e-4, E moved by 0.3 % at most below 3 k_B T_Q and by
   2 % at most elsewhere.  The climbing image of the last band is checked to be a
   first-order saddle (:func:`~tlsfinder.neb.minima.saddle_check`).

Statuses: ``dw`` (an elementary double well, with splitting columns);
``split`` (connected through intermediate minima, sub-pairs follow);
``unconverged`` (the band did not reach ``fmax`` in 1 + ``retries`` runs of
``max_steps``; never analysed); ``same_minimum``; ``non_dw`` with the column
``reason``: ``endpoint_not_minimum`` (an input endpoint is not a minimum: its
minimisation moved it by more than ``same_min_tol``, no NEB is run; or the
converged band falls from an end), ``no_barrier`` (no image rises more than
``intermediate_tol`` above the upper end), ``split_depth`` (intermediate minima
beyond ``split_depth``), ``no_splitting`` (the 1D problem could not be solved).

Row columns added here besides those of :mod:`tlsfinder.neb.batch`:
``neb_attempts`` (runs of ``max_steps`` the band needed, retries included),
``reason`` (``non_dw`` only) and, for refined double wells, ``refined`` (the
splitting columns come from a refined band), ``refine_status`` (``converged``:
the last change is below ``refine_rtol``; ``max_images``: it is not, at the image
limit; ``unconverged``, ``intermediate_minimum``, ``no_barrier``,
``no_splitting``, ``spline_dip`` (the spline through the energies dips below an end, where
images bunched at a minimum): the level that ended it), ``refine_levels``, ``refine_fmax``,
``refine_force_calls`` (also counted in ``force_calls``), ``n_negative``
(negative Hessian eigenvalues at the final climbing image; 1 for a first-order
saddle), and the relative changes between the last two levels
``d_path_tol_change``, ``E_tol_change_<preset>``, ``Delta_0_tol_change_<preset>``
(|new - old| / |new|) and ``Delta_tol_change_<preset>`` (|new - old| / E, since
Delta may cross zero).  (``E_rel_change_<preset>`` is another thing: the grid
convergence of the 1D problem, :mod:`tlsfinder.splitting`.)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from .. import TLSFinderError
from ..geometry import displacements, participation_ratio, rms_distance
from ..splitting import MEP, analyse_mep
from .band import Band, insert_midpoints, intermediate_minima, relax_band
from .forcefield import BatchForceField
from .minima import Minimum, align, end_derivatives, minimize, saddle_check, same_minimum, soft_modes
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
             pair_id: str = "pair", splitting_options: dict | None = None, init=None,
             splitter_factory=None) -> list[PairResult]:
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
    moved = [name for name, x, m in (("A", a, ma), ("B", b, mb))
             if not same_minimum(x, m.positions, box, settings.same_min_tol)]
    if moved:
        # The pair asked for is not a pair of minima: say so rather than run the minima it fell into.
        log.warning("pair %s: endpoint(s) %s are not minima (minimisation moved them)", pair_id, moved)
        row = dict(pair_id=pair_id, parent="", origin="input", status="non_dw", reason="endpoint_not_minimum",
                   e_A=ma.energy, e_B=mb.energy, neb_converged=False, neb_steps=0, force_calls=0, n_intermediate=0)
        return [PairResult(pair_id, "", "input", "non_dw", a, b, ma.energy, mb.energy, None, row)]
    # splitter_factory: a subclass of ElementaryWellSplitter (the workflow's batches skip sub-pairs
    # computed elsewhere), called with the same arguments
    splitter = (splitter_factory or ElementaryWellSplitter)(ff, box, settings, list(presets),
                                                            dict(splitting_options or {}))
    return splitter.split(ma, mb, pair_id, "", "input", 0, init=init)


class ElementaryWellSplitter:
    """Relaxes the band between two minima and splits the pair at the new minima the band
    passes through into elementary double wells, recursively (steps 2-4 of the module
    docstring); ``presets`` and ``sopts`` (keyword arguments of :func:`analyse_mep`) give the
    splitting columns of each elementary well."""

    def __init__(self, ff: BatchForceField, box, settings: NEBSettings, presets, sopts):
        self.box, self.ff = box, ff
        self.s, self.presets, self.sopts = settings, presets, sopts

    def path_ends(self, images, modes: dict) -> tuple[tuple | None, dict]:
        """The band's ends for :class:`MEP` (``ends``: V'' and V''' outward at both minima, or
        None) and their row columns, by ``settings.end_curvature``.  ``modes`` caches the soft
        modes of each end (keys 0 and -1) between the levels of a refinement."""
        if self.s.end_curvature != "hessian":
            return None, {"end_curvature": "spline"}
        out = []
        for end, nxt in ((0, 1), (-1, -2)):
            if end not in modes:
                modes[end] = soft_modes(self.ff.model, images[end], self.box, self.ff.species)
            out.append(end_derivatives(self.ff.model, images[end], images[nxt] - images[end], self.box,
                                       self.ff.species, modes=modes[end]))
        if None in out:  # no soft mode along the band at an end: keep the spline's
            return None, {"end_curvature": "spline"}
        (k0, t0, o0), (k1, t1, o1) = out
        cols = {"end_curvature": "hessian", "k_start": k0, "t3_start": t0, "k_end": k1, "t3_end": t1,
                "end_overlap": min(o0, o1)}
        return ((k0, t0), (k1, t1)), cols

    def analyse(self, band: Band, pair_id, modes: dict) -> dict:
        """The splitting columns of a converged elementary band (:func:`analyse_mep`)."""
        ends, cols = self.path_ends(band.images, modes)
        row = analyse_mep(MEP(band.s, band.energies, source=f"pair {pair_id}", ends=ends), self.presets, **self.sopts)
        return {**row, **cols}

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
        # Monitored at every depth: at the depth limit a band with an intermediate minimum is
        # non_dw whatever follows, so it stops at the first check instead of running max_steps
        # (a PSS band that had exploded, fmax 17, once ran 4 x 3000 steps, 705 s, to that end).
        band = relax_band(self.ff, ma.positions, b_al, s, init=init, monitor=monitor)
        found = early or self.new_minima(band.images, band.energies, known, s.intermediate_tol)
        row = {**base, "neb_converged": band.converged, "neb_steps": band.steps, "force_calls": band.force_calls,
               "fmax": band.fmax, "n_images": len(band.energies), "saddle_image": band.climb_index,
               "neb_wall_s": band.wall_time, "n_intermediate": len(found), "neb_attempts": band.attempts}

        def result(status, band, row, reason=None):
            row = {**row, "status": status}
            if reason:
                row["reason"] = reason
            return PairResult(pair_id, parent, origin, status, ma.positions, b_al, ma.energy, mb.energy, band, row)

        if found:
            if depth >= s.split_depth:
                return [result("non_dw", band, row, "split_depth")]
            res = [result("split", band, row)]
            chain = [ma] + [m for _, m in sorted(found, key=lambda km: km[0])]
            chain.append(Minimum(b_al, mb.energy, mb.fmax, mb.converged, 0))
            for n in range(len(chain) - 1):
                res += self.split(chain[n], chain[n + 1], f"{pair_id}.{n + 1}", pair_id, "split", depth + 1)
            return res
        if not band.converged:
            return [result("unconverged", band, row)]
        reason = _not_a_double_well(band.energies, s.intermediate_tol)
        if reason:
            return [result("non_dw", band, row, reason)]
        modes: dict = {}
        try:
            row.update(self.analyse(band, pair_id, modes))
        except TLSFinderError as exc:
            log.warning("pair %s: no splitting (%s)", pair_id, exc)
            return [result("non_dw", band, row, "no_splitting")]
        if s.refine and self.near_threshold(row):
            band, row = self.refine(ma.positions, b_al, band, row, known, pair_id, modes)
        else:
            row["refined"] = False
        return [result("dw", band, row)]

    def near_threshold(self, row) -> list[str]:
        """Presets in which the splitting lies below ``refine_kT_factor`` k_B T_Q."""
        f = float(self.s.refine_kT_factor)
        return [p.name for p in self.presets if row.get(f"E_{p.name}", np.inf) < f * p.kT_Q]

    def refine(self, pos_a, pos_b, band: Band, row: dict, known, pair_id,
               modes: dict | None = None) -> tuple[Band, dict]:
        """Step 5 of the module docstring: the band and row of the refined path.

        Level 1 relaxes the converged band further, to min(refine_fmax, fmax); each
        further level halves the image intervals (n -> 2n - 1: the images kept, a
        cubic-spline midpoint added between each two, :func:`insert_midpoints`) and
        relaxes again, until E and Delta_0 (presets near the threshold) and d_path
        change by less than ``refine_rtol`` between the last two levels, or the next
        band would have more than ``refine_max_images`` images.  A level that does not converge
        or shows an intermediate minimum or no barrier ends the refinement; the
        row then keeps the last good band.
        """
        s = self.s
        fmax = min(float(s.refine_fmax), float(s.fmax))
        watch = self.near_threshold(row)
        levels = [(band, row)]
        calls = steps = 0
        wall = 0.0
        status = "max_images"
        n = len(band.images)
        while True:
            n_next = n if len(levels) == 1 else 2 * n - 1
            if len(levels) > 1 and n_next > int(s.refine_max_images):
                break
            # No retries here: a band that will not reach the tighter tolerance in max_steps keeps
            # the last good level.  17 of 44 KA2 wells (N = 300) stopped so at some level; a retry
            # (FIRE restarted) left the one tried short of fmax 3e-4 after 2 x 3000 steps too.
            rs = replace(s, fmax=fmax, n_images=n_next, retries=0)
            prev = levels[-1][0].images
            cur = relax_band(self.ff, pos_a, pos_b, rs, init=prev if n_next == n else insert_midpoints(prev))
            calls, steps, wall = calls + cur.force_calls, steps + cur.steps, wall + cur.wall_time
            # a level can take minutes: say so as it ends, not only when the pair does
            log.info("pair %s: refinement level %d, %d images to fmax %.1e: %s after %d steps (%.0f s)", pair_id,
                     len(levels), n_next, fmax, "converged" if cur.converged else "unconverged", cur.steps,
                     cur.wall_time)
            if not cur.converged:
                status = "unconverged"
                break
            if self.new_minima(cur.images, cur.energies, known, s.intermediate_tol):
                status = "intermediate_minimum"
                break
            if _not_a_double_well(cur.energies, s.intermediate_tol):
                status = "no_barrier"
                break
            try:
                an = self.analyse(cur, pair_id, {} if modes is None else modes)
            except TLSFinderError as exc:
                log.warning("pair %s: refined band gives no splitting (%s)", pair_id, exc)
                status = "no_splitting"
                break
            if an["n_interior_minima"] and not levels[-1][1].get("n_interior_minima"):
                # The spline dips below an end: images bunched at a minimum (seen at 63 images on a
                # KA2 well, E 25x too small), not a better band.
                status = "spline_dip"
                break
            levels.append((cur, an))
            n = n_next
            if len(levels) >= 3 and _max_change(levels[-2][1], an, watch) <= s.refine_rtol:
                status = "converged"
                break
        last_band, last = levels[-1]
        out = {**row, **last} if len(levels) > 1 else dict(row)
        out.update(refined=len(levels) > 1, refine_status=status, refine_levels=len(levels) - 1,
                   refine_fmax=fmax, refine_force_calls=calls,
                   neb_steps=row["neb_steps"] + steps, force_calls=row["force_calls"] + calls,
                   neb_wall_s=row["neb_wall_s"] + wall, fmax=last_band.fmax, n_images=len(last_band.images),
                   saddle_image=last_band.climb_index)
        if len(levels) >= 3:
            out.update(_changes(levels[-2][1], last, self.presets))
        sc = saddle_check(self.ff.model, last_band.images[last_band.climb_index], self.box, self.ff.species)
        out["n_negative"] = sc["n_negative"]
        if sc["n_negative"] != 1:
            log.warning("pair %s: refined climbing image has %d negative Hessian eigenvalues", pair_id,
                        sc["n_negative"])
        log.info("pair %s: refined (%s, %d levels, %d force calls)", pair_id, status, len(levels) - 1, calls)
        return last_band, out


def _not_a_double_well(energies, tol: float) -> str | None:
    """Why a converged elementary band is no double well, or None: an end is not a minimum
    (the band falls from it: its neighbouring image lies more than ``tol`` below it), or
    no image rises more than ``tol`` above the upper end (no barrier)."""
    e = np.asarray(energies, dtype=float)
    if e[1] < e[0] - tol or e[-2] < e[-1] - tol:
        return "endpoint_not_minimum"
    if e[1:-1].max() - max(e[0], e[-1]) <= tol:
        return "no_barrier"
    return None


def _changes(old: dict, new: dict, presets) -> dict:
    """Relative changes between two analyses of one double well: E and Delta_0 per preset
    (|new - old| / |new|), Delta per preset relative to E (Delta may cross zero), d_path."""
    out = {"d_path_tol_change": abs(new["d_path"] - old["d_path"]) / new["d_path"]}
    for p in presets:
        e = f"E_{p.name}"
        out[f"E_tol_change_{p.name}"] = abs(new[e] - old[e]) / abs(new[e])
        out[f"Delta_tol_change_{p.name}"] = abs(new[f"Delta_{p.name}"] - old[f"Delta_{p.name}"]) / abs(new[e])
        d0 = f"Delta_0_{p.name}"
        out[f"Delta_0_tol_change_{p.name}"] = abs(new[d0] - old[d0]) / abs(new[d0]) if new[d0] else float("nan")
    return out


def _max_change(old: dict, new: dict, watch) -> float:
    """Largest relative change of E and Delta_0 (presets ``watch``) and d_path."""
    ch = [abs(new["d_path"] - old["d_path"]) / new["d_path"]]
    for name in watch:
        for q in ("E", "Delta_0"):
            a, b = old[f"{q}_{name}"], new[f"{q}_{name}"]
            ch.append(abs(b - a) / abs(b) if b else (0.0 if a == b else np.inf))
    return float(max(ch))
