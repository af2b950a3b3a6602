"""Monte Carlo over seeds behind one executor interface: what a run sends back (RunStats, a few numbers,
no timeline and no per-request data), the Executor protocol, and the local process pool.

It must not render reports or pick exit codes; full detail (timeline, milestones, worst window) comes from
``simulate()`` for the run that is reported, never from here.
"""

from rollsafe.runs.executor import Executor, LocalPool, run_stats
from rollsafe.runs.stats import RunStats, stats_of

__all__ = ["Executor", "LocalPool", "RunStats", "run_stats", "stats_of"]
