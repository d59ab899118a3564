"""The catalogue of exercises: for each package function students write, the cases it is checked on and the
classic mistakes the checks recognize.

A mistake is written as a small buggy implementation. Mistakes whose ``detected_by`` is ``"output"`` are
recognized because the release records their outputs next to the expected ones; the others (``"check"``) are
recognized by the logic of ``optimlab.check`` itself (an input modified in place, an output sharing memory with an
input, dependence on the global random state, a result that changes with the memory layout of an input, the
structure of mini-batches or of an update's state). Either way, the release refuses to write check data in which a
catalogued mistake would go unnamed.

Optimizer updates are checked on *runs* (:func:`run_case`): several steps with changing gradients, the state
returned by one step passed to the next, and every step's output compared. Learning-rate schedules are runs too:
one call per step ``t``, with nothing carried from one call to the next, so that a whole schedule is compared
and a mistake at one step shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .. import reference

reference.load()


@dataclass(frozen=True)
class Mistake:
    id: str
    title: str                 # what the student is told, e.g. "wrong sign of the update"
    explain: str               # one or two sentences: why it is wrong and what to do instead
    impl: Callable             # a deliberately buggy implementation, same signature as the exercise
    detected_by: str = "output"


@dataclass(frozen=True)
class Exercise:
    name: str
    module: str
    returns: str               # what the function returns, in words: "the new parameter"
    public: Callable[[], list[dict]]                        # the fixed cases shipped to students
    hidden: Callable[[np.random.Generator], list[dict]]     # fresh cases for grading, from a seed
    mistakes: list[Mistake] = field(default_factory=list)
    diagnose: str = ""         # a structural diagnosis of optimlab.check, e.g. "batches"
    points: int = 1
    parts: tuple[str, ...] = ()  # names of the items of a tuple output, e.g. ("the parameter", "state")
    # The outputs' arrays must be the inputs' own arrays (an optimizer over a model's parameters): sharing memory
    # is then right, and an output array that shares memory with no input is the mistake COPIED_PARAMETERS.
    shares_inputs: bool = False
    shares_memory_title: str = ""  # the mistake an output sharing memory with an input is named (default: generic)


def case(label: str, **args) -> dict:
    """A case: a label for messages and the arguments, encoded (arrays as data with their memory layout, rngs as
    seeds)."""
    from optimlab.check import encode_argument

    encoded = {}
    for name, value in args.items():
        if isinstance(value, (Rng, CaseFunction)):
            encoded[name] = value.encode()
        else:
            encoded[name] = encode_argument(value)
    return {"label": label, "args": encoded}


def error_case(label: str, *, error: str = "ValueError", mistake: str, **args) -> dict:
    """A case on which the function must raise ``error`` (the name of an exception class, as the reference does:
    a batch of one in training). A function that raises it passes; one that returns instead is told the classic
    mistake ``mistake`` (the title of one of the exercise's mistakes, whose explanation is shown)."""
    c = case(label, **args)
    c["expect_error"] = {"type": error, "mistake": mistake}
    return c


def run_case(label: str, *, steps: dict[str, list], carry: tuple[str | None, ...] = ("param", "state"),
             step_name: str | None = None, **args) -> dict:
    """A case that runs the function for several steps.

    ``args`` are the arguments of the first call; ``steps`` gives, for each argument that changes, one value per
    step (``steps={"grad": [g1, g2, ...]}``); the outputs of each call become the arguments named by ``carry`` in
    the next call (``(new_param, new_state)`` -> ``param``, ``state``; ``None`` drops an output, as ``(None,
    "running_mean", "running_var")`` drops batch norm's ``y``; ``carry=()``: independent calls). Every
    step's output is compared. ``step_name`` names a step in messages (``"at t = {t}"``: the fields are the
    arguments in ``steps`` and ``step``, the step's number from 1); by default step 5 is "after step 5".
    """
    from optimlab.check import encode_argument

    lengths = {len(values) for values in steps.values()}
    if len(lengths) != 1:
        raise ValueError(f"{label!r}: every argument in steps needs one value per step, got lengths {lengths}")
    c = case(label, **args)
    c["steps"] = {"vary": {name: [encode_argument(v) for v in values] for name, values in steps.items()},
                  "carry": list(carry)}
    if step_name is not None:
        c["steps"]["name"] = step_name
    return c


@dataclass(frozen=True)
class Rng:
    """An argument ``np.random.default_rng(seed)``, rebuilt fresh for every call."""

    seed: int

    def encode(self):
        return {"rng": self.seed}


@dataclass(frozen=True)
class CaseFunction:
    """An argument that is one of the test functions of ``optimlab.check.CASE_FUNCTIONS``; or, with ``kwargs``,
    a fresh ``optimlab.check.CASE_FACTORIES[name](**kwargs)`` for every call (a stateful one, such as a
    simulated training)."""

    name: str
    kwargs: dict | None = None

    def encode(self):
        if self.kwargs is None:
            return {"function": self.name}
        from optimlab.check import encode_argument

        return {"function": self.name, "kwargs": {k: encode_argument(v) for k, v in self.kwargs.items()}}


def units() -> dict[str, list[Exercise]]:
    """Every unit's exercises, in the order the notebooks introduce them."""
    from . import unit01, unit02, unit03, unit04, unit05, unit06, unit07, unit08, unit08_finetune, unit09

    return {
        "01_gradient_descent": unit01.EXERCISES,
        "02_momentum": unit02.EXERCISES,
        "03_adaptive": unit03.EXERCISES,
        "04_adam": unit04.EXERCISES,
        "05_schedules": unit05.EXERCISES,
        "06_regularization": unit06.EXERCISES,
        "07_batchnorm": unit07.EXERCISES,
        "08_training": unit08.SEARCH + unit08_finetune.FINETUNE,
        "09_recurrent": unit09.EXERCISES,
    }
