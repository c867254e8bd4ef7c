"""The error every check shares: it could not look at its data."""


class CheckCannotRun(RuntimeError):
    """A check could not look at its data; the run is an error, not a pass or a finding."""
