"""The one exception tree. Foreign errors are translated once, at the edge that met them."""


class RollsafeError(Exception):
    """Base of every error rollsafe raises on purpose."""


class ScenarioError(RollsafeError):
    """A scenario file or override is malformed; the message names the file and key path."""


class OutputError(RollsafeError):
    """Output could not be written (standard output closed or full, the timeline file). The CLI decides:
    a closed pipe ends quietly, anything else is a message and exit 1."""

    def __init__(self, cause: OSError, what: str = "cannot write the output") -> None:
        super().__init__(f"{what}: {cause.strerror or cause}")
        self.cause = cause
