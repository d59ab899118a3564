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
  an exception, which inputs it modified, which outputs share memory with an input, whether it depended on
  NumPy's global random state, what it returns for C-contiguous copies of inputs that are not). It never sees
  the expected values, and never raises because of what the function did.
- :func:`judge` compares such an observation with the expected output and the known mistakes, and returns a
  :class:`Verdict`. It never raises either: an observation it cannot make sense of is a failed case.

A case may describe a *run* of several steps instead of one call (an optimizer's update function, say): its
``"steps"`` entry gives the arguments that change at each step (``{"vary": {"grad": [g1, g2, ...]}}``) and the
arguments that the outputs of one call feed into the next (``"carry": ["param", "state"]``). :func:`collect` then
calls the function once per step, checks that each step's output has the structure the next step needs, and
records the output of every step; :func:`judge` names the first step where something differs, and what: "the
parameter after step 3", "state['exp_avg_sq'] after step 5". A run may carry nothing (``"carry": []``): a
learning-rate schedule is one call per step ``t``, each independent of the others. And it may name its steps
(``"name": "at t = {t}"``, formatted with that step's values of the varying arguments and with ``step``, its number
from 1), so that messages say "the learning rate at t = 4" where they would say "after step 5".

An array argument may carry a ``"layout"``: ``"F"`` (Fortran-ordered, as ``W.T`` of a C-ordered matrix is),
``"strided"`` (every other element of a larger buffer) or ``"reversed"`` (a view with negative strides), so that
the checks cover the arrays a caller really passes, not only fresh C-contiguous ones.

A callable argument is named in the data: ``{"function": name}`` is one of the test functions of
:data:`CASE_FUNCTIONS`, and ``{"function": name, "kwargs": {...}}`` is a *fresh* object made by the factory
``CASE_FACTORIES[name]`` for every call (a simulated training that the function under check drives step by step),
so that every call starts from the same state.

Networks and optimizers take part too. ``{"function": "mlp", "kwargs": {"sizes": [4, 6, 3], "seed": 1}}`` is a
fresh ``nn.mlp([4, 6, 3], rng=np.random.default_rng(1))`` for every call, and ``{"function": "SGD"}`` the class
``optim.SGD`` itself (:data:`CASE_CLASSES`), both from the package of the function under check. A network
returned is observed as its layers (``"Linear(4, 6)"``, ``"ReLU"``) and its parameters, an optimizer as its
class, its ``lr`` and its parameters; a network argument changed by the call is an input modified in place, and
its arrays are inputs for the memory-sharing checks. An exercise whose outputs must hold the inputs' own arrays
(``"shares_inputs"`` in its data: an optimizer over a model's parameters) is told
:data:`COPIED_PARAMETERS` when an output array shares memory with no input.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

DATA_DIR = Path(__file__).with_name("check_data")

#: How many items of a returned iterator are read before giving up (an endless generator is a bug, not a hang).
MAX_ITEMS = 10_000

#: Arrays larger than this are not recorded (every expected output is small).
MAX_ARRAY_SIZE = 100_000

#: Tolerances by dtype: tight enough that every classic mistake shows, loose enough for a different but
#: correct order of floating-point operations.
TOLERANCES = {"float64": (1e-9, 1e-12), "float32": (1e-5, 1e-6)}

#: How each layout of an array argument is described to the student.
LAYOUTS = {
    "F": "Fortran-ordered, like the transpose W.T of a C-ordered matrix",
    "strided": "a strided view: every other element of a larger array",
    "reversed": "a view with negative strides, like a[::-1]",
}
SHORT_LAYOUTS = {"F": "Fortran-ordered (like W.T)", "strided": "a strided view", "reversed": "a reversed view"}


# --------------------------------------------------------------------------------------------------------------
# Functions that cases may pass as arguments (JSON holds their names).


def _cubic_mix(x: np.ndarray) -> float:
    """A smooth test function with cross terms: sum(x^3) + (sum of x * shifted x) + sum(sin x)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return float(np.sum(x**3) + np.sum(x * np.roll(x, 1)) + np.sum(np.sin(x)))


def _cubic_mix_grad(x: np.ndarray) -> np.ndarray:
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    return (3 * flat**2 + np.roll(flat, 1) + np.roll(flat, -1) + np.cos(flat)).reshape(np.shape(x))


def _exp_quadratic(x: np.ndarray) -> float:
    """exp(x0) plus a quadratic form, for checks on small vectors."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    return float(np.exp(x[0]) + 0.5 * np.sum(np.arange(1, x.size + 1) * x**2))


def _exp_quadratic_grad(x: np.ndarray) -> np.ndarray:
    flat = np.asarray(x, dtype=np.float64).reshape(-1)
    grad = np.arange(1, flat.size + 1) * flat
    grad[0] += np.exp(flat[0])
    return grad.reshape(np.shape(x))


CASE_FUNCTIONS: dict[str, Callable[[np.ndarray], float]] = {
    "cubic_mix": _cubic_mix,
    "exp_quadratic": _exp_quadratic,
}

#: The exact gradients of the case functions (to recognize a numerical gradient that ignores its step h).
CASE_GRADIENTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "cubic_mix": _cubic_mix_grad,
    "exp_quadratic": _exp_quadratic_grad,
}


def simulated_training(curvatures=(1.0, 0.1), start=(1.0, 1.0), floor: float = 0.1, noise: float = 0.0,
                       seed: int = 0) -> Callable[[float], float]:
    r"""A stand-in for training a network, for the learning-rate range test: returns ``step_loss(lr) -> loss``.

    Each call of ``step_loss`` takes one step of SGD, at the learning rate it is given, on a mini-batch of the
    quadratic loss

    .. math:: \ell(w) = \ell_\text{floor} + \tfrac12 \sum_j h_j (w_j - z_j)^2, \qquad z_j \sim \mathcal N(0, \sigma^2)

    and returns that batch's loss before the step, as a training loop reports it; :math:`h` is ``curvatures``,
    :math:`w` starts at ``start``, :math:`\ell_\text{floor}` is ``floor`` and :math:`\sigma` is ``noise`` (drawn
    from ``np.random.default_rng(seed)``; 0 for batches without noise). As for a real network, the loss hardly
    moves at tiny learning rates, falls faster as the rate grows, and blows up once the rate passes
    :math:`2 / \max_j h_j`, where each step overshoots along the steepest direction. ``step_loss`` has a state
    (the weights, the generator): every call trains, so a fresh one is made for every check.
    """
    h = np.array(curvatures, dtype=np.float64)
    w = np.array(start, dtype=np.float64)
    rng = np.random.default_rng(seed)

    def step_loss(lr: float) -> float:
        nonlocal w
        residual = w - noise * rng.standard_normal(h.shape)
        loss = floor + 0.5 * float(np.sum(h * residual * residual))
        w = w - lr * h * residual
        return loss

    return step_loss


def _package_module(name: str, package: str | None = None):
    """The module ``name`` (``nn``, ``optim``) of ``package``, by default this module's own package, imported when
    a case first needs it. (The grader runs a private copy of this module outside the package, where the package
    under check is ``optimlab``.)"""
    return importlib.import_module(f"{package or __package__ or 'optimlab'}.{name}")


def _package_of(fn: Callable) -> str | None:
    """The package of a function under check, when it is a copy of this course's package (it has the toolkit
    ``nn``): networks and optimizer classes for its cases come from there, so that its own ``isinstance`` checks
    recognize them. None for a function defined elsewhere (a test's), which gets this module's package."""
    package = str(getattr(fn, "__module__", None) or "").rpartition(".")[0]
    return package if package and f"{package}.nn" in sys.modules else None


def network(sizes, seed: int = 0, dtype: str = "float64", layout: str | None = None, end_with_relu: bool = False,
            *, package: str | None = None):
    """A fresh ``nn.mlp(sizes, rng=np.random.default_rng(seed), dtype=dtype)`` of the package's toolkit, for the
    checks of functions that take a network (a pretrained one, in miniature). With ``layout`` every weight matrix
    is in that memory layout (``"F"``: as a checkpoint saved from ``W.T`` loads); with ``end_with_relu`` a ReLU
    follows the last Linear layer. Each call builds a new network, so a function that changes the one it is given
    cannot change the next call's."""
    nn = _package_module("nn", package)
    model = nn.mlp(list(sizes), rng=np.random.default_rng(seed), dtype=np.dtype(dtype))
    if layout:
        for layer in model.layers:
            if getattr(layer, "weight", None) is not None:
                layer.weight = with_layout(layer.weight, layout)
    if end_with_relu:
        model = nn.Sequential(*model.layers, nn.ReLU())
    return model


#: Factories of stateful case arguments: ``{"function": name, "kwargs": {...}}`` decodes to a fresh
#: ``CASE_FACTORIES[name](**kwargs)`` at every call.
CASE_FACTORIES: dict[str, Callable[..., Callable]] = {
    "simulated_training": simulated_training,
    "mlp": network,
}

#: Classes of the package that cases may pass as arguments (``{"function": "SGD"}`` is ``optim.SGD`` itself):
#: name -> the package's module that defines it.
CASE_CLASSES: dict[str, str] = {"SGD": "optim", "Adam": "optim", "AdamW": "optim", "RMSprop": "optim",
                                "Adagrad": "optim"}


# --------------------------------------------------------------------------------------------------------------
# Encoding values as JSON and back.


def encode(value: Any) -> Any:
    """Turn an argument or output into JSON-able data; :func:`decode` turns argument encodings back."""
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray:
            return {"unsupported": f"an object of type {type(value).__name__} (a subclass of np.ndarray)"}
        if value.dtype.kind not in "biuf":
            return {"unsupported": f"a NumPy array of dtype {value.dtype}"}
        if value.size > MAX_ARRAY_SIZE:
            return {"unsupported": f"a NumPy array of shape {value.shape}, too large to check"}
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
    kind = object_kind(value)
    if kind == "module":
        return {"module": {"class": type(value).__name__, "layers": [[str(name), describe_layer(layer)]
                                                                     for name, layer in value.named_children()],
                           "parameters": encode(dict(value.parameters()))}}
    if kind == "optimizer":
        return {"optimizer": {"class": type(value).__name__, "lr": encode(value.lr),
                              "params": encode(dict(value.params))}}
    return {"unsupported": f"an object of type {type(value).__name__}"}


def object_kind(value: Any) -> str | None:
    """``"module"`` for a network or a layer of the toolkit (an ``nn.Module``), ``"optimizer"`` for an
    ``optim.Optimizer``, else None. Told by the classes' names, so that the student's copy of the package and the
    reference are both recognized, without importing either."""
    names = {cls.__name__ for cls in type(value).__mro__}
    if "Module" in names and callable(getattr(value, "parameters", None)) and callable(
            getattr(value, "named_children", None)):
        return "module"
    if "Optimizer" in names and isinstance(getattr(value, "params", None), dict):
        return "optimizer"
    return None


def describe_layer(layer: Any, depth: int = 0) -> str:
    """A layer in a few characters: ``"Linear(4, 5)"``, ``"ReLU"``, ``"Sequential(Linear(4, 5), ReLU)"``."""
    name = type(layer).__name__
    children = list(layer.named_children())[:100] if object_kind(layer) == "module" else []
    if children and depth < 8:
        return f"{name}({', '.join(describe_layer(child, depth + 1) for _, child in children)})"
    sizes = getattr(layer, "in_features", None), getattr(layer, "out_features", None)
    if all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
        no_bias = ", bias=False" if getattr(layer, "bias", 0) is None else ""
        return f"{name}({int(sizes[0])}, {int(sizes[1])}{no_bias})"
    return name


def layout_of(array: np.ndarray) -> str | None:
    """``None`` for a C-contiguous array, else the name of its layout (see :data:`LAYOUTS`)."""
    if array.flags.c_contiguous or array.size <= 1:
        return None
    if any(s < 0 for s in array.strides):
        return "reversed"
    return "F" if array.flags.f_contiguous else "strided"


def encode_argument(value: Any) -> Any:
    """:func:`encode` for a case's argument: arrays also record their layout, so :func:`decode` rebuilds it."""
    if isinstance(value, np.ndarray) and layout_of(value):
        return dict(encode(value), layout=layout_of(value))
    if isinstance(value, dict):
        return {"dict": {str(k): encode_argument(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"tuple": [encode_argument(v) for v in value]}
    return encode(value)


def with_layout(array: np.ndarray, layout: str | None) -> np.ndarray:
    """An array equal to ``array`` in the memory layout ``layout`` (``None``: C-contiguous)."""
    if layout is None or array.ndim == 0:
        return np.ascontiguousarray(array)
    if layout == "F":
        return np.asfortranarray(array)
    if layout == "strided":
        buffer = np.zeros(array.shape[:-1] + (2 * array.shape[-1],), dtype=array.dtype)
        buffer[..., ::2] = array
        return buffer[..., ::2]
    if layout == "reversed":
        return np.flip(np.flip(array).copy())
    raise ValueError(f"unknown layout {layout!r}")


def decode(data: Any, package: str | None = None) -> Any:
    """Rebuild an argument from its encoding: arrays (in their layout), rngs (``{"rng": seed}``), case
    functions, fresh objects of the case factories, tuples, dicts. Networks and the package's classes come from
    ``package`` (default: this module's package)."""
    if isinstance(data, dict):
        if "array" in data:
            array = np.array(data["array"], dtype=np.dtype(data["dtype"])).reshape(data["shape"])
            return with_layout(array, data["layout"]) if data.get("layout") else array
        if "rng" in data:
            return np.random.default_rng(data["rng"])
        if "function" in data:
            if data["function"] in CASE_CLASSES:
                return getattr(_package_module(CASE_CLASSES[data["function"]], package), data["function"])
            if data["function"] in CASE_FACTORIES:
                kwargs = {name: decode(value) for name, value in data.get("kwargs", {}).items()}
                factory = CASE_FACTORIES[data["function"]]
                return factory(**kwargs, package=package) if factory is network else factory(**kwargs)
            return CASE_FUNCTIONS[data["function"]]
        if "float" in data:
            return float(data["float"])
        if "tuple" in data:
            return tuple(decode(v, package) for v in data["tuple"])
        if "dict" in data:
            return {k: decode(v, package) for k, v in data["dict"].items()}
        raise ValueError(f"cannot decode {data!r}")
    return data


def _without_layouts(encoded: Any) -> Any:
    """The same encoded data with every array C-contiguous."""
    if isinstance(encoded, dict):
        return {k: _without_layouts(v) for k, v in encoded.items() if k != "layout"}
    if isinstance(encoded, list):
        return [_without_layouts(v) for v in encoded]
    return encoded


def _has_layouts(encoded: Any) -> bool:
    if isinstance(encoded, dict):
        return "layout" in encoded or any(_has_layouts(v) for v in encoded.values())
    if isinstance(encoded, list):
        return any(_has_layouts(v) for v in encoded)
    return False


def _same(a: Any, b: Any) -> bool:
    """Whether two encodings are identical (NaN equal to NaN)."""
    return json.dumps(a, sort_keys=True, default=repr) == json.dumps(b, sort_keys=True, default=repr)


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
    through); any other exception, raised by the function or by reading what it returned, is recorded. If an
    argument is a random generator, the call is repeated with NumPy's global random state set differently, to
    see whether the output depends on it. If an array argument is not C-contiguous, the call is repeated with
    C-contiguous copies, and a different output is recorded as ``contiguous_output``. A case with ``"steps"``
    is a run of several calls (see :func:`_run_steps`).
    """
    try:
        observation = _collect(fn, case, reraise=reraise)
        if "error" not in observation and (_has_layouts(case["args"]) or _has_layouts(case.get("steps"))):
            plain = dict(case, args=_without_layouts(case["args"]))
            if "steps" in case:
                plain["steps"] = _without_layouts(case["steps"])
            again = _collect(fn, plain, reraise=reraise)
            if not _same(again.get("output"), observation.get("output")):
                observation["contiguous_output"] = again.get("output")
        return observation
    except reraise:
        raise
    except Exception as exc:  # noqa: BLE001 — whatever the function's output does while it is read is a result
        return {"error": {"type": type(exc).__name__, "message": str(exc)[:500]}}


def _collect(fn: Callable, case: dict, *, reraise) -> dict:
    if "steps" in case:
        return _run_steps(fn, case, reraise=reraise)
    observation = _call(fn, case["args"], reraise=reraise, global_seed=1)
    if "error" not in observation and any(isinstance(a, dict) and "rng" in a for a in case["args"].values()):
        again = _call(fn, case["args"], reraise=reraise, global_seed=2)
        observation["global_state_dependent"] = not _same(again.get("output"), observation["output"])
    return observation


def _call(fn: Callable, encoded_args: dict, *, reraise, global_seed: int) -> dict:
    args = {name: decode(value, _package_of(fn)) for name, value in encoded_args.items()}
    return _invoke(fn, args, reraise=reraise, global_seed=global_seed)[0]


def _invoke(fn: Callable, args: dict, *, reraise, global_seed: int) -> tuple[dict, Any]:
    """Call ``fn(**args)``: (the observation, the raw output or None)."""
    before = {name: _fingerprint(a) for name, a in args.items()
              if isinstance(a, (np.ndarray, dict)) or object_kind(a) == "module"}
    rng_states = {n: a.bit_generator.state for n, a in args.items() if isinstance(a, np.random.Generator)}
    inputs = [(path, a) for name, value in args.items() for path, a in _arrays_in(value, (name,))]
    saved_global = np.random.get_state()
    np.random.seed(global_seed)  # only to detect code that draws from the global state; restored below
    try:
        with np.errstate(all="ignore"):  # NaN and infinity are reported in words, not as warnings
            raw = fn(**args)
            output = _observe_output(raw)
        observation = {
            "output": output,
            "modified": sorted(name for name, print_ in before.items() if _fingerprint(args[name]) != print_),
            "rng_untouched": sorted(n for n, st in rng_states.items() if args[n].bit_generator.state == st),
        }
        shared = _shared_memory(raw, inputs)
        if shared:
            observation["shares_memory"] = shared
        if _holds_objects(raw):  # networks and optimizers: which of their arrays are nobody's input
            observation["unshared"] = _unshared(raw, inputs)
    except reraise:
        raise
    except Exception as exc:  # a bug in the student's function is an observation, not a crash of the check
        return {"error": {"type": type(exc).__name__, "message": str(exc)[:500]}}, None
    finally:
        np.random.set_state(saved_global)
    return observation, raw


def _arrays_in(value: Any, path: tuple = (), depth: int = 0):
    """Every NumPy array in ``value`` (arrays, and arrays inside tuples, lists and dicts), with its path."""
    if depth > 8:
        return
    if isinstance(value, np.ndarray):
        yield path, value
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value[:100]):
            yield from _arrays_in(item, path + (i,), depth + 1)
    elif isinstance(value, dict):
        for key, item in list(value.items())[:100]:
            yield from _arrays_in(item, path + (str(key),), depth + 1)
    elif object_kind(value) == "module":  # a network's parameters, as `model.parameters()['0.weight']`
        for key, item in list(value.parameters().items())[:100]:
            yield from _arrays_in(item, path + (f".parameters()[{str(key)!r}]",), depth + 1)
    elif object_kind(value) == "optimizer":  # an optimizer's, as `optimizer.params['0.weight']`
        for key, item in list(value.params.items())[:100]:
            yield from _arrays_in(item, path + (f".params[{str(key)!r}]",), depth + 1)


def _holds_objects(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is, or holds in its lists, tuples and dicts, a network or an optimizer."""
    if depth > 8:
        return False
    if isinstance(value, (tuple, list)):
        return any(_holds_objects(v, depth + 1) for v in value[:100])
    if isinstance(value, dict):
        return any(_holds_objects(v, depth + 1) for v in list(value.values())[:100])
    return object_kind(value) is not None


def _unshared(raw: Any, inputs: list[tuple[tuple, np.ndarray]]) -> list[list]:
    """The paths of the output arrays that share memory with no input (for an exercise whose outputs must be
    the inputs' own arrays: an optimizer over a model's parameters)."""
    return [list(out_path) for out_path, out in _arrays_in(raw)
            if out.size and not any(arg.size and np.shares_memory(out, arg, max_work=10**6) for _, arg in inputs)]


def _shared_memory(raw: Any, inputs: list[tuple[tuple, np.ndarray]]) -> list[dict]:
    """The outputs that share memory with an input: ``[{"output": path, "input": path}, ...]``.

    An entry of a state dict passed through unchanged (the very same array, under the same key) does not count.
    """
    found = []
    for out_path, out in _arrays_in(raw):
        for in_path, arg in inputs:
            passed_through = out is arg and len(out_path) >= 2 and out_path[-1] == in_path[-1]
            if not passed_through and out.size and arg.size and np.shares_memory(out, arg, max_work=10**6):
                found.append({"output": list(out_path), "input": list(in_path)})
                break
    return found


def _fingerprint(value: Any) -> Any:
    """Exactly what an argument holds (NaN equals NaN here), to see whether a call changed it."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, dict):
        return ("dict", tuple((k, _fingerprint(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_fingerprint(v) for v in value))
    if object_kind(value) == "module":  # its layers (the very objects, in order) and every array it holds
        layers = tuple((str(name), id(layer), describe_layer(layer)) for name, layer in value.named_children())
        return ("module", type(value).__name__, layers, _fingerprint(dict(value.parameters())),
                _fingerprint(dict(value.buffers())) if callable(getattr(value, "buffers", None)) else None)
    return ("value", repr(value))


def _run_steps(fn: Callable, case: dict, *, reraise) -> dict:
    """Run ``fn`` for several steps: each step sets the arguments of ``steps["vary"]`` to that step's values;
    the outputs of a step become the arguments ``steps["carry"]`` of the next (``None`` in the carry drops that
    output; with no carry, the calls are independent: only the varying arguments change).

    The observation's output is ``{"steps": [output of step 1, output of step 2, ...]}``. The run stops early
    when a step raises (``error`` gets the step number, ``output`` the steps before), modifies an input
    (``modified_at_step``), returns an output that shares memory with an input (``shares_memory_at_step``), or
    returns something that does not have the structure the next step needs (``stopped``: the step and why): an
    array where an array went in, with its shape, and a dict where a dict went in. A carried array whose first
    value had a layout gets that layout again at every step, as an optimizer writing into the caller's array
    (``param[...] = new_param``) keeps it.
    """
    args = {name: decode(value, _package_of(fn)) for name, value in case["args"].items()}
    initial = dict(args)
    layouts = {name: value.get("layout") for name, value in case["args"].items() if isinstance(value, dict)}
    plan = case["steps"]
    per_step = {name: [decode(v) for v in values] for name, values in plan["vary"].items()}
    carry = plan["carry"]
    outputs: list = []
    n_steps = len(next(iter(per_step.values())))
    for k in range(n_steps):
        args.update({name: values[k] for name, values in per_step.items()})
        observation, raw = _invoke(fn, args, reraise=reraise, global_seed=1)
        if "error" in observation:
            observation["error"]["step"] = k + 1
            if outputs:
                observation["output"] = {"steps": outputs}
            return observation
        outputs.append(observation["output"])
        done = {"output": {"steps": outputs}, "modified": [], "rng_untouched": []}
        if observation["modified"]:
            return dict(done, modified=observation["modified"], modified_at_step=k + 1)
        if observation.get("shares_memory"):
            return dict(done, shares_memory=observation["shares_memory"], shares_memory_at_step=k + 1)
        if k + 1 == n_steps:
            break
        if not carry:
            continue  # independent calls: nothing a call returns feeds the next one
        fed = raw if len(carry) > 1 else (raw,)
        reason = _unfit(fed, carry, initial)
        if reason:
            return dict(done, stopped={"step": k + 1, "reason": reason})
        for name, value in zip(carry, fed):
            if name is not None:  # None: an output that does not feed the next step
                args[name] = with_layout(value, layouts[name]) if layouts.get(name) else value
    return done


def _unfit(fed: Any, carry: list[str], initial: dict) -> str | None:
    """Why ``fed`` cannot be the next step's ``carry`` arguments, or None when it can."""
    if not isinstance(fed, (tuple, list)) or len(fed) != len(carry):
        return f"it should return {len(carry)} values ({', '.join(str(name or 'an output') for name in carry)})"
    for name, value in zip(carry, fed):
        if name is None:
            continue
        first = initial.get(name)
        if isinstance(first, np.ndarray) and not (isinstance(value, np.ndarray) and value.shape == first.shape):
            return f"{name} should be an array of shape {first.shape}, got {type(value).__name__}"
        if isinstance(first, dict) and not isinstance(value, dict):
            return f"{name} should be a dict, got {type(value).__name__}"
    return None


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
    quantity: str = ""          # ``what`` without the step: "the parameter", "state['exp_avg_sq']"
    step: int | None = None     # in a run, the step (from 1)


def step_names(case: dict) -> list[str] | None:
    """The names of a run's steps in messages, from its ``steps["name"]`` template: ``"at t = {t}"`` gives
    "at t = 0", "at t = 1", ... (the template's fields are the varying arguments' values at that step, and
    ``step``, its number from 1). ``None`` when the case names no steps, or the template does not fit."""
    plan = case.get("steps") if isinstance(case, dict) else None
    template = plan.get("name") if isinstance(plan, dict) else None
    if not isinstance(template, str):
        return None
    try:
        vary = {name: [decode(v) for v in values] for name, values in plan["vary"].items()}
        count = len(next(iter(vary.values())))
        return [template.format(step=k + 1, **{name: values[k] for name, values in vary.items()})
                for k in range(count)]
    except Exception:  # noqa: BLE001 — a template that does not fit leaves the default names
        return None


def _step_phrase(names: list[str] | None, step: int, default: str = "after step {step}") -> str:
    """How step ``step`` (from 1) is named: its name, or ``default`` for a run that names no steps."""
    if names and isinstance(step, int) and 0 < step <= len(names):
        return names[step - 1]
    return default.format(step=step)


def difference(expected: Any, got: Any, what: str, parts: list[str] | None = None) -> str | None:
    """Describe, in words, how ``got`` differs from ``expected`` (both encoded); ``None`` when they agree.

    ``parts`` names the items of a tuple output (``["the parameter", "state"]``); for a run of several steps,
    only the first step where something differs is described.
    """
    found = problems(expected, got, what, parts=parts)
    return "; ".join(p.message for p in found) or None


def problems(expected: Any, got: Any, what: str, *, parts: list[str] | None = None, after: str = "",
             step: int | None = None, step_names: list[str] | None = None) -> list[Problem]:
    """Every quantity in which ``got`` differs from ``expected`` (in a run: at the first step that differs).

    ``step_names`` names the steps of a run (see :func:`step_names`); by default, step ``k`` is "after step k".
    """
    label = what + after

    def one(message: str) -> list[Problem]:
        return [Problem(label, message, expected, got, what, step)]

    if isinstance(expected, dict) and "steps" in expected:
        got_steps = got.get("steps") if isinstance(got, dict) else None
        if not isinstance(got_steps, list):
            return one(f"{label} should be the outputs of {len(expected['steps'])} steps, got {_describe(got)}")
        for k, (e, g) in enumerate(zip(expected["steps"], got_steps), start=1):
            found = problems(e, g, what, parts=parts, after=f"{after} {_step_phrase(step_names, k)}", step=k)
            if found:
                return found
        if len(got_steps) < len(expected["steps"]):
            if step_names:
                return one(f"{label} stopped after {len(got_steps)} of {len(expected['steps'])} calls")
            return one(f"{label} stopped after step {len(got_steps)} of {len(expected['steps'])}")
        return []
    if isinstance(expected, dict) and "tuple" in expected:
        n = len(expected["tuple"])
        names = parts if parts and len(parts) == n else [f"item {i} of {what}" for i in range(n)]
        got_items = got.get("tuple") if isinstance(got, dict) else None
        if n and all(isinstance(e, dict) and "optimizer" in e for e in expected["tuple"]):
            if not isinstance(got_items, list) or len(got_items) != n:
                return one(f"{label} should be a list of {n} optimizer{'s' * (n != 1)} "
                           f"({', '.join(_show(e) for e in expected['tuple'])}), got {_describe(got)}")
        if not isinstance(got_items, list) or len(got_items) != n:
            if names is not parts and n > 4:  # a list of many items (configurations, trials): its length says it
                return one(f"{label} should be a list of {n} items, got {_describe(got)}")
            return one(f"{label} should be a tuple of {n} values ({', '.join(names)}), got {_describe(got)}")
        return [p for name, e, g in zip(names, expected["tuple"], got_items)
                for p in problems(e, g, name, after=after, step=step)]
    if isinstance(expected, dict) and "dict" in expected:
        keys = ", ".join(map(repr, expected["dict"])) or "none"
        got_dict = got.get("dict") if isinstance(got, dict) else None
        if not isinstance(got_dict, dict):
            return one(f"{label} should be a dict with the keys {keys}, got {_describe(got)}")
        found = []
        for key, e in expected["dict"].items():
            if key not in got_dict:
                found.append(Problem(f"{what}[{key!r}]{after}", f"{label} has no key {key!r}", e, None,
                                     f"{what}[{key!r}]", step))
            else:
                found += problems(e, got_dict[key], f"{what}[{key!r}]", after=after, step=step)
        extra = [key for key in got_dict if key not in expected["dict"]]
        if extra:
            found += one(f"{label} has the key(s) {', '.join(map(repr, extra))}, which should not be there "
                         f"(expected keys: {keys})")
        return found
    if isinstance(expected, dict) and "module" in expected:
        return _module_problems(expected["module"], got, label, step, one)
    if isinstance(expected, dict) and "optimizer" in expected:
        return _optimizer_problems(expected["optimizer"], got, label, step, one)
    message = _difference(expected, got, label)
    return [Problem(label, message, expected, got, what, step)] if message else []


def _named_arrays(expected: dict, got: dict, label: str, owner: str, step) -> list[Problem]:
    """The problems of the arrays of a network (``owner`` = "parameters()") or an optimizer ("params"), by
    name, with the same names expected in the same order."""
    found = []
    for key, e in expected.items():
        name = f"`{owner}[{key!r}]` of {label}"
        message = _difference(e, got[key], name)
        if message:
            found.append(Problem(name, message, e, got[key], name, step))
    return found


def _module_problems(expected: dict, got: Any, label: str, step, one) -> list[Problem]:
    """How a network differs: first its class and its layers (in words), then, when those agree, its
    parameters, each by name."""
    module = got.get("module") if isinstance(got, dict) else None
    if not isinstance(module, dict):
        return one(f"{label} should be a network (an nn.{expected['class']}), got {_describe(got)}")
    if module.get("class") != expected["class"]:
        return one(f"{label} is an nn.{module.get('class')}, expected an nn.{expected['class']}")
    layers, wanted = module.get("layers"), expected["layers"]
    if layers != wanted:
        shown = ", ".join(f"{n}: {d}" for n, d in wanted)
        if not isinstance(layers, list) or len(layers) != len(wanted):
            count = len(layers) if isinstance(layers, list) else 0
            return one(f"{label} has {count} layer{'s' * (count != 1)} "
                       f"({', '.join(f'{n}: {d}' for n, d in layers or [])}), expected {len(wanted)} ({shown})")
        for (name, layer), (want_name, want) in zip(layers, wanted):
            if [name, layer] != [want_name, want]:
                return one(f"layer {want_name!r} of {label} is {layer} (named {name!r}), expected {want}"
                           if name != want_name else f"layer {name!r} of {label} is {layer}, expected {want}")
    params, wanted_params = (module.get("parameters") or {}).get("dict"), expected["parameters"]["dict"]
    if not isinstance(params, dict) or list(params) != list(wanted_params):
        return one(f"{label} has the parameters {_names(params)}, expected {_names(wanted_params)}")
    return _named_arrays(wanted_params, params, label, "parameters()", step)


def _optimizer_problems(expected: dict, got: Any, label: str, step, one) -> list[Problem]:
    """How an optimizer differs: its class, the parameters it trains (by name), its learning rate, then the
    values of its parameters."""
    optimizer = got.get("optimizer") if isinstance(got, dict) else None
    if not isinstance(optimizer, dict):
        return one(f"{label} should be an optimizer ({_show({'optimizer': expected})}), got {_describe(got)}")
    if optimizer.get("class") != expected["class"]:
        return one(f"{label} is an optim.{optimizer.get('class')}, expected an optim.{expected['class']}")
    params, wanted_params = (optimizer.get("params") or {}).get("dict"), expected["params"]["dict"]
    if not isinstance(params, dict) or set(params) != set(wanted_params):
        return one(f"{label} trains the parameters {_names(params)}, expected {_names(wanted_params)}")
    lr, wanted_lr = _number(optimizer.get("lr")), _number(expected["lr"])
    rtol, atol = TOLERANCES["float64"]
    if lr is None or wanted_lr is None or not math.isclose(lr, wanted_lr, rel_tol=rtol, abs_tol=atol):
        shown = f"{lr:.6g}" if lr is not None else _describe(optimizer.get("lr"))
        return one(f"{label} has lr = {shown}, expected {wanted_lr:.6g}")
    return _named_arrays(wanted_params, params, label, "params", step)


def _names(encoded_dict: Any) -> str:
    if not isinstance(encoded_dict, dict):
        return "(none)"
    return "[" + ", ".join(map(repr, encoded_dict)) + "]"


def _difference(expected: Any, got: Any, what: str) -> str | None:
    """How a value that is not a run, a tuple or a dict differs, in words; ``None`` when it agrees."""
    if isinstance(expected, dict) and "array" in expected:
        if not (isinstance(got, dict) and "array" in got):
            return f"{what} should be a NumPy array of shape {tuple(expected['shape'])}, got {_describe(got)}"
        if got.get("shape") != expected["shape"]:
            return f"{what} has shape {tuple(got.get('shape') or ())}, expected {tuple(expected['shape'])}"
        if got.get("dtype") != expected["dtype"]:
            return f"{what} has dtype {got.get('dtype')}, expected {expected['dtype']}"
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
    if isinstance(expected, float) or (isinstance(expected, dict) and "float" in expected):
        expected, number = _number(expected), _number(got)
        if number is None:
            return f"{what} should be a number, got {_describe(got)}"
        if not (math.isfinite(expected) and math.isfinite(number)):  # NaN and infinities: only the same one
            same = number == expected or (math.isnan(number) and math.isnan(expected))
            return None if same else f"{what} is {number!r}, expected {expected!r}"
        rtol, atol = TOLERANCES["float64"]
        return None if math.isclose(number, expected, rel_tol=rtol, abs_tol=atol) else f"{what} has the wrong value"
    if got == expected and type(got) is type(expected):
        return None
    if isinstance(got, (bool, int, float, str)) and isinstance(expected, (bool, int, float, str)):
        return f"{what} is {got!r}, expected {expected!r}"
    return f"{what} should be {_describe(expected)}, got {_describe(got)}"


def _number(encoded: Any) -> float | None:
    """The number an encoding holds (NaN and infinities are encoded as ``{"float": "nan"}``), or None."""
    if isinstance(encoded, dict) and isinstance(encoded.get("float"), str):
        try:
            return float(encoded["float"])
        except ValueError:
            return None
    if isinstance(encoded, (int, float)) and not isinstance(encoded, bool):
        return float(encoded)
    return None


def _items(encoded: Any) -> list | None:
    """The items of an encoded iterator or list, or None if it is neither."""
    if isinstance(encoded, dict):
        items = encoded.get("sequence", encoded.get("tuple"))
        return items if isinstance(items, list) else None
    return None


def _describe(encoded: Any) -> str:
    if encoded is None:
        return "None (did you forget to return it?)"
    if isinstance(encoded, dict):
        if "unsupported" in encoded:
            what = str(encoded["unsupported"])
            return what if " " in what else f"an object of type {what}"
        if "tuple" in encoded:
            items = encoded["tuple"] if isinstance(encoded["tuple"], list) else []
            if items and all(isinstance(i, dict) and "optimizer" in i for i in items):
                return f"a list of {len(items)} optimizer{'s' * (len(items) != 1)} ({', '.join(map(_show, items))})"
            return f"a tuple or list of {len(encoded['tuple'])} values"
        if "module" in encoded:
            return f"a network, {_show(encoded)}"
        if "optimizer" in encoded:
            return f"an optimizer, {_show(encoded)}"
        if "sequence" in encoded:
            return "an iterator"
        if "array" in encoded:
            return f"a NumPy array of shape {tuple(encoded.get('shape') or ())}"
        if "dict" in encoded:
            return f"a dict with the keys {', '.join(map(repr, encoded['dict'])) or '(none)'}"
        if "float" in encoded:
            return "a number"
    if isinstance(encoded, bool):
        return f"the bool {encoded!r}"
    if isinstance(encoded, int):
        return f"the int {encoded!r}"
    if isinstance(encoded, float):
        return f"the number {encoded!r}"
    if isinstance(encoded, str):
        return f"the string {encoded[:40]!r}"
    return f"a {type(encoded).__name__}"


def judge(spec: dict, case: dict, observation: dict) -> Verdict:
    """Decide whether an observation of one case is right, and if not, say what is wrong.

    Never raises: an observation that cannot be read (what a hostile function might produce) is a failed case.
    """
    try:
        with np.errstate(all="ignore"):
            return _judge(spec, case, observation)
    except Exception as exc:  # noqa: BLE001
        name = spec.get("name", "the function") if isinstance(spec, dict) else "the function"
        returns = spec.get("returns", "its result") if isinstance(spec, dict) else "its result"
        return Verdict(False, f"{name} returned something the checks cannot read ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); it should return {returns}.")


def _judge(spec: dict, case: dict, observation: dict) -> Verdict:
    name, returns, parts = spec["name"], spec["returns"], spec.get("parts")
    if not isinstance(observation, dict):
        return Verdict(False, f"{name} could not be run on this case: no result came back.")
    if "expect_error" in case:
        return _expected_error_verdict(spec, case, observation)
    if "error" in observation:
        return _error_verdict(spec, case, observation)
    if observation.get("global_state_dependent"):
        # The exercise's own title when it catalogues this mistake under the id "global_state" ("sampling with
        # NumPy's global random state", say), else the mini-batches' one.
        catalogued = spec.get("mistakes", {}).get("global_state")
        title = catalogued["title"] if catalogued else "shuffling with NumPy's global random state"
        return Verdict(
            False,
            f"{returns} changes with NumPy's global random state, for the same rng: the function draws from "
            "np.random (np.random.shuffle, np.random.permutation, np.random.uniform, ...) instead of the rng it is "
            "given.",
            mistake=title,
        )
    names = step_names(case)
    modified = observation.get("modified") or []
    if modified:
        args = ", ".join(f"`{a}`" for a in modified)
        at_step = (" " + _step_phrase(names, observation["modified_at_step"], "at step {step}")
                   if "modified_at_step" in observation else "")
        if any(_is_network_argument(case["args"].get(a)) for a in modified):
            advice = ("The network you are given must stay as it was (a pretrained network is reused by every "
                      "experiment): build the new one from copies of its layers (copy.deepcopy), and never assign "
                      "into its layers, its list of layers or its arrays.")
        elif any(isinstance(case["args"].get(a), dict) and "dict" in case["args"][a] for a in modified):
            advice = ("Return a new state instead: a new dict (`dict(state)` makes one) holding new arrays "
                      "(`x = a * x + b` builds a new array; `x *= a` and `x += b` change the caller's), so that the "
                      "caller's state stays as it was.")
        else:
            advice = ("Build and return a new array instead (write `x = x - ...`, not `x -= ...`; copy an array "
                      "before changing entries of it).")
        return Verdict(False, f"{name} changed its input {args} in place{at_step}. {advice}",
                       mistake="modifying an input in place")
    expected, got = case["expected"], observation.get("output")
    shared = None if spec.get("shares_inputs") else observation.get("shares_memory")
    if shared and "steps" in case and isinstance(got, dict) and isinstance(got.get("steps"), list):
        expected = {"steps": expected["steps"][:len(got["steps"])]}  # the run stopped at the shared output
    found = problems(expected, got, returns, parts=parts, step_names=names)
    if not found and spec.get("shares_inputs") and observation.get("unshared"):
        what = _output_name(observation["unshared"][0], returns, parts)
        return Verdict(
            False,
            f"{what} shares memory with no input: it holds a copy of the parameter, not the model's own array. An "
            "optimizer updates the arrays it is given, in place, so it would train the copies while the network "
            "keeps its weights. Give it the arrays of model.parameters() themselves (the same objects).",
            mistake=COPIED_PARAMETERS)
    if not found and shared:
        first = shared[0]
        what = _output_name(first["output"], returns, parts)
        source = _input_name(first["input"])
        title = spec.get("shares_memory_title") or SHARES_MEMORY
        if any(str(p).startswith(".parameters()") for p in first["output"]):  # an array of the input network
            return Verdict(
                False,
                f"{what} shares memory with {source} (np.shares_memory is True): the new network and the one it "
                "was made from hold the same array, so training one changes the other. Copy the layers "
                "(copy.deepcopy) instead of reusing them.", mistake=title)
        step = observation.get("shares_memory_at_step")
        at_step = " " + _step_phrase(names, step) if step else ""
        return Verdict(
            False,
            f"{what}{at_step} shares memory with the input {source} (np.shares_memory is True): it is that array, "
            f"or a view of it. When the caller changes {source} afterwards (a training loop refills one gradient "
            f"array at every step), {what} changes with it. Return a new array: a copy (np.copy, np.array) or the "
            "result of arithmetic, which builds one; torch clones the gradient into its first momentum buffer.",
            mistake=title)
    if not found:
        return Verdict(True)
    problem = "; ".join(p.message for p in found)
    for mistake_id, output in case.get("mistakes", {}).items():
        if difference(output, observation.get("output"), returns, parts) is None:
            mistake = spec["mistakes"][mistake_id]
            return Verdict(False, f"{problem}.", mistake=mistake["title"])
    for diagnose in [_diagnose_layout, _diagnose_structure, _diagnose_dtype, DIAGNOSES.get(spec.get("diagnose")),
                     _diagnose_run]:
        try:
            result = diagnose(spec, case, observation, found) if diagnose else None
        except Exception:  # noqa: BLE001 — a diagnosis that cannot be made is not offered
            result = None
        if result:
            title, explanation = result
            return Verdict(False, f"{problem}: {explanation}", mistake=title)
    return Verdict(False, f"{problem}.")


def _expected_error_verdict(spec: dict, case: dict, observation: dict) -> Verdict:
    """The verdict on a case where the function must raise (``case["expect_error"]``)."""
    name, wanted = spec["name"], case["expect_error"]
    error = observation.get("error")
    if isinstance(error, dict) and error.get("type") == wanted["type"]:
        return Verdict(True)
    if isinstance(error, dict) and error.get("type") == "NotImplementedError":
        return Verdict(False, f"{name} is not implemented yet.", not_implemented=True)
    if error is not None:
        kind = error.get("type", "an exception") if isinstance(error, dict) else "an exception"
        return Verdict(False, f"{name} raised {kind} here; it should raise {wanted['type']}")
    return Verdict(False, f"{name} returned a result here; it should raise {wanted['type']}",
                   mistake=wanted["mistake"])


def _error_verdict(spec: dict, case: dict, observation: dict) -> Verdict:
    """The verdict on a call that raised; in a run, a step before that already differs is reported first."""
    name, returns, parts = spec["name"], spec["returns"], spec.get("parts")
    error = observation["error"] if isinstance(observation["error"], dict) else {"message": observation["error"]}
    kind, message = str(error.get("type", "an exception")), str(error.get("message", ""))
    step = error.get("step")
    names = step_names(case)
    earlier = observation.get("output")
    if "steps" in case and isinstance(earlier, dict) and isinstance(earlier.get("steps"), list) and earlier["steps"]:
        done = len(earlier["steps"])
        found = problems({"steps": case["expected"]["steps"][:done]}, earlier, returns, parts=parts,
                         step_names=names)
        if found:
            if step and names:
                then = f" (and then it raised {kind} {_step_phrase(names, step)})"
            else:
                then = f" (and step {step} then raised {kind})" if step else ""
            verdict = _judge(spec, case, {"output": earlier, "modified": []})
            verdict.message = verdict.message.rstrip(".") + then + "."
            return verdict
    if kind == "NotImplementedError":
        return Verdict(False, f"{name} is not implemented yet.", not_implemented=True)
    try:  # the exercise's own diagnosis may recognize the error (dropout dividing by 1 - p = 0)
        diagnose = DIAGNOSES.get(spec.get("diagnose"))
        result = diagnose(spec, case, observation, []) if diagnose else None
    except Exception:  # noqa: BLE001 — a diagnosis that cannot be made is not offered
        result = None
    if result:
        title, explanation = result
        return Verdict(False, f"{name} raised {kind}: {explanation}", mistake=title)
    at_step = " " + _step_phrase(names, step, "at step {step}") if step else ""
    return Verdict(False, f"{name} raised {kind}{at_step}: {message}")


SHARES_MEMORY = "an output that shares memory with an input"
COPIED_PARAMETERS = "copies of the parameters instead of the model's own arrays"


def _is_network_argument(encoded: Any) -> bool:
    """Whether a case's argument is a network made by the case factory ``mlp``."""
    return isinstance(encoded, dict) and encoded.get("function") == "mlp"


def _is_object_path(path: list) -> bool:
    """Whether a path (see :func:`_arrays_in`) leads into a network or an optimizer."""
    return any(isinstance(p, str) and p.startswith(".") for p in path)


def _path_text(path: list) -> str:
    """``[".params['0.weight']"]`` -> ``.params['0.weight']``; ``["exp_avg"]`` -> ``['exp_avg']``."""
    return "".join(p if isinstance(p, str) and p.startswith(".") else f"[{p!r}]" for p in path)


def _output_name(path: list, returns: str, parts: list[str] | None) -> str:
    """``[1, "momentum_buffer"]`` -> "state['momentum_buffer']" (with parts ["the parameter", "state"])."""
    if not path:
        return returns
    head, rest = path[0], path[1:]
    if isinstance(head, str) and head.startswith("."):  # the output is a network: `parameters()['0.weight']` of it
        return f"`{_path_text(path)[1:]}` of {returns}"
    name = parts[head] if parts and isinstance(head, int) and head < len(parts) else f"item {head} of {returns}"
    if rest and _is_object_path(rest[:1]):
        return f"`{_path_text(rest)[1:]}` of {name}"
    return name + _path_text(rest)


def _input_name(path: list) -> str:
    return f"`{path[0]}" + _path_text(path[1:]) + "`"


# --------------------------------------------------------------------------------------------------------------
# Diagnoses: a classic mistake recognized from the structure of the output, offered only on evidence.

LAYOUT_MISTAKE = "wrong results for an input that is not C-contiguous"
SWAPPED = "returning (state, param) instead of (param, state)"
FLOAT64_LEAK = "float64 leaking into a float32 computation"
PARAM_RIGHT_STATE_WRONG = "parameter right, state wrong"
STATE_RIGHT_PARAM_WRONG = "state right, parameter wrong"
VELOCITY_FORM = "momentum's velocity form (v = -lr * buffer) stored as the buffer"


def _diagnose_layout(spec, case, observation, found):
    """Right on C-contiguous copies of the inputs, wrong on the inputs as given."""
    if "contiguous_output" not in observation:
        return None
    if problems(case["expected"], observation["contiguous_output"], spec["returns"], parts=spec.get("parts")):
        return None
    arguments = dict(case["args"])
    for name, values in case.get("steps", {}).get("vary", {}).items():
        arguments[name] = next((v for v in values if isinstance(v, dict) and v.get("layout")), None)
    described = [f"`{name}` is {SHORT_LAYOUTS[value['layout']]}" for name, value in arguments.items()
                 if isinstance(value, dict) and value.get("layout") in SHORT_LAYOUTS]
    inputs = ", ".join(described) or "an input is not C-contiguous"
    return (LAYOUT_MISTAKE,
            f"on C-contiguous copies of the same inputs your function is right, so it depends on their memory "
            f"layout ({inputs}). `reshape(-1)` and `ravel()` of such an array make a copy, so writing into them "
            "changes nothing, and np.empty_like keeps the layout")


def _diagnose_structure(spec, case, observation, found):
    """An update that returns (state, param)."""
    step = found[0].step
    output = _step_output(observation, step)
    items = output.get("tuple") if isinstance(output, dict) else None
    if not (spec.get("parts") and isinstance(items, list) and len(items) == 2):
        return None
    first, second = items
    if isinstance(first, dict) and "dict" in first and isinstance(second, dict) and "array" in second:
        at = " " + _step_phrase(step_names(case), step, "at step {step}") if step else ""
        return (SWAPPED, f"{spec['name']} returned the state first and the parameter second{at}; the caller "
                         "unpacks `new_param, new_state = ...`")
    return None


def _step_output(observation, step):
    output = observation.get("output")
    if step and isinstance(output, dict) and isinstance(output.get("steps"), list) and len(output["steps"]) >= step:
        return output["steps"][step - 1]
    return output


def _diagnose_dtype(spec, case, observation, found):
    """float32 inputs, float64 outputs."""
    leaked = [p.quantity for p in found if isinstance(p.expected, dict) and isinstance(p.got, dict)
              and p.expected.get("dtype") == "float32" and p.got.get("dtype") == "float64"]
    if not leaked:
        return None
    at = " " + _step_phrase(step_names(case), found[0].step) if found[0].step else ""
    in_state = [q for q in leaked if q.startswith("state")]
    if in_state:
        cause = (f"{', '.join(in_state)}{at} became float64: an array started with np.zeros(shape) or "
                 "np.full(shape, value) is float64 whatever the parameter's dtype; use np.zeros_like(param) or "
                 "dtype=param.dtype")
    else:
        cause = (f"{', '.join(leaked)}{at} became float64 although every input is float32: under NumPy 2's "
                 "promotion rules a NumPy float64 scalar (np.sqrt(1 - beta2**t), np.float64(lr), an np.mean) "
                 "turns a float32 array into float64, where a Python float (math.sqrt, float(...)) does not")
    return FLOAT64_LEAK, cause


def _diagnose_run(spec, case, observation, found):
    """Optimizer runs: the velocity form of momentum; the parameter right but not the state, or the reverse."""
    parts = spec.get("parts") or []
    if "steps" not in case or len(parts) != 2 or case["steps"].get("carry") != ["param", "state"]:
        return None
    param_name, state_name = parts
    step = found[0].step
    if step is None or any(p.step != step for p in found):
        return None
    at = _step_phrase(step_names(case), step)
    quantities = [p.quantity for p in found]
    state_problems = all(q.startswith(f"{state_name}[") for q in quantities)
    if state_problems and quantities == [f"{state_name}['momentum_buffer']"]:
        p = found[0]
        lr = case["args"].get("lr")
        if isinstance(lr, (int, float)) and lr > 0 and isinstance(p.got, dict) and "array" in p.got:
            exp, got = decode(p.expected), decode(p.got)
            if exp.shape == got.shape and np.allclose(got, -lr * exp, rtol=1e-6, atol=1e-9):
                return (VELOCITY_FORM,
                        f"the parameter is right, but the buffer {at} is -lr times torch's "
                        "momentum_buffer: you stored the velocity v = momentum * v - lr * g of Sutskever's form. "
                        "torch keeps b = momentum * b + g and steps by -lr * b")
    if state_problems:
        return (PARAM_RIGHT_STATE_WRONG,
                f"{param_name} {at} is right, but {', '.join(quantities)} is not: the step uses the "
                "right numbers, but the state you return, which the next step starts from, holds something else")
    expected_state = _step_output({"output": case["expected"]}, step)
    state_has_arrays = (isinstance(expected_state, dict) and isinstance(expected_state.get("tuple"), list)
                        and any(isinstance(v, dict) and "array" in v
                                for v in expected_state["tuple"][1].get("dict", {}).values()))
    if quantities == [param_name] and state_has_arrays:
        return (STATE_RIGHT_PARAM_WRONG,
                f"every entry of {state_name} {at} is right, but {param_name} is not: the state is "
                "updated correctly, so look at how the step turns it into the change of the parameter")
    return None


def _batches(encoded_items: list) -> list[np.ndarray] | None:
    """The batches as integer arrays, or None when some batch is not a sequence of integers."""
    batches = []
    for item in encoded_items:
        if isinstance(item, dict) and "array" in item:
            batch = decode(item)
        elif isinstance(item, dict) and isinstance(item.get("tuple"), list) and all(
                isinstance(v, int) and not isinstance(v, bool) for v in item["tuple"]):
            batch = np.array(item["tuple"], dtype=np.int64)
        else:
            return None
        if batch.dtype.kind not in "iu" or batch.ndim != 1:
            return None
        batches.append(batch)
    return batches


def _diagnose_batches(spec, case, observation, found):
    """Name the classic mistakes of a mini-batch iterator from the structure of the batches it produced."""
    args = {k: decode(v) for k, v in case["args"].items() if k != "rng"}
    n, batch_size = args["n"], args["batch_size"]
    shuffle, drop_last = args.get("shuffle", True), args.get("drop_last", False)
    output, expected = observation.get("output"), case["expected"]
    items = _items(output)
    if items is None or (isinstance(output, dict) and output.get("truncated")):
        return None  # not batches at all, or never ending: the message says so, and there is nothing to add
    if items and all(isinstance(i, dict) and "tuple" in i for i in items) and _batches(items) is not None:
        return ("yielding lists instead of index arrays",
                "each batch is a Python list (or tuple); yield NumPy integer arrays, slices of one index array")
    batches = _batches(items)
    if batches is None:
        return None
    sizes = [len(b) for b in batches]
    expected_items = expected["sequence"]
    expected_sizes = [len(e["array"]) for e in expected_items]
    seen = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    in_range = bool(np.all((seen >= 0) & (seen < n)))
    unique = len(np.unique(seen)) == len(seen)
    if drop_last and n % batch_size == 0 and n >= batch_size:
        if not batches:
            return ("no batches at all when batch_size divides n",
                    f"n = {n} is a multiple of batch_size = {batch_size}, and the epoch is empty: "
                    "`order[:-(n % batch_size)]` is `order[:0]` then (-0 is 0), so cut at `n - n % batch_size`")
        if len(items) == len(expected_items) - 1 and all(_same(g, e) for g, e in zip(items, expected_items)):
            return ("dropping a full last batch when batch_size divides n",
                    "the last batch is full, yet it is missing: drop_last only leaves out a batch *shorter* than "
                    "batch_size (compare with `>`, not `>=`)")
    if not in_range:
        return None
    if not unique and sizes == expected_sizes:
        return ("mini-batches that repeat samples",
                "some indices appear twice in one epoch, so others are never visited (drawing with replacement, "
                "e.g. rng.integers or rng.choice, instead of one permutation?)")
    if not unique:
        return None, (f"some indices appear more than once (the batch sizes are {sizes}, expected "
                      f"{expected_sizes})")
    if len(seen) < n and not drop_last:
        missing = n - len(seen)
        if missing == n % batch_size and all(s == batch_size for s in sizes):
            return ("dropping the last partial batch",
                    f"the last {missing} samples are missing: keep the shorter last batch unless drop_last=True")
        return ("mini-batches that drop samples", f"{missing} of the {n} samples are never visited")
    if drop_last and n % batch_size and sizes == expected_sizes + [n % batch_size]:
        return ("keeping the last partial batch although drop_last=True",
                f"the last batch has only {n % batch_size} indices: drop_last=True leaves such a batch out")
    if sizes != expected_sizes:
        return None, f"the batch sizes are {sizes}, expected {expected_sizes}"
    if shuffle and np.array_equal(seen, np.arange(len(seen))):
        return ("not shuffling", "the indices come in order 0, 1, 2, ... although shuffle=True")
    if shuffle and "rng" in observation.get("rng_untouched", []):
        return ("not using the given rng", "the order is shuffled, but not with the rng that was passed in")
    if shuffle:
        return ("an epoch order that is a valid shuffle but not rng.permutation(n)",
                "every index comes once, in a shuffled order, but not the order of rng.permutation(n) for this "
                "rng: draw the order with one call to rng.permutation(n) at the start of the epoch")
    if not np.array_equal(seen, np.arange(len(seen))):
        return None, "with shuffle=False the indices should come in order 0, 1, 2, ..."
    return None


def _diagnose_gradient(spec, case, observation, found):
    """A numerical gradient that ignores its step h: much closer to the exact gradient than the centred difference
    with that h can be (its error is of order h**2)."""
    f = case["args"].get("f")
    x, h = decode(case["args"]["x"]), case["args"].get("h", 1e-5)
    got = observation.get("output")
    if not (isinstance(f, dict) and f.get("function") in CASE_GRADIENTS and isinstance(got, dict) and "array" in got):
        return None
    got, expected = decode(got), decode(case["expected"])
    if got.shape != x.shape or got.dtype.kind != "f" or not np.all(np.isfinite(got)):
        return None
    exact = CASE_GRADIENTS[f["function"]](x)
    error, expected_error = np.max(np.abs(got - exact), initial=0), np.max(np.abs(expected - exact), initial=0)
    if expected_error > 1e-9 and error < 0.01 * expected_error:
        return ("the step h ignored",
                f"your values are much closer to the exact gradient than a centred difference with the h = {h:g} "
                "passed in can be (its error is of order h**2): the function uses another step")
    return None


DROPOUT_SWAPPED = "keep and drop probabilities swapped"
DROPOUT_OTHER_MASK = "a mask other than the one given"
NEW_MASK_IN_BACKWARD = "a new mask in backward"
DROPOUT_NAN_AT_ONE = "NaN at p = 1"
_NAN_AT_ONE = ("at p = 1 every unit is dropped and the keep probability 1 - p is 0, so dividing by it gives 0 / 0 = "
               "NaN: when p == 1, return an array of exact zeros shaped like the input, as torch does")


def _diagnose_dropout(spec, case, observation, found):
    """Dropout whose zeros are in the wrong places: for ``dropout_mask``, a fraction kept near p instead of
    1 - p (the keep probability used as the drop probability); for ``dropout_forward`` and ``dropout_backward``
    (in training, 0 < p < 1, on inputs without zeros), zeros that are not where ``keep`` is False: a mask drawn
    anew (in backward) or the probabilities swapped."""
    args, got = case["args"], observation.get("output")
    p = args.get("p")
    error = observation.get("error")
    if isinstance(error, dict):  # a call that raised: only the division by 1 - p = 0 is recognized
        return (DROPOUT_NAN_AT_ONE, _NAN_AT_ONE) if (
            p == 1 and "keep" in args and error.get("type") == "ZeroDivisionError") else None
    if p == 1 and "keep" in args and args.get("training", True) is not False and isinstance(got, dict) and (
            "array" in got):
        out = decode(got)
        if out.dtype.kind == "f" and np.isnan(out).any():
            return DROPOUT_NAN_AT_ONE, _NAN_AT_ONE
    if not (isinstance(p, (int, float)) and 0 < p < 1 and isinstance(got, dict) and "array" in got):
        return None
    got = decode(got)
    if "keep" not in args:  # dropout_mask: the fraction of entries kept
        if got.dtype != np.bool_ or got.size < 200 or abs(p - 0.5) < 0.15:
            return None
        kept = float(np.mean(got))
        if abs(kept - p) < 0.05 and abs(kept - (1 - p)) > 0.1:
            return (DROPOUT_SWAPPED,
                    f"{kept:.0%} of the entries are kept, close to p = {p:g}: p is the probability of dropping "
                    f"(torch's convention), so about {1 - p:.0%} should be kept")
        return None
    keep = decode(args["keep"])
    source = decode(args["x"] if "x" in args else args["dout"])
    if args.get("training", True) is False or got.shape != keep.shape or np.any(source == 0):
        return None
    zeros = got == 0
    if np.array_equal(zeros, ~keep):
        return None
    dropped = float(np.mean(zeros))
    if spec["name"] == "dropout_backward":
        return (NEW_MASK_IN_BACKWARD,
                f"the zeros of the gradient are not where keep is False ({dropped:.0%} of the entries are zero, "
                "in other places): backward must use the mask of the forward pass, the keep it is given, not draw "
                "a new one; otherwise the gradient is that of another network")
    if got.size >= 50 and abs(p - 0.5) >= 0.15 and abs(dropped - (1 - p)) < 0.1:
        return (DROPOUT_SWAPPED,
                f"{dropped:.0%} of the entries are zero, close to 1 - p = {1 - p:g}: p is the probability of "
                "dropping, and the entries to zero are exactly those where keep is False")
    return (DROPOUT_OTHER_MASK,
            "the zeros of the output are not where keep is False: the function should use the mask it is given "
            "(zero exactly the entries where keep is False), not draw its own")


RNG_NOT_USED = "not using the given rng"


def _diagnose_rng(spec, case, observation, found):
    """Random values that do not come from the generator passed in: the rng argument was never drawn from."""
    untouched = [name for name in observation.get("rng_untouched", [])
                 if isinstance(case["args"].get(name), dict) and "rng" in case["args"][name]]
    if not untouched:
        return None
    return (RNG_NOT_USED,
            f"`{untouched[0]}` was never drawn from: the random values must come from the generator passed in, "
            "so that the caller decides them (a generator made inside the function gives the same values "
            "whatever the caller passes)")


GRID_OVER_BUDGET = "a grid that ignores the budget: more configurations than the budget"


def _diagnose_grid(spec, case, observation, found):
    """A grid with more configurations than its budget, whatever the points (budget points per axis, a rounded
    root, ...): the budget is what makes a grid and a random search comparable."""
    budget = case["args"].get("budget")
    got = observation.get("output")
    items = got.get("tuple") if isinstance(got, dict) else None
    if type(budget) is int and isinstance(items, list) and len(items) > budget:
        return GRID_OVER_BUDGET, (
            f"{len(items)} configurations for a budget of {budget}. The budget counts configurations (trials), "
            "not points per axis: with k continuous axes of m points each and c combinations of the choices, the "
            "grid has c * m**k of them, so take the largest m for which that is at most the budget.")
    return None


DIAGNOSES: dict[str, Callable] = {"batches": _diagnose_batches, "gradient": _diagnose_gradient,
                                  "dropout": _diagnose_dropout, "rng": _diagnose_rng, "grid": _diagnose_grid}


# --------------------------------------------------------------------------------------------------------------
# Messages and the notebook entry point.


def format_case(case: dict) -> str:
    """The arguments of a case, one per line, as a student would write them; a run shows each step's values
    (numbers on a few lines: ``t = 0, 1, 2, ..., 59``, ``metric = one per step: [1.0, 0.9, ...]``)."""
    vary = case["steps"]["vary"] if "steps" in case else {}
    width = max(map(len, [*case["args"], *vary]), default=0)
    lines = []
    for name, value in case["args"].items():
        prefix = f"    {name:<{width}} = "
        if isinstance(value, dict) and "rng" in value:
            shown = f"np.random.default_rng({value['rng']})"
        elif _is_network_argument(value):
            shown = _show_network(value.get("kwargs", {})) + "  (a fresh one for each call)"
        elif isinstance(value, dict) and value.get("function") in CASE_CLASSES:
            shown = f"{CASE_CLASSES[value['function']]}.{value['function']}  (the class itself)"
        elif isinstance(value, dict) and "function" in value and "kwargs" in value:
            settings = ", ".join(f"{k}={_show(v)}" for k, v in value["kwargs"].items())
            shown = f"{value['function']}({settings})  (a fresh one from optimlab.check for each call)"
        elif isinstance(value, dict) and "function" in value:
            shown = f"{value['function']} (a test function of optimlab.check)"
        else:
            shown = _show(value, indent=len(prefix))
        lines.append(prefix + shown)
    for name, values in vary.items():
        prefix = f"    {name:<{width}} = "
        if values and all(_is_number(v) for v in values):
            lines.append(prefix + _show_numbers(values, indent=len(prefix)))
            continue
        for k, value in enumerate(values, start=1):
            step = f"step {k}: "
            lines.append((prefix if k == 1 else " " * len(prefix)) + step + _show(value, indent=len(prefix + step)))
    if vary:
        carried = " and ".join(name for name in case["steps"]["carry"] if name is not None)
        if carried:
            lines.append(f"    (each step calls the function again with the {carried} that the step before returned)")
        else:
            lines.append(f"    (one call for each {' and '.join(vary)}, with the other arguments as above)")
    return "\n".join(lines)


def _show_network(kwargs: dict) -> str:
    """A network argument as the call that builds it: ``nn.mlp([4, 6, 3], rng=np.random.default_rng(1))``."""
    settings = {k: decode(v) for k, v in kwargs.items()}
    sizes = list(settings.get("sizes", ()))
    text = f"nn.mlp({sizes}, rng=np.random.default_rng({settings.get('seed', 0)})"
    if settings.get("dtype", "float64") != "float64":
        text += f", dtype=np.{settings['dtype']}"
    text += ")"
    if settings.get("end_with_relu"):
        text = f"nn.Sequential(*{text}.layers, nn.ReLU())"
    if settings.get("layout") in LAYOUTS:
        text += f", every weight {LAYOUTS[settings['layout']]}"
    return text


def _is_number(encoded: Any) -> bool:
    return (isinstance(encoded, (int, float)) and not isinstance(encoded, bool)) or (
        isinstance(encoded, dict) and set(encoded) == {"float"})


def _show_numbers(encoded: list, indent: int) -> str:
    """A run's numbers: a range of whole numbers as ``0, 1, 2, ..., 59``; others as a list, wrapped at 100
    characters with continuation lines indented by ``indent``."""
    if len(encoded) >= 4 and all(isinstance(v, int) for v in encoded) and all(
            b - a == 1 for a, b in zip(encoded, encoded[1:])):
        return f"{encoded[0]}, {encoded[1]}, {encoded[2]}, ..., {encoded[-1]}"
    head = "one per step: ["
    lines, line = [], head
    for i, value in enumerate(encoded):
        item = _show(value) + (", " if i < len(encoded) - 1 else "]")
        if len(line) + len(item) > 100 - indent and line.strip() and line != head:
            lines.append(line.rstrip())
            line = " " * len(head)
        line += item
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


def _show(encoded: Any, indent: int = 12) -> str:
    """A short printable form of an encoded value; continuation lines are indented by ``indent``."""
    if isinstance(encoded, dict) and "array" in encoded:
        array = decode(encoded)
        text = np.array2string(array, precision=6, separator=", ", threshold=30, max_line_width=100)
        suffix = f", dtype={array.dtype}" if array.dtype.kind == "f" and array.dtype != np.float64 else ""
        if encoded.get("layout") in LAYOUTS:
            suffix += f"  ({LAYOUTS[encoded['layout']]})"
        return text.replace("\n", "\n" + " " * indent) + suffix
    if isinstance(encoded, dict) and ("sequence" in encoded or "tuple" in encoded):
        items = _items(encoded) or []
        more = ", ..." if len(items) > 8 else ""
        return "[" + ", ".join(_show(item, indent) for item in items[:8]) + more + "]"
    if isinstance(encoded, dict) and "dict" in encoded:
        return "{" + ", ".join(f"{k!r}: {_show(v, indent)}" for k, v in encoded["dict"].items()) + "}"
    if isinstance(encoded, dict) and isinstance(encoded.get("module"), dict):
        module = encoded["module"]
        return f"{module.get('class')}({', '.join(str(layer) for _, layer in module.get('layers', []))})"
    if isinstance(encoded, dict) and isinstance(encoded.get("optimizer"), dict):
        optimizer = encoded["optimizer"]
        lr = _number(optimizer.get("lr"))
        names = ", ".join(map(repr, (optimizer.get("params") or {}).get("dict", {})))
        return f"{optimizer.get('class')}(lr={lr:.6g}; {names})" if lr is not None else f"{optimizer.get('class')}"
    if isinstance(encoded, dict) and "float" in encoded:
        return str(encoded["float"])
    if isinstance(encoded, dict) and "unsupported" in encoded:
        return f"<{_describe(encoded)}>"
    return repr(encoded)[:2000]


def explain(spec: dict, case: dict, observation: dict, verdict: Verdict) -> str:
    """The full message for a failing case: what is wrong, the case, expected vs got, the mistake's name."""
    try:
        with np.errstate(all="ignore"):
            return _explain(spec, case, observation, verdict)
    except Exception:  # noqa: BLE001 — an unreadable observation still gets the verdict's words
        return f"{spec.get('name', 'the function')} is not right yet: {verdict.message}"


def _explain(spec: dict, case: dict, observation: dict, verdict: Verdict) -> str:
    lines = [f"{spec['name']} is not right yet: {verdict.message}", f"  On the case \"{case['label']}\":",
             format_case(case)]
    returned = isinstance(observation, dict) and "output" in observation and "error" not in observation
    shared = observation.get("shares_memory") if returned and not spec.get("shares_inputs") else None
    shown = (returned and "expect_error" not in case and not observation.get("modified")
             and not observation.get("global_state_dependent") and not shared)
    if "expect_error" in case:
        lines.append(f"  expected: it raises {case['expect_error']['type']}")
        if returned:
            lines.append(f"  got:      {_show(observation['output'])}")
    if shown and ("steps" in case or _holds_object_encodings(case["expected"])):
        for problem in problems(case["expected"], observation["output"], spec["returns"], parts=spec.get("parts"),
                                step_names=step_names(case))[:3]:
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


def _holds_object_encodings(encoded: Any) -> bool:
    """Whether an encoded output is, or holds, a network or an optimizer (shown quantity by quantity)."""
    if isinstance(encoded, dict):
        if "module" in encoded or "optimizer" in encoded:
            return True
        items = encoded.get("tuple")
        return isinstance(items, list) and any(_holds_object_encodings(i) for i in items)
    return False


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
    that still raises ``NotImplementedError`` gets that error back, shown as its one line: implement the function
    first.
    """
    spec = load_spec(name)
    fn = getattr(importlib.import_module(f"{__package__}.{spec['module']}"), name, None)
    if not inspect.isfunction(fn):
        raise CheckFailed(f"optimlab.{spec['module']}.{name} should be a function, found {fn!r}")
    try:
        passed, failure = run_check(spec, fn)
    except NotImplementedError as stub:
        raise _short(stub, name) from None
    total = len(spec["cases"])
    if failure:
        raise CheckFailed(f"{failure}\n  ({passed} of {total} cases pass.)")
    print(f"✔ {name}: all {total} cases pass.")


def _short(error: NotImplementedError, name: str) -> NotImplementedError:
    """The stub's own error, shown in a notebook as one line instead of a traceback through this module."""
    message = str(error) or f"{name} is not implemented yet"
    error._render_traceback_ = lambda: ["\x1b[31m✘ " + message + "\x1b[0m"]
    return error.with_traceback(None)
