"""Swap Monte Carlo: exact local energy differences, detailed balance, agreement with LAMMPS and MD."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tlsfinder.engine import Engine
from tlsfinder.models import KA2
from tlsfinder.swap import SwapMC


@pytest.mark.parametrize("fixture", ["ka2_small", "pss_small"])
def test_local_energy_difference_equals_full_recomputation(fixture, request):
    model, pos, _, species = request.getfixturevalue(fixture)
    mc = SwapMC(model, 1.0, np.random.default_rng(0))
    e0 = model.energy(pos, model.box, species)
    rng = np.random.default_rng(1)
    for _ in range(10):
        if model.name == "KA2":
            i = rng.choice(np.nonzero(species == rng.integers(0, 2))[0])
            j = rng.choice(np.nonzero(species == 2)[0])
        else:
            i, j = rng.choice(model.n, 2, replace=False)
        swapped = species.copy()
        swapped[[i, j]] = species[[j, i]]
        full = model.energy(pos, model.box, swapped) - e0
        assert mc.delta_energy(pos, model.box, species, i, j) == pytest.approx(full, rel=1e-9, abs=1e-10)


def test_swap_chain_samples_the_boltzmann_distribution():
    """Five particles, types AAABC on fixed sites: the chain visits the 20 arrangements with Boltzmann weights."""
    model = KA2(n=5, density=0.02)
    angles = np.linspace(0, 2 * np.pi, 6)[:-1]
    centre = model.box / 2
    pos = centre + 0.75 * np.stack([np.cos(angles), np.sin(angles), 0.1 * np.arange(5)], axis=1)
    temperature = 1.5
    arrangements = [(b, c) for b, c in itertools.permutations(range(5), 2)]

    def types_of(b, c):
        t = np.zeros(5, dtype=np.int64)
        t[b], t[c] = 1, 2
        return t

    energies = np.array([model.energy(pos, model.box, types_of(b, c)) for b, c in arrangements])
    exact = np.exp(-(energies - energies.min()) / temperature)
    exact /= exact.sum()
    mc = SwapMC(model, temperature, np.random.default_rng(7))
    species = types_of(0, 1)
    counts = np.zeros(len(arrangements))
    index = {a: k for k, a in enumerate(arrangements)}
    samples = 40000
    for _ in range(samples):
        species, _ = mc.run(pos, model.box, species, 1)
        counts[index[(int(np.nonzero(species == 1)[0][0]), int(np.nonzero(species == 2)[0][0]))]] += 1
    freq = counts / samples
    # correlated samples: allow a generous 6 binomial sigmas with an effective sample size of samples/10
    sigma = np.sqrt(exact * (1 - exact) / (samples / 10))
    assert np.all(np.abs(freq - exact) < 6 * sigma + 1e-3), np.c_[freq, exact]
    assert exact.max() / exact.min() > 3  # the test would be blind on a flat landscape


def test_acceptance_matches_lammps_fix_atom_swap(ka2_small):
    """From the same T = 1.0 state, with positions frozen, LAMMPS fix atom/swap and our moves form the
    same Markov chain: A<->C attempts, then B<->C attempts.  LAMMPS's accepted counts must lie within
    the spread of our chain's counts over independent seeds.  The chains' Metropolis temperature is
    2.0: 4-5 % of the attempts are accepted (0.6-0.8 % at 1.0), a sharper comparison for fewer of
    LAMMPS's attempts, each a full energy evaluation."""
    model, pos, _, species = ka2_small
    temperature, attempts = 2.0, 3000
    with Engine(model, pos, model.box, species) as eng:
        accepted_lmp = []
        for k, (t1, t2) in enumerate([(1, 3), (2, 3)]):
            # no integrator: the atoms stay put, only the swap fix acts
            eng._cmd(f"fix sw{k} all atom/swap 1 {attempts} {101 + k} {temperature} ke no types {t1} {t2}",
                     "run 1 post no")
            assert eng.lmp.numpy.extract_fix(f"sw{k}", 0, 1, 0) == attempts
            accepted_lmp.append(eng.lmp.numpy.extract_fix(f"sw{k}", 0, 1, 1))
            eng._cmd(f"unfix sw{k}")
        np.testing.assert_allclose(eng.get_positions(), pos, atol=1e-12)
    ours = []
    for seed in range(40):
        mc = SwapMC(model, temperature, np.random.default_rng(seed))
        s1, st1 = mc.run(pos, model.box, species, attempts, kind=0)
        _, st2 = mc.run(pos, model.box, s1, attempts, kind=1)
        ours.append([st1.accepted[0], st2.accepted[1]])
    ours = np.array(ours, dtype=float)
    mean, std = ours.mean(axis=0), ours.std(axis=0, ddof=1)
    for k in range(2):
        print(f"kind {k}: LAMMPS accepted {accepted_lmp[k]:.0f} of {attempts}, ours {mean[k]:.1f} +- {std[k]:.1f}")
        assert abs(accepted_lmp[k] - mean[k]) < 4 * std[k] + 1, (k, accepted_lmp[k], mean[k], std[k])
        assert mean[k] > 20  # enough accepted moves for the comparison to mean something


def test_swap_md_and_plain_md_agree_at_high_temperature(ka2_small):
    """At T = 1.0, where plain MD equilibrates, swap MC/MD samples the same mean potential energy."""
    model, pos, vel, species = ka2_small
    temperature, blocks, steps = 1.0, 60, 250

    def run(with_swaps: bool, seed: int):
        mc = SwapMC(model, temperature, np.random.default_rng(seed))
        with Engine(model, pos, model.box, species) as eng:
            eng.thermalize(temperature, seed)
            eng.set_thermostat("nose-hoover", temperature, 0.5)
            means = []
            for b in range(blocks + 4):
                es = []
                for _ in range(steps // 10):
                    eng.run(10, 0.005)
                    if with_swaps:
                        new, _ = mc.run(eng.get_positions(), model.box, eng.get_species(), int(1.75 * model.n))
                        eng.set_species(new)
                    es.append(eng.energy() / model.n)
                if b >= 4:  # discard the first blocks
                    means.append(np.mean(es))
            return np.mean(means), np.std(means, ddof=1) / np.sqrt(len(means))

    (e_md, s_md), (e_sw, s_sw) = run(False, 21), run(True, 22)
    print(f"<e_pot> plain MD {e_md:.5f} +- {s_md:.5f}, swap MC/MD {e_sw:.5f} +- {s_sw:.5f}")
    assert abs(e_md - e_sw) < 4 * np.hypot(s_md, s_sw), (e_md, s_md, e_sw, s_sw)
    assert max(s_md, s_sw) < 0.01  # the comparison is sharp enough to catch a wrong ensemble
