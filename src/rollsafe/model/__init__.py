"""Value types only: scenario, causes, timeline events. No I/O, no clocks, no randomness."""
