"""Exploration protocols: how one quench interval of tau_cg is searched for changes of IS.

Each protocol is a small class behind one interface, :meth:`Protocol.step_interval`, chosen
by name with :func:`get_protocol` (``explore.protocol`` in the config), the way ASE picks an
NEB method by name.  A protocol drives an :class:`tlsfinder.explore.Explorer` through its
``run_md``, ``quench`` and ``record`` methods and never touches the MD trajectory otherwise,
so every protocol follows the same trajectory bit for bit; they differ only in which
configurations get quenched.

``every_step``
    quench after every MD step: finds every transition, costs one quench per step
    (the reference of ``benchmarks/explore.py``).
``fixed``
    quench every tau_cg only (the production protocol of Mocanu et al. (2023),
    "Microscopic observation of TLS in a metallic glass model", Sec. II.D, with Table I's
    tau_cg of 2 to 43 dt): misses hops that go and come back within tau_cg.  The protocol
    that reproduces their Table I (``config/ka2_paper.yaml`` uses it).
``bisect`` (default)
    quench every tau_cg and locate every change inside the interval from stored MD
    snapshots (:class:`Bisect`).  It records the short excursions ``fixed`` misses, so
    on the same trajectory it counts more transitions and pairs crossed both ways than
    Table I's protocol (``benchmarks/protocol_parity.py``).
"""

from __future__ import annotations

import numpy as np

from . import TLSFinderError
from .geometry import displacements


class Protocol:
    """One way of exploring a quench interval; stateless, so one instance serves any explorer."""

    name = ""
    #: Quenches expected to end in a known IS may stop at ``loose_ftol`` (``Explorer.quench``).
    shortened_quenches = False

    def step_interval(self, ex, setup: bool) -> None:
        """Run the ``steps_per_interval`` MD steps of one interval on explorer ``ex`` and record the
        changes of IS found.  ``setup``: the interval starts at a LAMMPS set-up (``setup_period``)."""
        raise NotImplementedError


class EveryStep(Protocol):
    """Quench after every MD step."""

    name = "every_step"

    def step_interval(self, ex, setup: bool) -> None:
        eng = ex.engine
        for step in range(ex.s.steps_per_interval):
            ex.run_md(1, first=setup and step == 0)
            k = ex.quench(eng.get_positions(), eng.timestep, ex.current)
            if k is not None:
                ex.record(eng.timestep, k)


class Fixed(Protocol):
    """Quench at the end of each interval only."""

    name = "fixed"

    def step_interval(self, ex, setup: bool) -> None:
        eng = ex.engine
        ex.run_md(ex.s.steps_per_interval, first=setup)
        k = ex.quench(eng.get_positions(), eng.timestep, ex.current)
        if k is not None:
            ex.record(eng.timestep, k)


class _Frames:
    """MD snapshots of one interval, indexed like a list of (timestep, unwrapped positions)."""

    def __init__(self, engine, t0: int, raw: list):
        self.engine, self.t0, self.raw = engine, t0, raw

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, m):
        if isinstance(m, slice):
            return [self[k] for k in range(*m.indices(len(self)))]
        m = m % len(self.raw)
        return self.t0 + m, self.engine.unwrap(*self.raw[m])


class Bisect(Protocol):
    """Quench every tau_cg and locate every change inside the interval.

    MD snapshots of the interval are kept in memory, and (a) when the IS at both ends differ, the
    interval is bisected by quenching stored snapshots until every change is located to one MD
    step, recovering the IS visited in between; (b) the trajectory recrosses the ridge next to a
    change for an MD step or two (IS that persist 1-2 steps, Mocanu et al. (2023), Fig. 3a),
    invisible to a bisection whose ends agree: the ``recross_window`` snapshots either side of
    every located change are quenched too (:meth:`recrossings`); (c) excursions a -> c -> a away
    from any located change are screened (:meth:`excursions`).  Changes between quenched
    snapshots are located by bisection as in (a).  Quenches that only confirm a known IS are
    shortened: they stop at ``loose_ftol`` and are accepted when within ``loose_distance`` of that
    IS; only new IS are converged to ``ftol``.
    """

    name = "bisect"
    shortened_quenches = True

    def step_interval(self, ex, setup: bool) -> None:
        eng, n = ex.engine, ex.s.steps_per_interval
        # raw snapshots are cheap; only the frames that get quenched are unwrapped
        t0 = eng.timestep
        raw = [eng.raw_snapshot()]
        for step in range(n):
            ex.run_md(1, first=setup and step == 0)
            raw.append(eng.raw_snapshot())
        frames = _Frames(eng, t0, raw)
        a = ex.current
        b = ex.quench(frames[-1][1], frames[-1][0], a)
        if b is None:
            return
        known = {0: a, n: b}
        self.locate(ex, frames, known)  # changes between the ends
        k0 = len(known)
        self.excursions(ex, frames, known)  # excursions inside stretches of one IS
        if len(known) > k0:
            self.locate(ex, frames, known)
        for _ in range(3):  # recrossings next to the changes (new changes get their own windows)
            if not self.recrossings(ex, frames, known):
                break
            self.locate(ex, frames, known)
        ks = sorted(known)
        for m in ks[1:]:
            ex.record(t0 + m, known[m])

    @staticmethod
    def locate(ex, frames, known: dict[int, int]) -> None:
        """Bisect between consecutive quenched frames of ``known`` (frame index -> IS id) whose IS
        differ, until every change is located to one MD step (quenched frames are added to ``known``).
        An unconverged quench is left out: that change is then attributed to the later frame."""
        ks = sorted(known)
        stack = [(lo, hi) for lo, hi in zip(ks[:-1], ks[1:])]
        while stack:
            lo, hi = stack.pop()
            if known[lo] == known[hi] or hi - lo <= 1:
                continue
            mid = (lo + hi) // 2
            c = ex.quench(frames[mid][1], frames[mid][0], known[lo])
            if c is not None:
                known[mid] = c
                stack += [(mid, hi), (lo, mid)]

    @staticmethod
    def recrossings(ex, frames, known: dict[int, int]) -> bool:
        """Quench the ``recross_window`` frames either side of every located change not yet quenched.

        Near a change the trajectory sits on the ridge between the two basins and often recrosses it
        for an MD step or two; such frames are indistinguishable by position from their neighbours,
        so they are quenched (mostly shortened quenches confirming an expected IS).  Returns whether
        a new change was found.
        """
        w, n = ex.s.recross_window, len(frames)
        if w <= 0:
            return False
        ks = sorted(known)
        cuts = [hi for lo, hi in zip(ks[:-1], ks[1:]) if known[lo] != known[hi] and hi - lo == 1]
        new = False
        for hi in cuts:
            for m in range(max(1, hi - w), min(n - 1, hi + w)):
                if m in known:
                    continue
                ks = sorted(known)
                before = known[ks[int(np.searchsorted(ks, m)) - 1]]
                c = ex.quench(frames[m][1], frames[m][0], before)
                if c is not None:
                    known[m] = c
                    after = known[ks[int(np.searchsorted(ks, m))]]
                    new = new or c != before or c != after
        return new

    @staticmethod
    def partial_relax(ex, positions: np.ndarray) -> np.ndarray:
        """Positions after ``screen_iterations`` minimiser iterations from ``positions`` (no convergence
        test; :meth:`~tlsfinder.explore.Explorer.relax_steps`: LAMMPS CG, or the package's L-BFGS with
        ``minimizer: lbfgs``)."""
        x, evaluations = ex.relax_steps(positions, int(ex.s.screen_iterations))
        ex.quencher.force_evaluations += evaluations
        ex.counters["quench_force_evaluations"] += evaluations
        return x

    @classmethod
    def excursions(cls, ex, frames, known: dict[int, int]) -> None:
        """Find excursions a -> c -> a between quenched frames that are in the same IS a.

        Screen: every ``screen_stride``-th frame not yet quenched is partially relaxed
        (``screen_iterations`` CG iterations), which removes most of the fast thermal vibration; its
        reference is the IS of the nearest quenched frame before it.  Each particle's displacement
        from its place in the reference is divided by its median over the screened frames (its own
        vibration amplitude; floored at half the median over particles); a frame whose largest ratio
        exceeds ``excursion_ratio``, or whose largest displacement exceeds ``hop_threshold``, is
        flagged: in an excursion the hopping particles sit away from the places where they spend the
        rest of the interval.  The highest-scoring frame of each run of flagged frames is quenched (at
        most ``screen_quenches`` per interval); the caller then bisects the new changes.
        """
        s, n = ex.s, len(frames)
        if s.screen_stride <= 0 or s.screen_quenches <= 0:
            return
        ks = sorted(known)
        ms = [m for m in range(1, n - 1, s.screen_stride) if m not in known]
        if not ms:
            return
        ref_of = {m: known[ks[int(np.searchsorted(ks, m)) - 1]] for m in ms}
        pos = {m: frames[m][1] for m in ms}
        d = np.empty((len(ms), ex.model.n))
        for row, m in enumerate(ms):
            x = cls.partial_relax(ex, pos[m]) if s.screen_iterations > 0 else pos[m]
            u = displacements(ex.lib.positions[ref_of[m]], x, ex.box)
            d[row] = np.sqrt(np.einsum("ij,ij->i", u, u))
        med = np.median(d, axis=0)
        med = np.maximum(med, 0.5 * np.median(med))
        score = np.maximum((d / med).max(axis=1) / s.excursion_ratio, d.max(axis=1) / s.hop_threshold)
        runs: list[list[int]] = []  # runs of consecutive flagged screened frames
        for row in np.nonzero(score > 1.0)[0]:
            if runs and row == runs[-1][-1] + 1:
                runs[-1].append(int(row))
            else:
                runs.append([int(row)])
        peaks = sorted((max(r, key=lambda k: score[k]) for r in runs), key=lambda k: -score[k])
        for row in peaks[: s.screen_quenches]:
            m = ms[row]
            ex.counters["excursion_checks"] += 1
            c = ex.quench(pos[m], frames[m][0], ref_of[m])
            if c is not None:
                known[m] = c


#: The protocols by name, in the order error messages list them.
PROTOCOLS: dict[str, type[Protocol]] = {p.name: p for p in (EveryStep, Fixed, Bisect)}


def get_protocol(name: str) -> Protocol:
    """The exploration protocol called ``name`` (``explore.protocol``)."""
    try:
        return PROTOCOLS[name]()
    except KeyError:
        raise TLSFinderError(f"explore.protocol must be one of {tuple(PROTOCOLS)}, got {name!r}") from None
