"""The control plane as event-driven components on a Scheduler.

Components here never read a clock, sleep, or draw from a global RNG: time comes from
``Scheduler.now()``, waiting is ``Scheduler.call_at``, randomness is a named stream from ``Streams``.
The same components run on simulated time (``rollsafe.sim``) and could run on a wall clock.
"""
