"""The rules, one module per rule. ``ALL`` is their fixed order; ids are contracts (docs/lint.md)."""

from __future__ import annotations

from rollsafe.lint.rules import (
    grace_period_too_short,
    healthcheck_setting_out_of_range,
    keepalive_shorter_than_idle_timeout,
    liveness_equals_readiness,
    max_unavailable_whole_fleet,
    missing_prestop_delay,
    missing_readiness_probe,
    prestop_exceeds_grace_period,
    prestop_shorter_than_deregistration_lag,
    readiness_gate_impossible,
    readiness_gate_not_enabled,
    rollout_outpaces_target_registration,
)

MODULES = (
    missing_readiness_probe,
    missing_prestop_delay,
    prestop_exceeds_grace_period,
    grace_period_too_short,
    prestop_shorter_than_deregistration_lag,
    readiness_gate_not_enabled,
    readiness_gate_impossible,
    rollout_outpaces_target_registration,
    healthcheck_setting_out_of_range,
    max_unavailable_whole_fleet,
    liveness_equals_readiness,
    keepalive_shorter_than_idle_timeout,
)
