"""Named random streams derived from the run's seed with hashlib: adding a stream never changes another."""

from __future__ import annotations

import hashlib

import numpy as np


def stream_seed(seed: int, name: str) -> int:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


class SeededStreams:
    """Implements rollsafe.control.scheduler.Streams. SFC64 is numpy's fastest bit generator here (about
    a quarter faster than PCG64 on the request draws) and passes the usual statistical test batteries."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def rng(self, name: str) -> np.random.Generator:
        return np.random.Generator(np.random.SFC64(stream_seed(self.seed, name)))
