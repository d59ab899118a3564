"""Marks the functions students write, so the self-checks and the release tool can find them.

``@exercise(unit=..., section=...)`` records where the notebook explains the function. It returns the
function itself, unwrapped: what the student writes is exactly what runs.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    name: str      # the function's name, e.g. "gd_update"
    module: str    # the module inside the package, e.g. "gd"
    unit: str      # the notebook folder, e.g. "01_gradient_descent"
    section: str   # the notebook section that explains it


EXERCISES: dict[str, Exercise] = {}


def exercise(*, unit: str, section: str):
    """Register the decorated function as an exercise of ``unit``, explained in ``section``."""

    def register(fn):
        module = fn.__module__.rpartition(".")[2]
        EXERCISES[fn.__name__] = Exercise(fn.__name__, module, unit, section)
        return fn

    return register
