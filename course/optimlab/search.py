r"""Hyperparameter search (unit 08): search spaces, grid search, random search, and choosing the best trial.

A *search space* is a plain dict, ``name -> spec``, in the order the values are drawn::

    space = {"lr": log_uniform(1e-4, 1.0), "weight_decay": log_uniform(1e-6, 1e-2),
             "dropout": uniform(0.0, 0.5), "hidden": choice([32, 64, 128])}

where each spec is a tuple (a list works as well, so a space survives a trip through JSON):

- ``("log-uniform", low, high)``: :math:`\log x` uniform on :math:`[\log a, \log b]`, for a scale parameter such as
  the learning rate or the weight decay, where :math:`10^{-4} \to 10^{-3}` matters as much as
  :math:`10^{-2} \to 10^{-1}`;
- ``("uniform", low, high)``: :math:`x` uniform on :math:`[a, b]` (a dropout probability, a momentum);
- ``("choice", options)``: one of a list of options (a layer width, an activation's name).

A configuration is a dict ``name -> value``; a search evaluates configurations with :func:`run_trials`, which
calls ``objective(**config)`` and records the metrics it returns: a list of *trials*
``[{"config": config, "val_acc": ..., "val_loss": ..., "test_acc": ..., "seconds": ...}, ...]``.
:func:`select_best` picks one by a validation metric, and :func:`trials_table` shows them.

===============  ==================================
function         notebook section
===============  ==================================
sample_config    2. Search spaces
grid_configs     3. Grid search and random search
random_configs   3. Grid search and random search
select_best      3. Grid search and random search
===============  ==================================

Conventions:

- **Randomness is explicit**: the functions that draw take an ``rng`` (``np.random.default_rng(seed)``) and draw
  from it alone, in a documented order, so a search is reproducible from its seed and your functions can be
  checked against the reference. Nothing here uses NumPy's global random state (``np.random.uniform``, ...) or
  Python's ``random`` module.
- **Equal budgets**: a grid and a random search compared in the notebook evaluate the same number of
  configurations; :func:`grid_configs` never returns more than its ``budget``.
- **Selection on validation data only**: the test set measures the configuration that was chosen, once, at the
  end. A test number used to choose is no longer a measurement (see :func:`select_best`).

Arguments are checked before anything is computed: a space that is not one raises ``ValueError`` (a wrong value)
or ``TypeError`` (a wrong type) saying which hyperparameter and why.
"""

from __future__ import annotations

import html
import itertools
import math
import numbers
import time
from collections.abc import Callable, Sequence

import numpy as np

from ._exercise import exercise

__all__ = [
    "log_uniform", "uniform", "choice", "check_space", "sample_config", "grid_configs", "random_configs",
    "select_best", "run_trials", "trials_table", "KINDS", "TrialsTable",
]

#: The kinds of spec a search space may hold.
KINDS = ("log-uniform", "uniform", "choice")

# --------------------------------------------------------------------------------------------------------------
# Search spaces (given).


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_bounds(kind: str, low, high, where: str) -> None:
    if not (_is_number(low) and _is_number(high)):
        raise TypeError(f"{where}: the bounds of a {kind} spec must be numbers, got {low!r} and {high!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{where}: the bounds of a {kind} spec must be finite, got {low!r} and {high!r}")
    if kind == "log-uniform" and not low > 0:
        raise ValueError(f"{where}: a log-uniform range needs 0 < low (its logarithm is drawn), got low = {low!r}")
    if not low < high:
        raise ValueError(f"{where}: a {kind} range needs low < high, got low = {low!r} and high = {high!r}")


def log_uniform(low: float, high: float) -> tuple:
    r"""The spec of a hyperparameter whose logarithm is uniform on :math:`[\log a, \log b]`, with
    :math:`0 < a < b` (``low``, ``high``): ``("log-uniform", low, high)``. For the learning rate and the weight
    decay, whose effect depends on their order of magnitude."""
    _check_bounds("log-uniform", low, high, "log_uniform")
    return ("log-uniform", low, high)


def uniform(low: float, high: float) -> tuple:
    r"""The spec of a hyperparameter uniform on :math:`[a, b]`, :math:`a < b` (``low``, ``high``):
    ``("uniform", low, high)``."""
    _check_bounds("uniform", low, high, "uniform")
    return ("uniform", low, high)


def choice(options: Sequence) -> tuple:
    """The spec of a hyperparameter that takes one of ``options`` (a non-empty list): ``("choice", options)``.
    The options are kept as a list, in their order."""
    if isinstance(options, (str, bytes)) or not isinstance(options, Sequence):
        raise TypeError(f"choice: options must be a list of values, got {options!r}")
    if len(options) == 0:
        raise ValueError("choice: options must hold at least one value")
    return ("choice", list(options))


def check_space(space: dict) -> None:
    """Check that ``space`` is a search space: a non-empty dict, ``name -> spec``, each spec a tuple or a list
    ``("log-uniform", low, high)`` with ``0 < low < high``, ``("uniform", low, high)`` with ``low < high``, or
    ``("choice", options)`` with a non-empty list (or tuple) of options.

    Raises ``TypeError`` for a value of the wrong type and ``ValueError`` for a wrong value, naming the
    hyperparameter. Returns None.
    """
    if not isinstance(space, dict):
        raise TypeError(f"space must be a dict name -> spec, e.g. {{'lr': ('log-uniform', 1e-4, 1.0)}}, got "
                        f"{type(space).__name__}")
    if not space:
        raise ValueError("space must hold at least one hyperparameter")
    for key, spec in space.items():
        if not isinstance(key, str):
            raise TypeError(f"space: the names must be strings, got {key!r}")
        where = f"space[{key!r}]"
        if not isinstance(spec, (tuple, list)) or not spec:
            raise TypeError(f"{where} must be a tuple such as ('log-uniform', low, high), ('uniform', low, high) "
                            f"or ('choice', [options]), got {spec!r}")
        head, args = spec[0], tuple(spec[1:])
        if head not in KINDS:
            raise ValueError(f"{where}: the kind must be one of {', '.join(map(repr, KINDS))}, got {head!r}")
        if head == "choice":
            if len(args) != 1:
                raise ValueError(f"{where}: a choice spec is ('choice', [options]), got {spec!r}")
            options = args[0]
            if isinstance(options, (str, bytes)) or not isinstance(options, (tuple, list)):
                raise TypeError(f"{where}: the options of a choice must be a list, got {options!r}")
            if not options:
                raise ValueError(f"{where}: a choice needs at least one option")
        else:
            if len(args) != 2:
                raise ValueError(f"{where}: a {head} spec is ({head!r}, low, high), got {spec!r}")
            _check_bounds(head, args[0], args[1], where)


def _check_rng(rng) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a np.random.Generator (np.random.default_rng(seed)), got {rng!r}")


def _check_budget(budget) -> None:
    if isinstance(budget, (bool, np.bool_)) or not isinstance(budget, numbers.Integral):
        raise TypeError(f"budget must be a whole number of configurations, got {budget!r}")
    if budget < 1:
        raise ValueError(f"budget must be at least 1 (the number of configurations to try), got {budget!r}")


# --------------------------------------------------------------------------------------------------------------
# 2. Search spaces.


@exercise(unit="08_training", section="2. Search spaces")
def sample_config(space: dict, rng: np.random.Generator) -> dict:
    r"""One configuration drawn at random from ``space``: one draw from ``rng`` per hyperparameter, in the dict's
    order.

    For a name whose spec is

    - ``("log-uniform", a, b)``: :math:`x = \exp(u)` with :math:`u \sim \mathcal U[\log a, \log b]`, drawn as
      ``float(np.exp(rng.uniform(np.log(a), np.log(b))))``. Each order of magnitude of the range gets the same
      share of the draws: with ``(1e-4, 1.0)``, a quarter of the learning rates fall in each of
      :math:`[10^{-4}, 10^{-3}]`, ..., :math:`[10^{-1}, 1]`. (``rng.uniform(a, b)`` would put 90% of them in
      :math:`[10^{-1}, 1]`.) Drawing :math:`\log_{10} x` and returning :math:`10^{u}` is the same
      distribution, and the same numbers to rounding;
    - ``("uniform", a, b)``: :math:`x \sim \mathcal U[a, b]`, drawn as ``float(rng.uniform(a, b))``;
    - ``("choice", options)``: the option at a uniformly drawn index, ``options[int(rng.integers(len(options)))]``
      (the option itself, not a copy or a NumPy scalar).

    These exact draws, one per key in the dict's order and nothing else taken from ``rng``, are the course's
    convention: the same seed gives the same configurations as the reference.

    Args:
        space: a search space (see :func:`check_space`). Not modified.
        rng: the generator to draw from; never NumPy's global random state.

    Returns:
        A new dict with the keys of ``space`` in the same order: Python floats for the continuous
        hyperparameters, one of the options for a choice.
    """
    check_space(space)
    _check_rng(rng)
    # Build a new dict, one entry per item of space.items(), in that order. Unpack each spec into its kind and
    # the rest (its bounds, or its list of options), then make exactly the draw the docstring gives for that
    # kind: the log-uniform one draws the logarithm and exponentiates it; wrap continuous values in float().
    raise NotImplementedError(
        "sample_config is not implemented yet: write it in optimlab/search.py (explained in notebook 08_training, section '2. Search spaces')."
    )


# --------------------------------------------------------------------------------------------------------------
# 3. Grid search and random search.


@exercise(unit="08_training", section="3. Grid search and random search")
def grid_configs(space: dict, budget: int) -> list[dict]:
    r"""A full grid over ``space`` of at most ``budget`` configurations.

    The choice axes take all their options. The continuous axes share what is left: with :math:`c` the product
    of the numbers of options of the choice axes and :math:`k` continuous axes, each continuous axis gets the
    same number :math:`m` of points, the largest whole number with

    .. math:: c \, m^k \le B

    where :math:`B` is ``budget``. Find :math:`m` with whole numbers (count up while the next :math:`m` still
    fits), not as ``int((B / c) ** (1 / k))``: floating-point roots fall just short of whole numbers
    (``64 ** (1 / 3)`` is ``3.9999999999999996``, which ``int`` makes 3). With no continuous axis the grid is
    every combination of the options (:math:`c` configurations).

    The :math:`m` points of a continuous axis are the centres of :math:`m` equal cells of its range,
    :math:`i = 0, \dots, m - 1`:

    .. math::

        x_i = a + \frac{i + \tfrac12}{m} (b - a) \quad \text{(uniform)}, \qquad
        x_i = a \left(\frac{b}{a}\right)^{(i + \frac12) / m} \quad \text{(log-uniform: the same in } \log x)

    So :math:`m = 1` is the middle of the range (the geometric middle :math:`\sqrt{ab}` for a log-uniform axis),
    and no trial is spent on the edges of the range, where good values rarely are. (``np.linspace(a, b, m)``
    puts its first and last points on the edges.)

    The configurations come in the order of ``itertools.product`` over the axes in the dict's order: the last
    key varies fastest.

    Args:
        space: a search space (see :func:`check_space`). Not modified.
        budget: :math:`B \ge 1`, the largest number of configurations to return.

    Returns:
        A list of :math:`c \, m^k \le B` new dicts with the keys of ``space`` in its order: Python floats on the
        continuous axes, the options themselves on the choice axes.

    Raises:
        ValueError: when ``budget < c``: the choices alone make more configurations than the budget (say so, with
            both numbers); and when ``budget < 1``.
    """
    check_space(space)
    _check_budget(budget)
    # 1. c: the product of the numbers of options of the choice axes (math.prod); k: the number of the other
    #    axes. If budget < c, raise a ValueError that says so.
    # 2. m: start at 1 and count up while c * (m + 1) ** k still fits in the budget (with k = 0, m does not
    #    matter: do not loop forever).
    # 3. One list of values per axis, in the dict's order: the options for a choice; the m cell centres of the
    #    docstring for a continuous axis (as Python floats).
    # 4. itertools.product(*axes) gives the combinations in the right order; zip each with the names.
    raise NotImplementedError(
        "grid_configs is not implemented yet: write it in optimlab/search.py (explained in notebook 08_training, section '3. Grid search and random search')."
    )


@exercise(unit="08_training", section="3. Grid search and random search")
def random_configs(space: dict, budget: int, rng: np.random.Generator) -> list[dict]:
    r"""``budget`` configurations drawn at random from ``space``: ``budget`` calls of :func:`sample_config`, one
    after the other, all from the one generator ``rng``.

    Each call moves ``rng`` on, so the configurations differ; making a new generator for each one (from a fixed
    seed, or from a copy of ``rng``) would give the same configuration ``budget`` times.

    Args:
        space: a search space (see :func:`check_space`). Not modified.
        budget: the number of configurations, at least 1.
        rng: the generator to draw from; never NumPy's global random state.

    Returns:
        A list of ``budget`` new dicts, in the order they were drawn.
    """
    check_space(space)
    _check_budget(budget)
    _check_rng(rng)
    # A list of budget configurations, each from sample_config(space, rng) with the rng you were given.
    raise NotImplementedError(
        "random_configs is not implemented yet: write it in optimlab/search.py (explained in notebook 08_training, section '3. Grid search and random search')."
    )


def _check_trials(trials, metric: str, mode: str) -> None:
    if not isinstance(metric, str):
        raise TypeError(f"metric must be the name of a metric, such as 'val_acc', got {metric!r}")
    if mode not in ("max", "min"):
        raise ValueError(f"mode must be 'max' (an accuracy) or 'min' (a loss), got {mode!r}")
    if isinstance(trials, (str, bytes, dict)) or not isinstance(trials, Sequence):
        raise TypeError(f"trials must be a list of dicts, as run_trials returns, got {type(trials).__name__}")
    if len(trials) == 0:
        raise ValueError("trials is empty: there is no trial to choose")
    for index, trial in enumerate(trials):
        if not isinstance(trial, dict):
            raise TypeError(f"trials[{index}] must be a dict, got {type(trial).__name__}")
        if metric not in trial:
            raise ValueError(f"trials[{index}] has no {metric!r}; its keys are {', '.join(map(repr, trial))}")
        if not _is_number(trial[metric]):
            raise TypeError(f"trials[{index}][{metric!r}] must be a number, got {trial[metric]!r}")


@exercise(unit="08_training", section="3. Grid search and random search")
def select_best(trials: Sequence[dict], *, metric: str = "val_acc", mode: str = "max") -> int:
    r"""The index of the best trial by ``trials[i][metric]``: the largest value (``mode="max"``, an accuracy) or
    the smallest (``mode="min"``, a loss).

    .. math:: i^* = \operatorname*{arg\,max}_{i \,:\, v_i \text{ finite}} \; s \, v_i, \qquad
              s = +1 \text{ (max)}, \; -1 \text{ (min)}

    where :math:`v_i` is ``trials[i][metric]``.

    - **Ties** go to the earliest trial (the smallest index), as ``np.argmax`` does.
    - **A diverged trial is never chosen**: a NaN (or an infinity) is skipped, whatever the mode. Beware:
      ``np.argmax`` and ``np.argmin`` return the position of the first NaN when there is one, since every
      comparison with NaN is False.
    - **No finite value at all** (every trial diverged): ``ValueError``; there is nothing to choose.

    Only ``metric`` is read. Choose by a *validation* metric (the default, ``"val_acc"``, or ``"val_loss"`` with
    ``mode="min"``), never by the test set's: picking the trial whose test accuracy is highest makes the
    selection fit the test set, and the test accuracy of the chosen trial is then the best of many noisy
    numbers, higher than what the configuration will score on new data. The test number reported for the search
    is honest only if the test set played no part in choosing.

    Args:
        trials: a list of dicts, as :func:`run_trials` returns; each must hold ``metric``, a number. Not modified.
        metric: the key to compare, e.g. ``"val_acc"`` or ``"val_loss"``.
        mode: ``"max"`` or ``"min"``.

    Returns:
        The index of the best trial in ``trials``, a Python int.
    """
    _check_trials(trials, metric, mode)
    # Go through the trials in order and keep the index of the best finite value so far (math.isfinite), on
    # the side mode asks for. Replace it only when a value is strictly better, so that a tie keeps the earlier
    # trial. If no trial had a finite value, raise ValueError.
    raise NotImplementedError(
        "select_best is not implemented yet: write it in optimlab/search.py (explained in notebook 08_training, section '3. Grid search and random search')."
    )


# --------------------------------------------------------------------------------------------------------------
# Running a search and showing its trials (given).


def run_trials(objective: Callable[..., dict], configs: Sequence[dict], *, progress: bool | None = None) -> list[dict]:
    """Evaluate each configuration: ``objective(**config)``, which trains a model and returns its metrics.

    Args:
        objective: a function of the hyperparameters (as keyword arguments) returning a dict of metrics, e.g.
            ``{"val_acc": 0.93, "val_loss": 0.21, "test_acc": 0.92}``; a diverged run may return NaN.
        configs: the configurations, from :func:`grid_configs` or :func:`random_configs`.
        progress: show a progress bar (tqdm); None (the default) shows it for more than 3 configurations.

    Returns:
        The trials, in the order of ``configs``: ``[{"config": config, **metrics, "seconds": t}, ...]``, where
        ``config`` is a copy of the configuration and ``t`` the wall time of the call, in seconds.
    """
    if not callable(objective):
        raise TypeError(f"objective must be a function of the hyperparameters, got {objective!r}")
    configs = list(configs)
    for i, config in enumerate(configs):
        if not isinstance(config, dict):
            raise TypeError(f"configs[{i}] must be a dict name -> value, got {type(config).__name__}")
    show = len(configs) > 3 if progress is None else bool(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm  # imported here: only a visible bar needs it

        bar = tqdm(total=len(configs), desc="trials", unit="trial")
    trials = []
    try:
        for config in configs:
            start = time.perf_counter()
            metrics = objective(**config)
            seconds = time.perf_counter() - start
            if not isinstance(metrics, dict):
                raise TypeError(f"objective must return a dict of metrics, such as {{'val_acc': 0.9}}, got "
                                f"{type(metrics).__name__}")
            clash = {"config", "seconds"} & set(metrics)
            if clash:
                raise ValueError(f"the objective's metrics may not be called {', '.join(map(repr, sorted(clash)))}: "
                                 "run_trials uses those names")
            trials.append({"config": dict(config), **metrics, "seconds": seconds})
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return trials


def _format(value) -> str:
    if _is_number(value) and not isinstance(value, numbers.Integral):
        value = float(value)
        return "nan" if math.isnan(value) else f"{value:.4g}"
    return str(value)


class TrialsTable:
    """A table of trials: HTML in Jupyter (``_repr_html_``), aligned text for ``print``.

    ``rows`` holds, for each trial shown, its index in the list of trials (the number :func:`select_best`
    returns), then its hyperparameters, then its metrics; ``columns`` names them.
    """

    def __init__(self, columns: list[str], rows: list[list]):
        self.columns = columns
        self.rows = rows

    def _cells(self) -> list[list[str]]:
        return [[_format(value) for value in row] for row in self.rows]

    def __str__(self) -> str:
        cells = [self.columns] + self._cells()
        widths = [max(len(row[j]) for row in cells) for j in range(len(self.columns))]
        lines = ["  ".join(text.rjust(width) for text, width in zip(row, widths)) for row in cells]
        lines.insert(1, "  ".join("-" * width for width in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(text)}</td>" for text in row) + "</tr>"
                       for row in self._cells())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def trials_table(trials: Sequence[dict], sort_by: str | None = None, *, ascending: bool = False) -> TrialsTable:
    """The trials as a table: one row per trial, its index, its hyperparameters, its metrics and its time.

    Args:
        trials: a list of dicts, as :func:`run_trials` returns. Not modified.
        sort_by: None keeps the trials' order; a metric's name sorts the rows by it, the best first: the largest
            first, or the smallest with ``ascending=True`` (for a loss). Rows whose value is NaN come last.
        ascending: see ``sort_by``.

    Returns:
        A :class:`TrialsTable`, shown as an HTML table in Jupyter and as text by ``print``.
    """
    trials = list(trials)
    names = list(dict.fromkeys(name for trial in trials for name in trial.get("config", {})))
    metrics = list(dict.fromkeys(key for trial in trials for key in trial if key not in ("config", "seconds")))
    timed = any("seconds" in trial for trial in trials)
    order = list(range(len(trials)))
    if sort_by is not None:
        if any(sort_by not in trial for trial in trials):
            raise ValueError(f"sort_by={sort_by!r}: not every trial has that metric")

        def key(i):
            value = float(trials[i][sort_by])
            return (math.isnan(value), value if ascending else -value)

        order.sort(key=key)  # stable: ties keep the trials' order
    rows = []
    for i in order:
        trial = trials[i]
        row = [i] + [trial.get("config", {}).get(n, "") for n in names] + [trial.get(k, "") for k in metrics]
        rows.append(row + ([trial.get("seconds", "")] if timed else []))
    return TrialsTable(["trial", *names, *metrics, *(["seconds"] if timed else [])], rows)
