"""How the control plane's samplers draw: values that do not depend on how the draws are split into blocks,
the blocks' sizes, and the seeding of a stream one at a time (the compiled build's) against numpy's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rollsafe.control.scheduler import Sampler
from rollsafe.model.dist import Dist, parse_dist
from rollsafe.model.draws import Draws, MixtureDraws
from rollsafe.sim.rng import SeededStreams, seed_sequence_state, stream_seed

SPLITTABLE = [
    {"uniform": [0.5, 3.0]},
    {"exponential": {"mean": 2.0}},
    {"lognormal": {"median": 2.0, "p99": 10.0}},
]
MIXTURE = {
    "mixture": [
        {"weight": 0.9, "lognormal": {"median": 3.0, "p99": 25.0}},
        {"weight": 0.1, "uniform": [60, 150]},
    ]
}


class _Recording:
    """Streams that keep the generators they hand out, to read how far each was drawn."""

    def __init__(self, seed: int) -> None:
        self.streams = SeededStreams(seed)
        self.given: list[np.random.Generator] = []

    def rng(self, name: str) -> np.random.Generator:
        rng = self.streams.rng(name)
        self.given.append(rng)
        return rng


def _drawn_like(rng: np.random.Generator, dist: Dist, sizes: list[int]) -> bool:
    """Whether ``rng`` is where a fresh stream is after drawing blocks of ``sizes``."""
    fresh = SeededStreams(3).rng("api/latency")
    for n in sizes:
        dist.sample(fresh, n)
    return _state(fresh) == _state(rng)


def _state(rng: np.random.Generator) -> tuple[list[int], int, int]:
    state = rng.bit_generator.state
    return state["state"]["state"].tolist(), state["has_uint32"], state["uinteger"]


@pytest.mark.parametrize("spec", SPLITTABLE)
def test_splitting_a_splittable_draw_does_not_change_its_values(spec: dict[str, Any]) -> None:
    """What lets the Sampler size its blocks as it likes: any split gives the values of one big draw."""
    dist = parse_dist(spec)
    whole = dist.sample(SeededStreams(3).rng("api/latency"), 1200).tolist()
    for sizes in ([1] * 40, [16, 32, 64, 128, 256, 256, 256, 192], [3, 250, 7, 500, 1, 439]):
        rng = SeededStreams(3).rng("api/latency")
        assert np.concatenate([dist.sample(rng, n) for n in sizes]).tolist() == whole[: sum(sizes)], sizes


@pytest.mark.parametrize("spec", SPLITTABLE)
def test_a_sampler_hands_out_one_big_draw_whatever_its_block_sizes(spec: dict[str, Any]) -> None:
    dist = parse_dist(spec)
    sampler = Sampler(SeededStreams(3), "api/latency", dist)
    got = [sampler() for _ in range(1500)]  # blocks of 16, 32, 64, 128, then 256s
    assert got == dist.sample(SeededStreams(3).rng("api/latency"), 1500).tolist()
    assert all(type(v) is float for v in got)


@pytest.mark.parametrize("spec", SPLITTABLE)
@pytest.mark.parametrize(
    ("taken", "blocks"),
    [
        (1, [16]),
        (16, [16]),
        (17, [16, 32]),
        (48, [16, 32]),
        (49, [16, 32, 64]),
        (240, [16, 32, 64, 128]),
        (241, [16, 32, 64, 128, 256]),
        (497, [16, 32, 64, 128, 256, 256]),
    ],
)
def test_splittable_blocks_double_from_16_to_256(spec: dict[str, Any], taken: int, blocks: list[int]) -> None:
    """A sampler that hands out a few values draws few more: its stream is where those blocks leave it."""
    dist = parse_dist(spec)
    streams = _Recording(3)
    sampler = Sampler(streams, "api/latency", dist)
    for _ in range(taken):
        sampler()
    (rng,) = streams.given
    assert _drawn_like(rng, dist, blocks)


MIXTURES = [
    MIXTURE,
    {  # a rare tail: most blocks never draw it
        "mixture": [
            {"weight": 0.999, "lognormal": {"median": 3, "p99": 25}},
            {"weight": 0.001, "uniform": [60, 150]},
        ]
    },
    {  # a constant component draws nothing; the last component's values come early
        "mixture": [
            {"weight": 0.2, "exponential": {"mean": 2.0}},
            {"weight": 0.3, "constant": 4.0},
            {"weight": 0.5, "uniform": [1, 2]},
        ]
    },
    {"mixture": [{"weight": 1.0, "lognormal": {"median": 1, "p99": 5}}]},
    {  # many components, several with a share of a few values a block
        "mixture": [
            {"weight": 0.01 * (i + 1), "lognormal": {"median": 1 + i, "p99": 10 + i}} for i in range(10)
        ]
        + [{"weight": 0.45, "uniform": [0, 1]}]
    },
]


@pytest.mark.parametrize("spec", MIXTURES)
@pytest.mark.parametrize("seed", [3, 4])
def test_a_mixture_sampler_hands_out_the_values_of_whole_256_blocks(spec: dict[str, Any], seed: int) -> None:
    """Its blocks are always 256, though its components draw their values only as they are handed out."""
    dist = parse_dist(spec)
    sampler = Sampler(SeededStreams(seed), "api/latency", dist)
    got = [sampler() for _ in range(1100)]
    rng = SeededStreams(seed).rng("api/latency")
    assert got == np.concatenate([dist.sample(rng, 256) for _ in range(5)])[:1100].tolist()
    assert all(type(v) is float for v in got)


def test_a_mixture_sampler_draws_a_components_values_as_they_are_handed_out() -> None:
    """Six values of the body of a 0.999/0.001 mixture: 256 picks and 16 values drawn, not 256 values."""
    dist = parse_dist(MIXTURES[1])
    streams = _Recording(3)
    sampler = Sampler(streams, "api/latency", dist)
    for _ in range(6):
        sampler()
    (rng,) = streams.given
    fresh = SeededStreams(3).rng("api/latency")
    picks = fresh.random(256)
    assert (picks < 0.999).all(), "the test assumes a block of the body only"
    parse_dist({"lognormal": {"median": 3, "p99": 25}}).sample(fresh, 16)
    assert _state(fresh) == _state(rng)


def test_a_constant_never_asks_for_its_stream() -> None:
    streams = _Recording(3)
    sampler = Sampler(streams, "api/latency", Dist.constant(1.5))
    assert [sampler() for _ in range(300)] == [1.5] * 300
    assert streams.given == []


def test_one_streams_seeding_is_numpys_seed_sequence() -> None:
    """The compiled build seeds each stream on its own with this; it must match numpy bit for bit."""
    rng = np.random.default_rng(1)
    entropy = [0, 1, 2**31, 2**32 - 1, 2**32, 2**63, 2**64 - 1]
    entropy += [int(x) for x in rng.integers(0, 2**64, 3000, np.uint64)]
    entropy += [int(x) for x in rng.integers(0, 2**32, 500)]  # one-word integers
    entropy += [stream_seed(s, "api/latency") for s in range(200)]
    for e in entropy:
        assert seed_sequence_state(e) == np.random.SeedSequence(e).generate_state(3, np.uint64).tolist(), e


def test_a_mixtures_cumulative_weights_are_numpys_cumsum() -> None:
    rng = np.random.default_rng(2)
    for n in range(1, 17):
        for _ in range(200):
            weights = rng.dirichlet(np.ones(n)).tolist()
            draws = MixtureDraws([(w, Draws("constant", 1.0, 0.0)) for w in weights])
            assert draws._cum.tolist() == np.cumsum(weights).tolist()
