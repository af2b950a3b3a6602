"""rollsafe: will a Kubernetes rolling update drop requests behind an AWS ALB, why, and what fixes it."""

__version__ = "0.1.0"
