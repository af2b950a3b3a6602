"""Binomial bounds for P(any failure) from k failed rollouts out of n runs.

The one-sided Clopper-Pearson bound is exact (never below its confidence, unlike the normal
approximation near 0), so "the 95 % upper bound is below 1 %" means what it says even with zero failures.
Pure functions, no randomness.
"""

from __future__ import annotations

import math

CONFIDENCE = 0.95


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (n is at most a few hundred thousand)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    total = 0.0
    for i in range(k + 1):
        total += math.exp(
            math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq
        )
    return min(1.0, total)


def upper_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided upper Clopper-Pearson bound: the p at which P(X <= k) = 1 - confidence."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    alpha = 1.0 - confidence
    if k == 0:
        return float(1.0 - alpha ** (1.0 / n))
    lo, hi = k / n, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if _binom_cdf(k, n, mid) > alpha:
            lo = mid
        else:
            hi = mid
    return float(hi)


def lower_bound(k: int, n: int, confidence: float = CONFIDENCE) -> float:
    """One-sided lower Clopper-Pearson bound."""
    if k <= 0 or n <= 0:
        return 0.0
    return 1.0 - upper_bound(n - k, n, confidence)


def max_failures_allowed(n: int, target: float, confidence: float = CONFIDENCE) -> int:
    """The most failed rollouts out of n whose upper bound is still at or below ``target``; -1 when even
    zero failures are not enough (n too small for the target)."""
    k = -1
    while k + 1 <= n and upper_bound(k + 1, n, confidence) <= target:
        k += 1
    if upper_bound(0, n, confidence) > target:
        return -1
    return max(k, 0)


def runs_needed(target: float, confidence: float = CONFIDENCE) -> int:
    """The fewest runs whose zero-failure upper bound is at or below ``target``: ln(1-c) / ln(1-target)."""
    return math.ceil(math.log(1.0 - confidence) / math.log1p(-target))
