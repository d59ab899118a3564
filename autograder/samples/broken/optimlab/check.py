"""Self-checks: run your function on small fixed cases and say what is wrong, in words.

In a notebook::

    from optimlab.check import check
    check("gd_update")

runs your current ``gd_update`` on the cases recorded in ``check_data/`` (expected outputs computed from the
reference solution, and the outputs of classic mistakes), and either says that all cases pass or stops with a
message naming the quantity that is wrong, the expected and the obtained values on the smallest failing case and,
when your output matches a classic mistake, that mistake by name.

The work is split in two so that a grader can run the halves in different processes:

- :func:`collect` calls the function on one case and records what happened as plain JSON-able data (the output,
  an exception, which inputs it modified, whether it depended on NumPy's global random state). It never sees the
  expected values.
- :func:`judge` compares such an observation with the expected output and the known mistakes, and returns a
  :class:`Verdict`.

A case may describe a *run* of several steps instead of one call (an optimizer's update function, say): its
``"steps"`` entry gives the arguments that change at each step (``{"vary": {"grad": [g1, g2, ...]}}``) and the
arguments that the outputs of one call feed into the next (``"carry": ["param", "state"]``). :func:`collect` then
calls the function once per step and records the output of every step; :func:`judge` names the first step where
something differs, and what: "the parameter after step 3", "state['exp_avg_sq'] after step 5".
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).with_name("check_data")

#: How many items of a returned iterator are read before giving up (an endless generator is a bug, not a hang).
MAX_ITEMS = 10_000

#: Tolerances by dtype: tight enough that every classic mistake shows, loose enough for a different but
#: correct order of floating-point operations.
TOLERANCES = {"float64": (1e-9, 1e-12), "float32": (1e-5, 1e-6)}


# --------------------------------------------------------------------------------------------------------------
# Functions that cases may pass as arguments (JSON holds their names).


def _cubic_mix(x: np.ndarray) -> float:
    """A smooth test function with cross terms: sum(x^3) + (sum of x * shifted x) + sum(sin x)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return float(np.sum(x**3) + np.sum(x * np.roll(x, 1)) + np.sum(np.sin(x)))


def _exp_quadratic(x: np.ndarray) -> float:
    """exp(x0) plus a quadratic form, for checks on small vectors."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return float(np.exp(x[0]) + 0.5 * np.sum(np.arange(1, x.size + 1) * x**2))


CASE_FUNCTIONS: dict[str, Callable[[np.ndarray], float]] = {
    "cubic_mix": _cubic_mix,
    "exp_quadratic": _exp_quadratic,
}


# --------------------------------------------------------------------------------------------------------------
# Encoding values as JSON and back.


def encode(value: Any) -> Any:
    """Turn an argument or output into JSON-able data; :func:`decode` turns argument encodings back."""
    if isinstance(value, np.ndarray):
        return {"array": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return encode(value.item())
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, (list, tuple)):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": {str(k): encode(v) for k, v in value.items()}}
    return {"unsupported": type(value).__name__}


def decode(data: Any) -> Any:
    """Rebuild an argument from its encoding: arrays, rngs (``{"rng": seed}``), case functions, tuples, dicts."""
    if isinstance(data, dict):
        if "array" in data:
            return np.array(data["array"], dtype=np.dtype(data["dtype"])).reshape(data["shape"])
        if "rng" in data:
            return np.random.default_rng(data["rng"])
        if "function" in data:
            return CASE_FUNCTIONS[data["function"]]
        if "float" in data:
            return float(data["float"])
        if "tuple" in data:
            return tuple(decode(v) for v in data["tuple"])
        if "dict" in data:
            return {k: decode(v) for k, v in data["dict"].items()}
        raise ValueError(f"cannot decode {data!r}")
    return data


def _observe_output(value: Any) -> Any:
    """Encode an output; iterators and generators are read into a sequence (at most MAX_ITEMS items)."""
    if isinstance(value, Iterator):
        items = []
        for item in value:
            if len(items) == MAX_ITEMS:
                return {"sequence": [_observe_output(v) for v in items], "truncated": True}
            items.append(item)
        return {"sequence": [_observe_output(v) for v in items]}
    return encode(value)


# --------------------------------------------------------------------------------------------------------------
# Running a function on a case.


def collect(fn: Callable, case: dict, *, reraise: tuple[type[BaseException], ...] = ()) -> dict:
    """Call ``fn(**args)`` on one case and record what happened, without looking at expected values.

    Exceptions of the types in ``reraise`` propagate (the notebook lets a stub's ``NotImplementedError``
    through); any other exception is recorded. If an argument is a random generator, the call is repeated with
    NumPy's global random state set differently, to see whether the output depends on it. A case with
    ``"steps"`` is a run of several calls (see :func:`_run_steps`).
    """
    if "steps" in case:
        return _run_steps(fn, case, reraise=reraise)
    observation = _call(fn, case["args"], reraise=reraise, global_seed=1)
    if "error" not in observation and any(isinstance(a, dict) and "rng" in a for a in case["args"].values()):
        again = _call(fn, case["args"], reraise=reraise, global_seed=2)
        observation["global_state_dependent"] = again.get("output") != observation["output"]
    return observation


def _call(fn: Callable, encoded_args: dict, *, reraise, global_seed: int) -> dict:
    args = {name: decode(value) for name, value in encoded_args.items()}
    return _invoke(fn, args, reraise=reraise, global_seed=global_seed)[0]


def _invoke(fn: Callable, args: dict, *, reraise, global_seed: int) -> tuple[dict, Any]:
    """Call ``fn(**args)``: (the observation, the raw output or None)."""
    before = {name: _fingerprint(a) for name, a in args.items() if isinstance(a, (np.ndarray, dict))}
    rng_states = {n: a.bit_generator.state for n, a in args.items() if isinstance(a, np.random.Generator)}
    saved_global = np.random.get_state()
    np.random.seed(global_seed)  # only to detect code that draws from the global state; restored below
    try:
        with np.errstate(all="ignore"):  # NaN and infinity are reported in words, not as warnings
            raw = fn(**args)
            output = _observe_output(raw)
    except reraise:
        raise
    except Exception as exc:  # a bug in the student's function is an observation, not a crash of the check
        return {"error": {"type": type(exc).__name__, "message": str(exc)[:500]}}, None
    finally:
        np.random.set_state(saved_global)
    return {
        "output": output,
        "modified": sorted(name for name, print_ in before.items() if _fingerprint(args[name]) != print_),
        "rng_untouched": sorted(n for n, st in rng_states.items() if args[n].bit_generator.state == st),
    }, raw


def _fingerprint(value: Any) -> Any:
    """Exactly what an argument holds (NaN equals NaN here), to see whether a call changed it."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return ("dict", tuple((k, _fingerprint(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fingerprint(v) for v in value))
    return ("value", repr(value))


def _run_steps(fn: Callable, case: dict, *, reraise) -> dict:
    """Run ``fn`` for several steps: each step sets the arguments of ``steps["vary"]`` to that step's values;
    the outputs of a step become the arguments ``steps["carry"]`` of the next.

    The observation's output is ``{"steps": [output of step 1, output of step 2, ...]}``; the run stops early
    when a step raises (``error`` gets the step number), modifies an input (``modified_at_step``), or returns
    something that cannot be fed into the next step.
    """
    args = {name: decode(value) for name, value in case["args"].items()}
    plan = case["steps"]
    per_step = {name: [decode(v) for v in values] for name, values in plan["vary"].items()}
    carry = plan["carry"]
    outputs: list = []
    for k in range(len(next(iter(per_step.values())))):
        args.update({name: values[k] for name, values in per_step.items()})
        observation, raw = _invoke(fn, args, reraise=reraise, global_seed=1)
        if "error" in observation:
            observation["error"]["step"] = k + 1
            return observation
        outputs.append(observation["output"])
        if observation["modified"]:
            return {"output": {"steps": outputs}, "modified": observation["modified"], "modified_at_step": k + 1}
        fed = raw if len(carry) > 1 else (raw,)
        if not isinstance(fed, (tuple, list)) or len(fed) != len(carry):
            break
        args.update(zip(carry, fed))
    return {"output": {"steps": outputs}, "modified": [], "rng_untouched": []}


# --------------------------------------------------------------------------------------------------------------
# Comparing an observation with the expected output.


@dataclass
class Verdict:
    passed: bool
    message: str = ""            # what is wrong, in words, on this case
    mistake: str | None = None   # the title of the classic mistake it matches, if any
    not_implemented: bool = False


@dataclass
class Problem:
    """One quantity that differs: its name in words, what is wrong with it, and the two encoded values."""

    what: str          # e.g. "the parameter after step 3", "state['exp_avg_sq'] after step 5"
    message: str       # e.g. "the parameter after step 3 has the wrong values"
    expected: Any
    got: Any


def difference(expected: Any, got: Any, what: str, parts: list[str] | None = None) -> str | None:
    """Describe, in words, how ``got`` differs from ``expected`` (both encoded); ``None`` when they agree.

    ``parts`` names the items of a tuple output (``["the parameter", "state"]``); for a run of several steps,
    only the first step where something differs is described.
    """
    found = problems(expected, got, what, parts=parts)
    return "; ".join(p.message for p in found) or None


def problems(expected: Any, got: Any, what: str, *, parts: list[str] | None = None, after: str = "") -> list[Problem]:
    """Every quantity in which ``got`` differs from ``expected`` (in a run: at the first step that differs)."""
    label = what + after

    def one(message: str) -> list[Problem]:
        return [Problem(label, message, expected, got)]

    if isinstance(expected, dict) and "steps" in expected:
        got_steps = got.get("steps") if isinstance(got, dict) else None
        if got_steps is None:
            return one(f"{label} should be the outputs of {len(expected['steps'])} steps, got {_describe(got)}")
        for k, (e, g) in enumerate(zip(expected["steps"], got_steps), start=1):
            found = problems(e, g, what, parts=parts, after=f"{after} after step {k}")
            if found:
                return found
        if len(got_steps) < len(expected["steps"]):
            return one(f"{label} stopped after step {len(got_steps)} of {len(expected['steps'])}")
        return []
    if isinstance(expected, dict) and "tuple" in expected:
        n = len(expected["tuple"])
        names = parts if parts and len(parts) == n else [f"item {i} of {what}" for i in range(n)]
        got_items = got.get("tuple") if isinstance(got, dict) else None
        if got_items is None or len(got_items) != n:
            return one(f"{label} should be a tuple of {n} values ({', '.join(names)}), got {_describe(got)}")
        return [p for name, e, g in zip(names, expected["tuple"], got_items) for p in problems(e, g, name, after=after)]
    if isinstance(expected, dict) and "dict" in expected:
        keys = ", ".join(map(repr, expected["dict"])) or "none"
        got_dict = got.get("dict") if isinstance(got, dict) else None
        if got_dict is None:
            return one(f"{label} should be a dict with the keys {keys}, got {_describe(got)}")
        found = []
        for key, e in expected["dict"].items():
            if key not in got_dict:
                found.append(Problem(f"{what}[{key!r}]{after}", f"{label} has no key {key!r}", e, None))
            else:
                found += problems(e, got_dict[key], f"{what}[{key!r}]", after=after)
        extra = [key for key in got_dict if key not in expected["dict"]]
        if extra:
            found += one(f"{label} has the key(s) {', '.join(map(repr, extra))}, which should not be there "
                         f"(expected keys: {keys})")
        return found
    return [Problem(label, message, expected, got)] if (message := _difference(expected, got, label)) else []


def _difference(expected: Any, got: Any, what: str) -> str | None:
    """How a value that is not a run, a tuple or a dict differs, in words; ``None`` when it agrees."""
    if isinstance(expected, dict) and "array" in expected:
        if not (isinstance(got, dict) and "array" in got):
            return f"{what} should be a NumPy array of shape {tuple(expected['shape'])}, got {_describe(got)}"
        if got["shape"] != expected["shape"]:
            return f"{what} has shape {tuple(got['shape'])}, expected {tuple(expected['shape'])}"
        if got["dtype"] != expected["dtype"]:
            return f"{what} has dtype {got['dtype']}, expected {expected['dtype']}"
        exp, out = decode(expected), decode(got)
        if exp.dtype.kind in "fc":
            if not np.all(np.isfinite(out)):
                return f"{what} contains NaN or infinity"
            rtol, atol = TOLERANCES.get(expected["dtype"], TOLERANCES["float64"])
            if not np.allclose(out, exp, rtol=rtol, atol=atol):
                return f"{what} has the wrong values"
        elif not np.array_equal(out, exp):
            return f"{what} has the wrong values"
        return None
    if isinstance(expected, dict) and "sequence" in expected:
        got_items = _items(got)
        if got_items is None:
            return f"{what} should be an iterator, a generator or a list, got {_describe(got)}"
        if got.get("truncated"):
            return f"{what} never ends (stopped reading after {MAX_ITEMS} items)"
        exp_items = expected["sequence"]
        if len(got_items) != len(exp_items):
            return f"{what} has {len(got_items)} items, expected {len(exp_items)}"
        for i, (e, g) in enumerate(zip(exp_items, got_items)):
            problem = difference(e, g, f"item {i} of {what}")
            if problem:
                return problem
        return None
    if isinstance(expected, float):
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            return f"{what} should be a number, got {_describe(got)}"
        rtol, atol = TOLERANCES["float64"]
        return None if math.isclose(got, expected, rel_tol=rtol, abs_tol=atol) else f"{what} has the wrong value"
    if got == expected:
        return None
    if isinstance(got, (bool, int, float, str)) and isinstance(expected, (bool, int, float, str)):
        return f"{what} is {got!r}, expected {expected!r}"
    return f"{what} is wrong"


def _items(encoded: Any) -> list | None:
    """The items of an encoded iterator or list, or None if it is neither."""
    if isinstance(encoded, dict):
        return encoded.get("sequence", encoded.get("tuple"))
    return None


def _describe(encoded: Any) -> str:
    if encoded is None:
        return "None (did you forget to return it?)"
    if isinstance(encoded, dict):
        if "unsupported" in encoded:
            return f"an object of type {encoded['unsupported']}"
        if "tuple" in encoded:
            return f"a tuple of {len(encoded['tuple'])} values"
        if "sequence" in encoded:
            return "an iterator"
        if "array" in encoded:
            return f"a NumPy array of shape {tuple(encoded['shape'])}"
        if "dict" in encoded:
            return f"a dict with the keys {', '.join(map(repr, encoded['dict'])) or '(none)'}"
    return f"a {type(encoded).__name__}"


def judge(spec: dict, case: dict, observation: dict) -> Verdict:
    """Decide whether an observation of one case is right, and if not, say what is wrong."""
    name, returns, parts = spec["name"], spec["returns"], spec.get("parts")
    if "error" in observation:
        error = observation["error"]
        if error["type"] == "NotImplementedError":
            return Verdict(False, f"{name} is not implemented yet.", not_implemented=True)
        at_step = f" at step {error['step']}" if "step" in error else ""
        return Verdict(False, f"{name} raised {error['type']}{at_step}: {error['message']}")
    if observation.get("global_state_dependent"):
        title = "shuffling with NumPy's global random state"
        return Verdict(
            False,
            f"{returns} changes with NumPy's global random state, for the same rng: the function draws from "
            "np.random (np.random.shuffle, np.random.permutation, ...) instead of the rng it is given.",
            mistake=title,
        )
    if observation["modified"]:
        args = ", ".join(f"`{a}`" for a in observation["modified"])
        at_step = f" at step {observation['modified_at_step']}" if "modified_at_step" in observation else ""
        if any(isinstance(case["args"].get(a), dict) and "dict" in case["args"][a] for a in observation["modified"]):
            advice = ("Return a new state instead: a new dict (`dict(state)` makes one) holding new arrays "
                      "(`x = a * x + b` builds a new array; `x *= a` and `x += b` change the caller's), so that the "
                      "caller's state stays as it was.")
        else:
            advice = ("Build and return a new array instead (write `x = x - ...`, not `x -= ...`; copy an array "
                      "before changing entries of it).")
        return Verdict(False, f"{name} changed its input {args} in place{at_step}. {advice}",
                       mistake="modifying an input in place")
    problem = difference(case["expected"], observation["output"], returns, parts)
    if problem is None:
        return Verdict(True)
    for mistake_id, output in case.get("mistakes", {}).items():
        if difference(output, observation["output"], returns, parts) is None:
            mistake = spec["mistakes"][mistake_id]
            return Verdict(False, f"{problem}.", mistake=mistake["title"])
    diagnose = DIAGNOSES.get(spec.get("diagnose", ""))
    found = diagnose(case, observation) if diagnose else None
    if found:
        title, explanation = found
        return Verdict(False, f"{problem}: {explanation}", mistake=title)
    return Verdict(False, f"{problem}.")


def _diagnose_batches(case: dict, observation: dict) -> tuple[str, str] | None:
    """Name the classic mistakes of a mini-batch iterator from the structure of the batches it produced."""
    args = {k: decode(v) for k, v in case["args"].items() if k != "rng"}
    n, batch_size = args["n"], args["batch_size"]
    items = _items(observation["output"])
    if items is None:
        return None
    batches = [decode(b) if isinstance(b, dict) and "array" in b else np.asarray(b) for b in items]
    seen = np.concatenate([np.asarray(b).reshape(-1) for b in batches]) if batches else np.array([], int)
    if len(np.unique(seen)) < len(seen):
        return ("mini-batches that repeat samples",
                "some indices appear twice in one epoch, so others are never visited (drawing with replacement, "
                "e.g. rng.integers or rng.choice, instead of one permutation?)")
    if len(seen) < n and not args.get("drop_last", False):
        missing = n - len(seen)
        if missing == n % batch_size:
            return ("dropping the last partial batch",
                    f"the last {missing} samples are missing: keep the shorter last batch unless drop_last=True")
        return ("mini-batches that drop samples", f"{missing} of the {n} samples are never visited")
    if args.get("shuffle", True) and np.array_equal(seen, np.arange(len(seen))):
        return ("not shuffling", "the indices come in order 0, 1, 2, ... although shuffle=True")
    if args.get("shuffle", True) and "rng" in observation.get("rng_untouched", []):
        return ("not using the given rng", "the order is shuffled, but not with the rng that was passed in")
    return None


DIAGNOSES: dict[str, Callable[[dict, dict], tuple[str, str] | None]] = {"batches": _diagnose_batches}


# --------------------------------------------------------------------------------------------------------------
# Messages and the notebook entry point.


def format_case(case: dict) -> str:
    """The arguments of a case, one per line, as a student would write them; a run shows each step's values."""
    vary = case["steps"]["vary"] if "steps" in case else {}
    width = max(map(len, [*case["args"], *vary]), default=0)
    lines = []
    for name, value in case["args"].items():
        prefix = f"    {name:<{width}} = "
        if isinstance(value, dict) and "rng" in value:
            shown = f"np.random.default_rng({value['rng']})"
        elif isinstance(value, dict) and "function" in value:
            shown = f"{value['function']} (a test function of optimlab.check)"
        else:
            shown = _show(value, indent=len(prefix))
        lines.append(prefix + shown)
    for name, values in vary.items():
        prefix = f"    {name:<{width}} = "
        for k, value in enumerate(values, start=1):
            step = f"step {k}: "
            lines.append((prefix if k == 1 else " " * len(prefix)) + step + _show(value, indent=len(prefix + step)))
    if vary:
        carried = " and ".join(case["steps"]["carry"])
        lines.append(f"    (each step calls the function again with the {carried} that the step before returned)")
    return "\n".join(lines)


def _show(encoded: Any, indent: int = 12) -> str:
    """A short printable form of an encoded value; continuation lines are indented by ``indent``."""
    if isinstance(encoded, dict) and "array" in encoded:
        array = decode(encoded)
        text = np.array2string(array, precision=6, separator=", ", threshold=30, max_line_width=100)
        suffix = f", dtype={array.dtype}" if array.dtype.kind == "f" and array.dtype != np.float64 else ""
        return text.replace("\n", "\n" + " " * indent) + suffix
    if isinstance(encoded, dict) and ("sequence" in encoded or "tuple" in encoded):
        items = _items(encoded)
        more = ", ..." if len(items) > 8 else ""
        return "[" + ", ".join(_show(item, indent) for item in items[:8]) + more + "]"
    if isinstance(encoded, dict) and "dict" in encoded:
        return "{" + ", ".join(f"{k!r}: {_show(v, indent)}" for k, v in encoded["dict"].items()) + "}"
    if isinstance(encoded, dict) and "float" in encoded:
        return encoded["float"]
    if isinstance(encoded, dict) and "unsupported" in encoded:
        return f"<{encoded['unsupported']} object>"
    return repr(encoded)


def explain(spec: dict, case: dict, observation: dict, verdict: Verdict) -> str:
    """The full message for a failing case: what is wrong, the case, expected vs got, the mistake's name."""
    lines = [f"{spec['name']} is not right yet: {verdict.message}", f"  On the case \"{case['label']}\":",
             format_case(case)]
    shown = ("output" in observation and not observation.get("modified")
             and not observation.get("global_state_dependent"))
    if shown and "steps" in case:
        for problem in problems(case["expected"], observation["output"], spec["returns"], parts=spec.get("parts")):
            lines += [f"  {problem.what}:", f"    expected: {_show(problem.expected, 14)}",
                      f"    got:      {_show(problem.got, 14)}"]
    elif shown:
        lines += [f"  expected: {_show(case['expected'])}", f"  got:      {_show(observation['output'])}"]
    if verdict.mistake:
        lines.append(f"  This looks like a classic mistake: {verdict.mistake}.")
        for mistake in spec["mistakes"].values():
            if mistake["title"] == verdict.mistake:
                lines.append(f"  {mistake['explain']}")
                break
    return "\n".join(lines)


class CheckFailed(AssertionError):
    """A self-check failed. IPython shows only the message, not a traceback into the check machinery."""

    def _render_traceback_(self):
        return ["\x1b[31m✘ " + str(self).replace("\n", "\n  ") + "\x1b[0m"]


def load_spec(name: str) -> dict:
    """The recorded cases of exercise ``name``, from the unit files in ``check_data/``."""
    for path in sorted(DATA_DIR.glob("*.json")):
        exercises = json.loads(path.read_text(encoding="utf-8"))["exercises"]
        if name in exercises:
            return exercises[name]
    raise CheckFailed(f"there are no recorded checks for {name!r} in {DATA_DIR}: that folder should hold the "
                      "course's check data (*.json); copy it again from the course release")


def run_check(spec: dict, fn: Callable, *, reraise=(NotImplementedError,)) -> tuple[int, str | None]:
    """Run ``fn`` on every case of ``spec``; return (cases passed, message for the first failure or None)."""
    passed, first_failure = 0, None
    for case in spec["cases"]:
        observation = collect(fn, case, reraise=reraise)
        verdict = judge(spec, case, observation)
        if verdict.passed:
            passed += 1
        elif first_failure is None:
            first_failure = explain(spec, case, observation, verdict)
    return passed, first_failure


def check(name: str) -> None:
    """Check your current implementation of the exercise ``name`` (e.g. ``"gd_update"``).

    Prints one line when every case passes; raises :class:`CheckFailed` saying what is wrong otherwise. A stub
    that still raises ``NotImplementedError`` lets it through unchanged: implement the function first.
    """
    spec = load_spec(name)
    fn = getattr(importlib.import_module(f"{__package__}.{spec['module']}"), name, None)
    if not inspect.isfunction(fn):
        raise CheckFailed(f"optimlab.{spec['module']}.{name} should be a function, found {fn!r}")
    passed, failure = run_check(spec, fn)
    total = len(spec["cases"])
    if failure:
        raise CheckFailed(f"{failure}\n  ({passed} of {total} cases pass.)")
    print(f"✔ {name}: all {total} cases pass.")
