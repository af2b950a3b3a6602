"""Lint: rules over the facts of linked workloads, each yielding findings as data.

Rules live in ``rules/``, one module per rule (a stable kebab-case id, a severity, a docstring with why,
how to fix and PASS/FAIL manifest examples that the tests run). Must not run the simulator (the CLI
composes lint with it for ``--simulate``) and must not decide exit codes.
"""
