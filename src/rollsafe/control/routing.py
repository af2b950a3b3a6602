"""Routing views: which pods may receive new requests, and from when, as a change log.

One view per ALB node for ``ip`` targets, one per worker node's kube-proxy for ``instance`` targets. A view
is a list of segments: segment i starts at ``times[i]`` and routes to a list of targets until the next
segment starts. A segment lists its targets in ascending order of a key the producer gives (an LB node: the
order the registrations reached it; kube-proxy: the pod index), and a target keeps its key while it is
listed. The data plane joins requests against the segments with ``searchsorted``.

Segments are stored as a change log, not as snapshots: segment i as the targets added (with their key) and
removed since segment i-1. n targets over a rollout of about 6n changes would take 6n snapshots of n
targets each, so quadratic memory; the log grows with the changes only. The data plane rebuilds each
segment's list from the log as it walks (sim/dataplane.py). This module must not know about requests.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True)
class ChangeLog:
    """A view's changes, segment by segment: segment i's are entries ``end[i-1]:end[i]`` (from 0 for the
    first), its removals first, then its additions. Each entry is a target, its key, and whether it was
    added (else removed; the key is the one it was listed by)."""

    pod: list[int]
    key: list[int]
    added: list[bool]
    end: list[int]


class RoutingView:
    def __init__(self, name: str, policy: str) -> None:
        self.name = name
        self.policy = policy  # round_robin | weighted_random | least_outstanding_requests | random
        self.times: list[float] = []  # when each segment starts
        self.fail_open: list[bool] = []  # per segment: is its list the fail-open set
        self.sizes: list[int] = []  # per segment: how many targets it lists
        # every segment's changes, flat, as ChangeLog lays them out. The last segment's entries (from
        # _end[-1], or 0) are written with it; a change at the same instant joining it marks them stale, and
        # they are written again from _before once, when the next segment starts or the log is read.
        self._pod: list[int] = []
        self._key: list[int] = []
        self._added: list[bool] = []
        self._end: list[int] = []  # where each segment but the last ends
        self._keys: dict[int, int] = {}  # the last segment's targets: pod -> key
        # the last segment, still open to a change at the same instant: the key each target it changed had
        # in the segment before (None: not listed there)
        self._before: dict[int, int | None] = {}
        self._stale = False
        self._current: tuple[int, ...] | None = None  # the last segment's list, once asked for

    # -- recording -------------------------------------------------------------------------------------
    def set(
        self,
        t: float,
        targets: Iterable[int],
        *,
        keys: Iterable[int] | None = None,
        fail_open: bool = False,
    ) -> bool:
        """Record that from ``t`` on the view routes to ``targets``, listed in ascending order of ``keys``
        (by default the targets themselves, so then they must ascend); False when nothing changed. O(size)."""
        pods = list(targets)
        ks = pods if keys is None else list(keys)
        if len(ks) != len(pods):
            raise ValueError(f"view {self.name}: {len(pods)} targets but {len(ks)} keys")
        if any(a >= b for a, b in pairwise(ks)):
            raise ValueError(f"view {self.name}: targets must be listed in strictly ascending key order")
        new = dict(zip(pods, ks, strict=True))
        changes: dict[int, int | None] = {p: None for p in self._keys if p not in new}
        changes.update({p: k for p, k in new.items() if self._keys.get(p) != k})
        return self.change(t, changes, fail_open=fail_open)

    def change(self, t: float, changes: Mapping[int, int | None], *, fail_open: bool = False) -> bool:
        """Record that from ``t`` on the view routes to its current targets with ``changes`` applied: each
        target given listed with its key, or dropped (None); False when nothing changed. O(changes). A
        change at the instant of the last one replaces it (the last segment then covers both)."""
        keys = self._keys
        eff: list[tuple[int, int | None, int | None]] = []  # (target, its key before, after): real changes
        for p, k in changes.items():
            was = keys.get(p)
            if was != k:
                if k is not None and was is not None:
                    raise ValueError(f"view {self.name}: target {p} is listed; its key cannot change")
                eff.append((p, was, k))
        times = self.times
        if times and not eff and self.fail_open[-1] == fail_open:
            return False
        if self.times and self.times[-1] == t:
            before = self._before
            for p, was, _ in eff:
                if p not in before:
                    before[p] = was
            self.fail_open[-1] = fail_open
            self._stale = True
        else:
            if times:
                if self._stale:
                    self._rewrite_last()
                self._end.append(len(self._pod))
            self._before = {p: was for p, was, _ in eff}
            times.append(t)
            self.fail_open.append(fail_open)
            self.sizes.append(0)
            # a new segment's net changes are these, removals first
            pods, ks, added = self._pod, self._key, self._added
            for p, was, _ in eff:
                if was is not None:
                    pods.append(p)
                    ks.append(was)
                    added.append(False)
            for p, _, k in eff:
                if k is not None:
                    pods.append(p)
                    ks.append(k)
                    added.append(True)
        for p, _, k in eff:
            if k is None:
                del keys[p]
            else:
                keys[p] = k
        self.sizes[-1] = len(keys)
        self._current = None
        return True

    def _rewrite_last(self) -> None:
        """The last segment's entries again, from ``_before`` and the targets now: its net changes, removals
        first (a target dropped and listed again within the segment is no change)."""
        start = self._end[-1] if self._end else 0
        pods, ks, added = self._pod, self._key, self._added
        del pods[start:], ks[start:], added[start:]
        self._stale = False
        keys = self._keys
        now = [(p, k0, keys.get(p)) for p, k0 in self._before.items()]
        for p, k0, k1 in now:
            if k0 is not None and k1 != k0:
                pods.append(p)
                ks.append(k0)
                added.append(False)
        for p, k0, k1 in now:
            if k1 is not None and k1 != k0:
                pods.append(p)
                ks.append(k1)
                added.append(True)

    # -- reading ---------------------------------------------------------------------------------------
    def log(self) -> ChangeLog:
        """Every segment's changes (a copy)."""
        if self._stale:
            self._rewrite_last()
        end = list(self._end)
        if self.times:
            end.append(len(self._pod))
        return ChangeLog(list(self._pod), list(self._key), list(self._added), end)

    @property
    def current(self) -> tuple[int, ...]:
        """The last segment's targets, in order."""
        if self._current is None:
            self._current = tuple(sorted(self._keys, key=self._keys.__getitem__))
        return self._current

    @property
    def targets(self) -> list[tuple[int, ...]]:
        """Every segment's targets, in order: snapshots, O(size x segments), for tests and small views."""
        return [tuple(listed) for listed in walk(self.log())]


def walk(log: ChangeLog) -> Iterable[list[int]]:
    """Each segment's targets in order, rebuilt from the log one segment after the other. The list yielded
    is the walker's own, changed in place by the next step: copy it to keep it."""
    keys: list[int] = []  # ascending
    pods: list[int] = []  # pods[i] is listed by keys[i]
    start = 0
    for end in log.end:
        for i in range(start, end):
            k = log.key[i]
            if log.added[i]:
                at = bisect_left(keys, k)
                keys.insert(at, k)
                pods.insert(at, log.pod[i])
            else:
                at = bisect_left(keys, k)
                del keys[at]
                del pods[at]
        start = end
        yield pods
