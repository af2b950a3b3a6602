"""The one exception tree. Foreign errors are translated once, at the edge that met them."""


class RollsafeError(Exception):
    """Base of every error rollsafe raises on purpose."""


class ScenarioError(RollsafeError):
    """A scenario file or override is malformed; the message names the file and key path."""
