"""Build the self-check data: for each exercise, its cases, the reference outputs and the mistakes' outputs.

The data ships with the package (``optimlab/check_data/<unit>.json``) so that a student's notebook can check
their code without the reference solution being anywhere in their copy of the course.
"""

from __future__ import annotations

import json
import re

from . import reference
from .exercises import Exercise, units


class CatalogueError(Exception):
    """The catalogue of exercises is inconsistent (a mistake the checks would not name, a failing reference)."""


def spec_header(exercise: Exercise) -> dict:
    """The part of an exercise's check data that does not depend on cases."""
    return {
        "name": exercise.name,
        "module": exercise.module,
        "returns": exercise.returns,
        "diagnose": exercise.diagnose,
        **({"parts": list(exercise.parts)} if exercise.parts else {}),
        **({"shares_inputs": True} if exercise.shares_inputs else {}),
        **({"shares_memory_title": exercise.shares_memory_title} if exercise.shares_memory_title else {}),
        "mistakes": {m.id: {"title": m.title, "explain": m.explain} for m in exercise.mistakes},
    }


def record(exercise: Exercise, cases: list[dict], *, validate: bool = True) -> dict:
    """The check data of ``exercise`` on ``cases``: expected outputs and the outputs of catalogued mistakes.

    Raises :class:`CatalogueError` when the reference fails a case, or (with ``validate``, as for the shipped
    cases) when a catalogued mistake would not be named by the checks. A mistake's output is recorded only where the checks can tell it
    from the expected one, and not when it holds NaN or infinity: the checks report such an output as it is
    ("contains NaN or infinity"), and JSON has no NaN.
    """
    from optimlab.check import collect, difference, run_check

    spec = spec_header(exercise) | {"cases": []}
    ref = reference.function(exercise.module, exercise.name)
    for c in cases:
        observation = collect(ref, c)
        if "expect_error" in c:
            raised = observation.get("error", {}).get("type")
            if raised != c["expect_error"]["type"]:
                raise CatalogueError(f"the reference {exercise.name} should raise {c['expect_error']['type']} on "
                                     f"{c['label']!r}: {observation}")
            spec["cases"].append(dict(c, expected={"raises": raised}, mistakes={}))
            continue
        if "error" in observation or observation["modified"] or observation.get("global_state_dependent"):
            raise CatalogueError(f"the reference {exercise.name} misbehaves on {c['label']!r}: {observation}")
        recorded = dict(c, expected=observation["output"], mistakes={})
        for mistake in exercise.mistakes:
            if mistake.detected_by == "output":
                got = collect(mistake.impl, c)
                if ("output" in got and _finite(got["output"])
                        and difference(recorded["expected"], got["output"], "output", list(exercise.parts)) is not None):
                    recorded["mistakes"][mistake.id] = got["output"]
        spec["cases"].append(recorded)
    for mistake in exercise.mistakes if validate else []:
        _, failure = run_check(spec, mistake.impl, reraise=())
        if f"classic mistake: {mistake.title}." not in (failure or ""):
            raise CatalogueError(f"{exercise.name}: the checks do not name the mistake {mistake.title!r}; "
                                 f"they say:\n{failure}")
    return spec


def _finite(encoded) -> bool:
    """Whether an encoded value holds only finite numbers (JSON can hold it)."""
    try:
        json.dumps(encoded, allow_nan=False)
    except ValueError:
        return False
    return True


def build_unit(unit: str, exercises: list[Exercise]) -> dict:
    return {"unit": unit, "exercises": {e.name: record(e, e.public()) for e in exercises}}


_FLAT_LIST = re.compile(r"\[\s*([^\[\]{}]*?)\s*\]", re.S)


def render(data: dict) -> str:
    """JSON text that is the same, byte for byte, for the same data; lists of plain values stay on one line."""
    text = json.dumps(data, indent=1, ensure_ascii=False)
    return _FLAT_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m[1].split(",")) + "]"
                          if '"' not in m[1] else m[0], text) + "\n"


def build_all() -> dict[str, str]:
    """``{file name: JSON text}`` for every unit."""
    return {f"{unit}.json": render(build_unit(unit, exercises)) for unit, exercises in units().items()}
