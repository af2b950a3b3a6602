"""``rollsafe advise``: the cheapest change to the settings a team controls that brings P(any failed request
during a rollout) below a target, judged by a one-sided 95 % upper confidence bound, with its cost and the
patch that applies it.

Modules: ``executor`` (Monte Carlo runs through one interface: a local process pool or Dask), ``stats``
(binomial bounds), ``space`` (the settings searched and their ranges), ``search`` (Optuna over the space),
``report`` (text and JSON), ``patch`` (a manifests patch or the ``--set`` list). Nothing here prints or
picks an exit code: that is cli.py's job.
"""
