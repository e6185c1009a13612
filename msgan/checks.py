"""The two config checks every section uses, with the one wording users see for them.

A leaf shared by msgan.config (the run's sections) and msgan.models (each model's section).
"""
from msgan.errors import MsganError


def choice(path: str, value, choices) -> None:
    if value not in choices:
        raise MsganError(f"config key {path} is {value!r} — use one of {', '.join(map(str, choices))}")


def positive(path: str, value, allow_zero: bool = False) -> None:
    """``None`` (an auto value) passes."""
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise MsganError(f"config key {path} must be {'>= 0' if allow_zero else '> 0'}, "
                         f"got {value}")
