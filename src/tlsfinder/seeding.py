"""One rule for random streams: every random choice derives from the config's ``seed``.

A stream is named by the stage and the item it serves (e.g. ``("prepare",
"T0.617/g3")``); names are turned into integers with a stable hash, so streams
are independent of each other, of the order jobs run in and of Python's hash
randomisation.
"""

from __future__ import annotations

import hashlib

import numpy as np


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def stage_seed_sequence(seed: int, *names: str) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy=int(seed), spawn_key=tuple(_key(str(n)) for n in names))


def stage_rng(seed: int, *names: str) -> np.random.Generator:
    """Generator for the stream ``names`` of the run seeded with ``seed``."""
    return np.random.default_rng(stage_seed_sequence(seed, *names))
