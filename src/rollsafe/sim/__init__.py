"""Virtual time: the heap Scheduler, seeded streams, the vectorized request evaluator, Monte Carlo."""
