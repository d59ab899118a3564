"""Notebook tests decided outside the student's kernel, on plain data.

**The rule for a test cell** (``solutions/CONVENTIONS.md`` says it for authors):

- it reads only the notebook's *answers* (names that the notebook's answer cells, ``solution: true``, bind)
  and the names of the :data:`PRELUDE` (``np``, ``math`` and the reference ``optimlab`` modules), each of which
  the notebook's locked cells import before the test; anything else it needs (a problem, a start point) it
  builds itself from those;
- it does not reach for the namespace (``globals``, ``locals``, ``vars``, ``eval``, ``exec``,
  ``get_ipython``, ``__import__``, ``open``).

:func:`check_convention` enforces this (the test suite runs it on every notebook). With it, a test's outcome
depends only on the values of its answers: in the student's run each test cell is replaced by an export of
those values as JSON of strict types (:mod:`autograder._answers`, inside the sandbox); here, in the grader's
process, the test runs on the decoded values in a fresh namespace whose other names come from the reference.
No transformer, monkeypatch, fake object or package trick in the student's kernel can reach it.

The public part of a test runs first; if it fails, its assertion message is the reason (the student sees that
test in their notebook anyway). If it passes and the hidden part fails, the reason says only that a hidden test
failed: neither its code nor its message leaves this module.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import math
import re
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import reference

MIME = "application/vnd.optimlab.answers+json"
PRELUDE_MODULES = ("problems", "losses", "data", "gd", "optim", "gradcheck", "schedules", "nn", "regularization",
                   "batchnorm", "search", "finetune", "rnn")
PRELUDE = ("np", "math", *PRELUDE_MODULES)
FORBIDDEN = ("globals", "locals", "vars", "eval", "exec", "get_ipython", "__import__", "open", "compile",
             "input", "breakpoint")
HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.S | re.M)
SECONDS_PER_TEST = 10
MAX_EXPORT = 8 << 20      # characters of one test's exported answers
MAX_ELEMENTS = 1_000_000


@dataclass(frozen=True)
class TestCell:
    grade_id: str
    points: float
    public: str             # the test as the student sees it
    full: str               # with its hidden part
    answers: tuple[str, ...]


def public_source(source: str) -> str:
    return HIDDEN.sub("", source)


def _bound_names(tree: ast.AST, *, top_level_only: bool) -> set[str]:
    names: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_Name(self, node):
            if isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)

        def visit_FunctionDef(self, node):
            names.add(node.name)
            if not top_level_only:
                for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                            *filter(None, [node.args.vararg, node.args.kwarg])]:
                    names.add(arg.arg)
                self.generic_visit(node)

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_Lambda(self, node):
            if not top_level_only:
                for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                            *filter(None, [node.args.vararg, node.args.kwarg])]:
                    names.add(arg.arg)
                self.generic_visit(node)

        def visit_ClassDef(self, node):
            names.add(node.name)
            if not top_level_only:
                self.generic_visit(node)

        def visit_alias(self, node):
            names.add((node.asname or node.name).split(".")[0])

        def visit_ExceptHandler(self, node):
            if node.name:
                names.add(node.name)
            self.generic_visit(node)

    Visitor().visit(tree)
    return names


def _parse(source: str) -> ast.AST:
    """Python source of a cell, with IPython's line magics (``%...``, ``!...``) left out."""
    lines = ["" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()]
    return ast.parse("\n".join(lines))


def free_names(source: str) -> set[str]:
    """The names a cell reads without binding them anywhere in itself (builtins aside)."""
    tree = _parse(source)
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return loaded - _bound_names(tree, top_level_only=False) - set(dir(builtins))


def _nbgrader(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def answer_names(nb: dict) -> set[str]:
    """The names the notebook's answer code cells bind at top level."""
    names: set[str] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and _nbgrader(cell).get("solution"):
            names |= _bound_names(_parse(_source(cell)), top_level_only=True)
    return names


def test_cells(notebook: Path) -> list[TestCell]:
    """The autograded test cells of a source (solutions) notebook, in order."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    answers = answer_names(nb)
    tests = []
    for cell in nb["cells"]:
        meta = _nbgrader(cell)
        if cell["cell_type"] == "code" and meta.get("grade") and not meta.get("solution"):
            full = _source(cell)
            used = free_names(full)
            tests.append(TestCell(meta["grade_id"], float(meta.get("points", 0)), public_source(full), full,
                                  tuple(sorted(used & answers))))
    return tests


def check_convention(notebook: Path) -> list[str]:
    """What breaks the rule for test cells in ``notebook``: one sentence per problem, empty when it holds."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    answers = answer_names(nb)
    problems, imported = [], set()
    for cell in nb["cells"]:
        meta = _nbgrader(cell)
        source = _source(cell)
        if cell["cell_type"] != "code":
            continue
        if not (meta.get("grade") and not meta.get("solution")):
            if not meta.get("solution"):
                imported |= _bound_names(_parse(source), top_level_only=True) & set(PRELUDE)
            continue
        grade_id = meta.get("grade_id", "?")
        tree = _parse(source)
        called = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)} & set(FORBIDDEN)
        attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        for name in sorted(called | (attributes & {"__globals__", "__builtins__", "__dict__"})):
            problems.append(f"{notebook.name} {grade_id}: uses {name}, which depends on the kernel's namespace")
        for name in sorted(free_names(source) - answers - set(PRELUDE)):
            problems.append(f"{notebook.name} {grade_id}: reads {name}, which is neither an answer nor in the "
                            f"prelude {', '.join(PRELUDE)} (build it in the test from those)")
        for name in sorted((free_names(source) & set(PRELUDE)) - imported):
            problems.append(f"{notebook.name} {grade_id}: reads {name}, which no locked cell before it imports")
        if not (free_names(source) & answers):
            problems.append(f"{notebook.name} {grade_id}: reads no answer of the notebook")
    return problems


# --------------------------------------------------------------------------------------------------- decoding


class Unreadable(ValueError):
    pass


def _opaque(name: str):
    """A stand-in for a value that is not plain data, named after the student's type so messages read well."""
    name = re.sub(r"\W", "_", str(name))[:60] or "object"
    if not name[0].isalpha():
        name = "object_" + name
    return type(name, (), {"__repr__": lambda self: f"<{name}>"})()


class _Missing:
    pass


_DTYPES = {"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
           "float32", "float64", "float128", "complex64", "complex128", "complex256"}


def _float(value) -> float:
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if type(value) in (int, float):
        return float(value)
    raise Unreadable("not a number")


def decode(data, depth: int = 0, budget: list | None = None):
    """The value an encoding of :mod:`autograder._answers` stands for; raises :class:`Unreadable` for anything
    off the grammar."""
    budget = budget if budget is not None else [MAX_ELEMENTS]
    if depth > 14:
        raise Unreadable("too deeply nested")
    if data is None or type(data) in (bool, str):
        return data
    if type(data) is int:
        if abs(data) >= 1 << 63:
            raise Unreadable("an integer too large")
        return data
    if type(data) is float:
        return data
    if type(data) is not dict or len(data) != 1:
        raise Unreadable("not an encoded value")
    (kind, body), = data.items()
    if kind == "float":
        return _float(body)
    if kind == "missing":
        return _Missing()
    if kind == "opaque":
        return _opaque(body)
    if kind in ("list", "tuple"):
        if type(body) is not list or len(body) > budget[0]:
            raise Unreadable("a malformed list")
        budget[0] -= len(body)
        items = [decode(v, depth + 1, budget) for v in body]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        if type(body) is not list or len(body) > budget[0]:
            raise Unreadable("a malformed dict")
        budget[0] -= len(body)
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2 or type(pair[0]) is not str:
                raise Unreadable("a malformed dict")
            out[pair[0]] = decode(pair[1], depth + 1, budget)
        return out
    if kind == "scalar":
        if type(body) is not dict or body.get("dtype") not in _DTYPES:
            raise Unreadable("a malformed scalar")
        dtype = np.dtype(body["dtype"])
        value = body.get("value")
        if dtype.kind == "f":
            value = _float(value)
        elif dtype.kind == "c":
            raise Unreadable("a complex scalar")
        elif type(value) not in (int, bool):
            raise Unreadable("a malformed scalar")
        return dtype.type(value)
    if kind == "ndarray":
        if type(body) is not dict or body.get("dtype") not in _DTYPES:
            raise Unreadable("a malformed array")
        dtype, shape, flat = np.dtype(body["dtype"]), body.get("shape"), body.get("data")
        if (type(shape) is not list or not all(type(n) is int and 0 <= n <= MAX_ELEMENTS for n in shape)
                or len(shape) > 32 or type(flat) is not list):
            raise Unreadable("a malformed array")
        size = math.prod(shape)
        if size != len(flat) or size > budget[0]:
            raise Unreadable("an array whose data do not match its shape")
        budget[0] -= size
        if dtype.kind == "c":
            if not all(type(z) is list and len(z) == 2 for z in flat):
                raise Unreadable("a malformed complex array")
            values = [complex(_float(z[0]), _float(z[1])) for z in flat]
        elif dtype.kind == "f":
            values = [_float(x) for x in flat]
        elif all(type(x) in (int, bool) for x in flat):
            values = flat
        else:
            raise Unreadable("a malformed integer array")
        try:
            return np.array(values, dtype=dtype).reshape(shape)
        except (ValueError, OverflowError) as exc:
            raise Unreadable(f"a malformed array ({exc})") from None
    raise Unreadable(f"an unknown kind of value {kind[:40]!r}")


def read_export(text, test_id: str, names: tuple[str, ...]) -> dict:
    """The decoded answers of one test from what the sandbox displayed; raises :class:`Unreadable`."""
    if not isinstance(text, str) or len(text) > MAX_EXPORT:
        raise Unreadable("the exported answers are missing or too large")
    try:
        data = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(Unreadable(c)))
    except (ValueError, RecursionError) as exc:
        raise Unreadable(f"the exported answers are not valid JSON ({type(exc).__name__})") from None
    if type(data) is not dict or data.get("test") != test_id or type(data.get("answers")) is not dict:
        raise Unreadable("the exported answers are not for this test")
    answers = data["answers"]
    budget = [MAX_ELEMENTS]
    return {name: decode(answers[name], 0, budget) if name in answers else _Missing() for name in names}


# --------------------------------------------------------------------------------------------------- verdicts


@dataclass
class Verdict:
    passed: bool
    reason: str = ""        # why not, in words the student may read
    output: str = ""        # what the public test printed when it passed


class _TestTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    def expire(signum, frame):
        raise _TestTimeout()

    try:
        previous = signal.signal(signal.SIGALRM, expire)
    except ValueError:  # not the main thread: no alarm, the data are bounded anyway
        yield
        return
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _prelude() -> dict:
    reference.load()
    import importlib

    namespace = {"__builtins__": builtins, "__name__": "__optimlab_test__", "np": np, "math": math}
    for module in PRELUDE_MODULES:
        namespace[module] = importlib.import_module(f"{reference.PACKAGE}.{module}")
    return namespace


def _run(source: str, answers: dict) -> tuple[BaseException | None, str]:
    namespace = _prelude() | answers
    printed = io.StringIO()
    try:
        code = compile(source, "<test>", "exec")
        with _time_limit(SECONDS_PER_TEST), contextlib.redirect_stdout(printed), np.errstate(all="ignore"):
            exec(code, namespace)
    except BaseException as exc:  # noqa: BLE001 — whatever the student's values make a test raise is a failure
        if isinstance(exc, KeyboardInterrupt):
            raise
        return exc, printed.getvalue()
    return None, printed.getvalue()


def judge(test: TestCell, exported) -> Verdict:
    """Run ``test`` on the student's exported answers (the display data of its export, or None)."""
    if exported is None:
        return Verdict(False, "the test did not run: the notebook stopped before it (see the cells above), or "
                              "the answers could not be exported")
    try:
        answers = read_export(exported, test.grade_id, test.answers)
    except Unreadable as exc:
        return Verdict(False, f"the answers could not be read: {exc}")
    missing = [name for name, value in answers.items() if isinstance(value, _Missing)]
    if missing:
        return Verdict(False, f"{', '.join(missing)} {'was' if len(missing) == 1 else 'were'} not defined when "
                              "the test ran: set it in the answer cell above and run that cell")
    error, printed = _run(test.public, answers)
    if error is not None:
        return Verdict(False, _describe(error))
    error, _ = _run(test.full, answers)
    if error is not None:
        return Verdict(False, "a hidden test fails (the public tests pass: check the answer against what the "
                              "text asks for, on other inputs too)")
    return Verdict(True, output=printed[:2000])


def _describe(error: BaseException) -> str:
    if isinstance(error, _TestTimeout):
        return f"the test did not finish within {SECONDS_PER_TEST} s on this answer"
    message = str(error)[:600]
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
