"""Shared fixtures: small, quickly equilibrated KA2 and PSS states (session-scoped)."""

from __future__ import annotations

import os
from pathlib import Path

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


def tiny_pipeline_config() -> dict:
    """The whole pipeline in about a minute: KA2 N = 200, one T_f, two glasses, two loop iterations."""
    return {
        "seed": 7,
        "model": {"name": "KA2", "n": 200},
        "prepare": {"temperatures": [0.7], "n_glasses": 2, "blocks": 60, "record_every": 10, "melt_steps": 300},
        "explore": {"temperature": 0.5, "tau_cg": 0.05, "n_cg": 20, "setup_steps": 200},
        "ml": {"k": 4, "tls_splitting_max": 0.005},
        "neb": {"n_images": 16, "max_steps": 3000},
        "loop": {"max_iter": 2, "min_yield": 0.0, "batch_size": 2, "preset": "Ar"},
    }


# The published labelled data (Ciarella et al., "Finding defects in glasses through machine
# learning", arXiv:2212.05582; repository TLS_ML_exploration) live in shared/ beside the
# repository (a clone in CI too); TLSFINDER_TLSML_DATA points elsewhere.
TLSML_DATA = Path(os.environ.get("TLSFINDER_TLSML_DATA",
                                 Path(__file__).resolve().parents[2] / "shared" / "data" / "tls_ml_exploration"))


def science_columns(df):
    """A table without its timing columns (wall times are provenance, not results)."""
    return df[[c for c in df.columns if "wall" not in c]]
