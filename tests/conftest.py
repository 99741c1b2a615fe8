"""Shared fixtures: small, quickly equilibrated KA2 and PSS states (session-scoped)."""

from __future__ import annotations

import numpy as np
import pytest

from tlsfinder.engine import Engine
from tlsfinder.models import KA2, PSS


def _liquid(model, temperature, steps, seed):
    rng = np.random.default_rng(seed)
    species = model.make_species(rng)
    with Engine(model, model.lattice_positions(rng), model.box, species) as eng:
        eng.thermalize(temperature, seed + 1)
        eng.run_nvt(steps, temperature, 0.005)
        return eng.get_positions(), eng.get_velocities(), eng.get_species()


@pytest.fixture(scope="session")
def ka2_small():
    model = KA2(n=300, density=1.35)
    pos, vel, species = _liquid(model, 1.0, 2000, 11)
    return model, pos, vel, species


@pytest.fixture(scope="session")
def pss_small():
    model = PSS(n=300, density=1.0)
    pos, vel, species = _liquid(model, 0.2, 2000, 12)
    return model, pos, vel, species
