"""The kernel side of notebook grading: turn a student's answers into plain data. Runs inside the sandbox.

The grader replaces every test cell of a student's notebook by one line::

    __import__("_answers").export("test-lr-max", ["lr_max"])

which encodes the current values of those names as JSON of strict types and displays it (MIME type
``application/vnd.optimlab.answers+json``). Nothing is decided here: the test itself runs later, in the grader's
own process, on what this printed. A student can change this module or what it prints; that only changes their
own answers, which are theirs to choose anyway.
"""

import json
import math
import sys

MIME = "application/vnd.optimlab.answers+json"
MAX_ELEMENTS = 1_000_000
MAX_STRING = 100_000
MAX_DEPTH = 12


def encode(value, depth=0, budget=None):
    """``value`` as JSON-able data of a fixed grammar; what does not fit becomes ``{"opaque": type name}``."""
    budget = budget if budget is not None else [MAX_ELEMENTS]
    kind = type(value)
    if depth > MAX_DEPTH:
        return {"opaque": "deeply nested data"}
    if value is None or kind is bool or kind is str and len(value) <= MAX_STRING:
        return value
    if kind is int:
        return value if abs(value) < 1 << 63 else {"opaque": "int too large"}
    if kind is float:
        return value if math.isfinite(value) else {"float": repr(value)}
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if kind is numpy.ndarray:
            if value.dtype.kind not in "biufc" or value.size > budget[0]:
                return {"opaque": f"ndarray of {value.dtype} with {value.size} elements"}
            budget[0] -= value.size
            flat = value.astype(numpy.complex128 if value.dtype.kind == "c" else value.dtype).ravel().tolist()
            if value.dtype.kind == "c":
                flat = [[z.real, z.imag] for z in flat]
            elif value.dtype.kind == "f":
                flat = [x if math.isfinite(x) else repr(x) for x in flat]
            return {"ndarray": {"dtype": str(value.dtype), "shape": list(value.shape), "data": flat}}
        if isinstance(value, numpy.generic) and kind in {numpy.dtype(c).type for c in "?bhilqBHILQefdg"}:
            item = value.item()
            return {"scalar": {"dtype": str(value.dtype),
                               "value": item if not isinstance(item, float) or math.isfinite(item) else repr(item)}}
    if kind in (list, tuple):
        if len(value) > budget[0]:
            return {"opaque": f"{kind.__name__} of {len(value)} items"}
        budget[0] -= len(value)
        return {kind.__name__: [encode(v, depth + 1, budget) for v in value]}
    if kind is dict:
        if len(value) > budget[0] or not all(type(k) is str for k in value):
            return {"opaque": "dict"}
        budget[0] -= len(value)
        return {"dict": [[k, encode(v, depth + 1, budget)] for k, v in value.items()]}
    return {"opaque": getattr(kind, "__name__", "object")[:60]}


def export(test_id, names):
    """Display the current values of ``names`` in the caller's namespace, for the test ``test_id``."""
    namespace = sys._getframe(1).f_globals
    answers = {}
    for name in names:
        if name not in namespace:
            answers[name] = {"missing": True}
            continue
        try:
            answers[name] = encode(namespace[name])
        except Exception as exc:  # noqa: BLE001 — a value whose methods raise is the student's
            answers[name] = {"opaque": f"unreadable value ({type(exc).__name__})"}
    from IPython.display import display

    display({MIME: json.dumps({"test": test_id, "answers": answers}), "text/plain": f"answers for {test_id}"},
            raw=True)
