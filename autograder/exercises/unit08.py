"""Unit 08, hyperparameter search: cases and classic mistakes for sampling, grids, random search and selection.

Settings are chosen so that each mistake shows: search spaces whose keys are not in sorted order, with a
log-uniform range over four or more orders of magnitude (where a uniform draw and a log-uniform one differ by a
factor of a hundred), string and integer choices; grid budgets of 1, 8, 10, 27, 64 and 100 over one, two and three
continuous axes, with and without choice axes (64 over three axes is where ``int(64 ** (1 / 3))`` is 3, 128 over
two choices and three axes the same root again), a space of choices only, and a budget smaller than the choices;
trials whose best test accuracy is not their best validation accuracy, exact ties, NaN (a diverged trial) first and
in the middle, a loss with ``mode="min"`` whose best is neither the best accuracy nor the largest loss, and trials
that all diverged.

The search space of a case is encoded as JSON data: the function receives the specs as tuples and the options of
a choice as a tuple (the functions accept lists and tuples alike).
"""

import copy
import itertools
import math

import numpy as np
from optimlab import check as _check
from optimlab.check import decode

from . import Exercise, Mistake, Rng, case, error_case

#: The space of the notebook: two scale parameters, a probability and a width.
COURSE_SPACE = {"lr": ("log-uniform", 1e-4, 1.0), "weight_decay": ("log-uniform", 1e-6, 1e-2),
                "dropout": ("uniform", 0.0, 0.5), "hidden": ("choice", [32, 64, 128])}

#: Keys out of sorted order, a wide log range last, and choices of strings and of integers.
MIXED_SPACE = {"momentum": ("uniform", 0.5, 0.99), "activation": ("choice", ["relu", "tanh", "gelu"]),
               "batch_size": ("choice", [16, 32, 64, 128]), "lr": ("log-uniform", 1e-5, 10.0)}

#: The title of the global-state mistake: optimlab.check shows an exercise's title for the id "global_state".
GLOBAL_STATE = "sampling with NumPy's global random state"
GLOBAL_STATE_EXPLAIN = ("np.random.uniform and np.random.randint draw from one hidden generator shared by the whole "
                        "program, so the same rng gives other configurations from run to run, and a search cannot "
                        "be repeated from its seed. Draw every value from the rng you are given: rng.uniform, "
                        "rng.integers.")


# ================================================================================================ a random space


_NAMES = ("lr", "weight_decay", "momentum", "dropout", "hidden", "activation", "batch_size", "beta2")


def _random_space(rng: np.random.Generator, *, keys: tuple[int, int] = (1, 5)) -> dict:
    """A random search space: 1 to 4 hyperparameters in a random order, of random kinds."""
    names = list(rng.permutation(_NAMES)[:int(rng.integers(*keys))])
    space = {}
    for name in names:
        kind = ("log-uniform", "uniform", "choice")[int(rng.integers(3))]
        if kind == "log-uniform":
            low = float(10.0 ** -int(rng.integers(1, 7)))
            space[str(name)] = (kind, low, float(low * 10.0 ** int(rng.integers(2, 6))))
        elif kind == "uniform":
            low = float(np.round(rng.uniform(-1.0, 1.0), 2))
            space[str(name)] = (kind, low, float(np.round(low + rng.uniform(0.1, 2.0), 2)))
        else:
            count = int(rng.integers(1, 5))
            options = ([int(v) for v in 2 ** rng.choice(np.arange(3, 10), size=count, replace=False)]
                       if rng.random() < 0.5 else ["relu", "tanh", "gelu", "silu"][:count])
            space[str(name)] = (kind, options)
    return space


# ================================================================================================ sample_config


def _sample_public():
    return [
        case("the notebook's space (two log-uniform ranges, a uniform one, a choice), seed 0", space=COURSE_SPACE,
             rng=Rng(0)),
        case("the notebook's space, seed 1", space=COURSE_SPACE, rng=Rng(1)),
        case("the notebook's space, seed 7", space=COURSE_SPACE, rng=Rng(7)),
        case("keys not in sorted order, choices of strings and of integers, a log range 1e-5 to 10",
             space=MIXED_SPACE, rng=Rng(3)),
        case("a single log-uniform learning rate from 1e-6 to 1", space={"lr": ("log-uniform", 1e-6, 1.0)},
             rng=Rng(4)),
        case("a single uniform dropout probability", space={"dropout": ("uniform", 0.1, 0.6)}, rng=Rng(5)),
    ]


def _sample_hidden(rng):
    return [case("a random space", space=_random_space(rng), rng=Rng(int(rng.integers(1000))))]


def _sample_variant(*, log_kind="log", shared=False, order=None, global_state=False):
    """sample_config with a log-uniform draw that is right ("log"), linear ("linear") or not exponentiated
    ("log_value"); one uniform draw for every key (``shared``); the keys visited in another ``order`` (a function
    of the list of keys); draws from NumPy's global state (``global_state``)."""

    def impl(space, rng):
        keys = list(space) if order is None else order(list(space))
        shared_u = rng.random() if shared else None
        out = {}
        for name in keys:
            kind, *rest = space[name]

            def draw(a, b):
                if global_state:
                    return np.random.uniform(a, b)
                return a + (b - a) * shared_u if shared else rng.uniform(a, b)

            if kind == "choice":
                options = rest[0]
                if global_state:
                    out[name] = options[int(np.random.randint(len(options)))]
                elif shared:
                    out[name] = options[int(shared_u * len(options))]
                else:
                    out[name] = options[int(rng.integers(len(options)))]
            elif kind == "uniform" or log_kind == "linear":
                out[name] = float(draw(rest[0], rest[1]))
            elif log_kind == "log_value":
                out[name] = float(draw(math.log(rest[0]), math.log(rest[1])))
            else:
                out[name] = float(math.exp(draw(math.log(rest[0]), math.log(rest[1]))))
        return {name: out[name] for name in space}

    return impl


SAMPLE_CONFIG = Exercise(
    name="sample_config", module="search", returns="the configuration", public=_sample_public,
    hidden=_sample_hidden,
    mistakes=[
        Mistake("linear", "uniform instead of log-uniform sampling",
                "A log-uniform range is drawn in log space: draw u uniformly between log(low) and log(high), then "
                "take exp(u). rng.uniform(low, high) on 1e-4 to 1 puts 90% of the learning rates above 0.1, and "
                "almost never tries 1e-3 or 1e-4.", _sample_variant(log_kind="linear")),
        Mistake("log_value", "the logarithm returned: a log-uniform draw not exponentiated",
                "The uniform draw between log(low) and log(high) is log(x), a negative number for a learning rate: "
                "the value of the hyperparameter is its exponential.", _sample_variant(log_kind="log_value")),
        Mistake("shared_draw", "one uniform draw shared by every hyperparameter",
                "Every hyperparameter needs its own draw from the rng, in the dict's order; with one draw for "
                "all, a large learning rate always comes with a large weight decay and a large dropout, and the "
                "search explores a single line through the space.", _sample_variant(shared=True)),
        Mistake("sorted_keys", "the hyperparameters drawn in sorted order instead of the dict's",
                "The draws are made in the order of space.items(), the order the space was written in; iterating "
                "over sorted(space) gives each hyperparameter another draw than the reference's.",
                _sample_variant(order=sorted)),
        Mistake("global_state", GLOBAL_STATE, GLOBAL_STATE_EXPLAIN, _sample_variant(global_state=True),
                detected_by="check"),
    ],
)

# ================================================================================================= grid_configs


NO_ERROR_GRID = "no error for a budget smaller than the choices"


def _grid_public():
    lr_dropout = {"lr": ("log-uniform", 1e-4, 1.0), "dropout": ("uniform", 0.0, 0.5)}
    three = {"lr": ("log-uniform", 1e-4, 1e-1), "momentum": ("uniform", 0.5, 0.98),
             "weight_decay": ("log-uniform", 1e-6, 1e-2)}
    return [
        case("one log-uniform axis, budget 8: 8 points, the centres of 8 equal cells in log space",
             space={"lr": ("log-uniform", 1e-5, 1.0)}, budget=8),
        case("a log-uniform and a uniform axis, budget 10: 3 points each, 9 configurations", space=lr_dropout,
             budget=10),
        case("three continuous axes, budget 64: 4 points each", space=three, budget=64),
        case("three continuous axes, budget 27: 3 points each", space=three, budget=27),
        case("3 widths and two continuous axes, budget 100: 5 points on each continuous axis, 75 configurations",
             space={"lr": ("log-uniform", 1e-4, 1.0), "hidden": ("choice", [32, 64, 128]),
                    "dropout": ("uniform", 0.0, 0.5)}, budget=100),
        case("a choice of 2 between two continuous axes, budget 50: 5 points each, 50 configurations",
             space={"lr": ("log-uniform", 1e-5, 1e-1), "activation": ("choice", ["relu", "tanh"]),
                    "momentum": ("uniform", 0.8, 0.99)}, budget=50),
        case("choices only, budget 10: every combination, 6 configurations",
             space={"batch_size": ("choice", [16, 64]), "activation": ("choice", ["relu", "tanh", "gelu"])},
             budget=10),
        case("budget 1 over two continuous axes: the middle of each range", space=lr_dropout, budget=1),
        error_case("budget 2 with a choice of 3 widths: the choices alone do not fit", error="ValueError",
                   mistake=NO_ERROR_GRID,
                   space={"hidden": ("choice", [32, 64, 128]), "lr": ("log-uniform", 1e-3, 1e-1)}, budget=2),
    ]


#: Hidden cases keep c * budget ** k, the size of the grid that ignores the budget, below this, so that a student
#: whose grid ignores it fails quickly instead of building millions of configurations. The exception is the case
#: of three axes and a budget of 64 to 66 (where the float root falls short), as in the public cases: about
#: 270,000 configurations there, a few seconds for such a grid.
MAX_HIDDEN_GRID = 50_000


def _continuous_space(rng: np.random.Generator, k: int) -> dict:
    """A random space of ``k`` continuous axes, log-uniform or uniform."""
    while True:
        space = _random_space(rng, keys=(len(_NAMES), len(_NAMES) + 1))
        continuous = {name: spec for name, spec in space.items() if spec[0] != "choice"}
        if len(continuous) >= k:
            return dict(list(continuous.items())[:k])


def _grid_hidden(rng):
    if rng.random() < 0.25:  # where a floating-point root falls short: 64 ** (1 / 3) is 3.9999999999999996
        return [case("three random continuous axes, a budget just above 4 ** 3", space=_continuous_space(rng, 3),
                     budget=int(rng.integers(64, 67)))]
    space = _random_space(rng)
    if rng.random() < 0.2:
        space["width"] = ("choice", [16, 32, 64])
        c = math.prod(len(spec[1]) for spec in space.values() if spec[0] == "choice")
        return [error_case("a random space and a budget smaller than its choices", error="ValueError",
                           mistake=NO_ERROR_GRID, space=space, budget=int(rng.integers(1, c)))]
    c = math.prod(len(spec[1]) for spec in space.values() if spec[0] == "choice")
    k = sum(spec[0] != "choice" for spec in space.values())
    budget = int(rng.integers(c, max(c + 1, 130)))
    while budget > c and c * budget ** k > MAX_HIDDEN_GRID:
        budget = max(c, budget // 2)
    return [case("a random space and budget", space=space, budget=budget)]


def _grid_variant(*, points="integer", log_linear=False, endpoints=False, refuse=True):
    """grid_configs with m found by whole numbers ("integer"), by a float root ("float_root"), equal to the
    budget ("budget") or without counting the choices ("no_choices"); a log axis gridded linearly
    (``log_linear``); points on the ends of the ranges (``endpoints``); no error for a budget below the choices
    (``refuse=False``)."""

    def impl(space, budget):
        c = math.prod(len(spec[1]) for spec in space.values() if spec[0] == "choice")
        k = sum(spec[0] != "choice" for spec in space.values())
        if refuse and budget < c:
            raise ValueError("too small")
        if k == 0:
            m = 1
        elif points == "float_root":
            m = max(1, int((budget / c) ** (1 / k)))
        elif points == "budget":
            m = budget
        else:
            room = budget if points == "no_choices" else budget // c
            m = 1
            while (m + 1) ** k <= room:
                m += 1
        axes = []
        for spec in space.values():
            kind, *rest = spec
            if kind == "choice":
                axes.append(list(rest[0]))
                continue
            low, high = rest
            if kind == "log-uniform" and not log_linear:
                grid = (np.geomspace(low, high, m) if endpoints
                        else [low * (high / low) ** ((i + 0.5) / m) for i in range(m)])
            else:
                grid = (np.linspace(low, high, m) if endpoints
                        else [low + (i + 0.5) * (high - low) / m for i in range(m)])
            axes.append([float(v) for v in grid])
        return [dict(zip(space, values)) for values in itertools.product(*axes)]

    return impl


GRID_CONFIGS = Exercise(
    name="grid_configs", module="search", returns="the list of configurations", public=_grid_public,
    hidden=_grid_hidden, diagnose="grid",
    mistakes=[
        Mistake("budget_per_axis", _check.GRID_OVER_BUDGET,
                "The budget is the number of configurations, not of points per axis: with k continuous axes of m "
                "points each (and c combinations of the choices) the grid has c * m**k configurations. Take the "
                "largest m for which that is at most the budget.", _grid_variant(points="budget"),
                detected_by="check"),
        Mistake("choices_not_counted", "the choice axes left out of the budget",
                "Every option of a choice multiplies the grid: the continuous axes share budget / c, where c is "
                "the product of the numbers of options. Without it the grid has c times too many configurations.",
                _grid_variant(points="no_choices")),
        Mistake("float_root", "m from a floating-point root: int(64 ** (1/3)) is 3",
                "64 ** (1 / 3) is 3.9999999999999996 in floating point, and int() cuts it to 3: a grid of 27 where "
                "64 fit. Find m with whole numbers: count up while c * (m + 1) ** k still fits in the budget.",
                _grid_variant(points="float_root")),
        Mistake("log_linear", "a linear grid on a log-uniform axis",
                "A log-uniform axis is gridded in log space, like its draws: its points are low * (high / low) ** "
                "((i + 0.5) / m), equally spaced in log(x). Equally spaced values of x put almost every point in "
                "the top order of magnitude.", _grid_variant(log_linear=True)),
        Mistake("endpoints", "grid points on the ends of the ranges (np.linspace, np.geomspace)",
                "The points are the centres of m equal cells, (i + 0.5) / m of the way (in log space for a "
                "log-uniform axis): np.linspace(low, high, m) and np.geomspace spend trials on the very edges, "
                "and with m = 1 give low instead of the middle.", _grid_variant(endpoints=True)),
        Mistake("no_error", NO_ERROR_GRID,
                "When the product of the numbers of options is larger than the budget, no grid fits: raise "
                "ValueError saying so (with both numbers), instead of returning a grid that breaks the budget or "
                "an empty one.",
                _grid_variant(refuse=False)),
    ],
)

# =============================================================================================== random_configs


def _random_public():
    return [
        case("the notebook's space, budget 5, seed 0", space=COURSE_SPACE, budget=5, rng=Rng(0)),
        case("the notebook's space, budget 1, seed 11", space=COURSE_SPACE, budget=1, rng=Rng(11)),
        case("keys not in sorted order, strings and integers, budget 8", space=MIXED_SPACE, budget=8, rng=Rng(12)),
        case("a single learning rate, budget 20", space={"lr": ("log-uniform", 1e-5, 1.0)}, budget=20,
             rng=Rng(13)),
    ]


def _random_hidden(rng):
    return [case("a random space and budget", space=_random_space(rng), budget=int(rng.integers(2, 13)),
                 rng=Rng(int(rng.integers(1000))))]


def _reference_sample(space, rng):
    from .. import reference

    return reference.function("search", "sample_config")(space, rng)


def _random_fresh_generator(space, budget, rng):
    return [_reference_sample(space, copy.deepcopy(rng)) for _ in range(budget)]


def _random_global_state(space, budget, rng):
    return [_sample_variant(global_state=True)(space, rng) for _ in range(budget)]


RANDOM_CONFIGS = Exercise(
    name="random_configs", module="search", returns="the list of configurations", public=_random_public,
    hidden=_random_hidden,
    mistakes=[
        Mistake("fresh_generator", "a fresh generator for every trial: every configuration the same",
                "A generator made anew for each configuration (from the same seed, or a copy of rng) starts from "
                "the same state every time, so every draw repeats the first: the search tries one configuration "
                "budget times. Pass the one rng you were given to every call of sample_config: each call moves "
                "it on.", _random_fresh_generator),
        Mistake("global_state", GLOBAL_STATE, GLOBAL_STATE_EXPLAIN, _random_global_state, detected_by="check"),
    ],
)

# ================================================================================================== select_best

NAN = math.nan


def _trials(val_acc, *, test_acc=None, val_loss=None) -> list[dict]:
    """Trials as run_trials returns them, with made-up metrics (the accuracies and losses given)."""
    n = len(val_acc)
    test_acc = test_acc or [round(0.98 * v, 3) if v == v else NAN for v in val_acc]
    val_loss = val_loss or [round(1.2 - v, 3) if v == v else NAN for v in val_acc]
    lrs = np.round(np.geomspace(1e-3, 1.0, n), 5)
    return [{"config": {"lr": float(lr), "hidden": 64}, "val_acc": a, "val_loss": loss, "test_acc": t,
             "seconds": 0.25} for lr, a, loss, t in zip(lrs, val_acc, val_loss, test_acc)]


NO_FINITE = "no error when every trial diverged"


def _select_public():
    return [
        case("the best validation accuracy is trial 2, the best test accuracy trial 4",
             trials=_trials([0.81, 0.86, 0.93, 0.88, 0.90], test_acc=[0.80, 0.85, 0.89, 0.87, 0.92]),
             metric="val_acc", mode="max"),
        case("trials 1 and 3 tie for the best validation accuracy",
             trials=_trials([0.70, 0.91, 0.85, 0.91, 0.60], test_acc=[0.69, 0.88, 0.90, 0.87, 0.61]),
             metric="val_acc", mode="max"),
        case("diverged trials (NaN) at 0 and 3",
             trials=_trials([NAN, 0.82, 0.90, NAN, 0.88], test_acc=[NAN, 0.81, 0.88, NAN, 0.89]),
             metric="val_acc", mode="max"),
        case("val_loss with mode='min': the smallest loss is trial 3, the best accuracy trial 1",
             trials=_trials([0.84, 0.90, 0.86, 0.89, 0.70], val_loss=[0.50, 0.31, 0.45, 0.29, 0.80],
                            test_acc=[0.62, 0.91, 0.85, 0.88, 0.72]), metric="val_loss", mode="min"),
        case("val_loss with mode='min': a NaN loss first, trials 2 and 4 tie",
             trials=_trials([NAN, 0.80, 0.88, 0.70, 0.87], val_loss=[NAN, 0.40, 0.25, 0.60, 0.25],
                            test_acc=[NAN, 0.79, 0.86, 0.89, 0.75]), metric="val_loss", mode="min"),
        case("a single trial", trials=_trials([0.75]), metric="val_acc", mode="max"),
        error_case("every trial diverged: no finite validation accuracy", error="ValueError",
                   mistake=NO_FINITE, trials=_trials([NAN, NAN, NAN]), metric="val_acc", mode="max"),
    ]


def _select_hidden(rng):
    """Random trials on which the select_best mistakes that answer wrong all answer differently, so each is told
    its own name (a tie at the best where the test set's best is the later trial would look like both)."""
    variants = [_select_variant(read="test_acc"), _select_variant(argmax=True), _select_variant(ties="last"),
                _select_variant(ignore_mode=True)]
    while True:
        cases = _select_draw(rng)
        if "expect_error" in cases[0]:
            return cases
        args = {name: decode(value) for name, value in cases[0]["args"].items()}
        right = _select_variant()(**args)
        wrong = [answer for answer in (variant(**args) for variant in variants) if answer != right]
        if len(wrong) == len(set(wrong)):
            return cases


def _select_draw(rng):
    n = int(rng.integers(3, 9))
    # Steps of 0.05: ties happen, at the best too.
    val_acc = [float(v) for v in np.round(np.round(rng.uniform(0.6, 0.95, size=n) * 20) / 20, 2)]
    val_loss = [float(v) for v in np.round(np.round(rng.uniform(0.1, 0.9, size=n) * 20) / 20, 2)]
    test_acc = [float(v) for v in np.round(rng.uniform(0.6, 0.95, size=n), 2)]
    for i in rng.choice(n, size=int(rng.integers(0, n)), replace=False):  # never all of them
        val_acc[i] = val_loss[i] = test_acc[i] = NAN
    metric, mode = [("val_acc", "max"), ("val_loss", "min")][int(rng.integers(2))]
    values = val_acc if metric == "val_acc" else val_loss
    finite = [i for i in range(n) if values[i] == values[i]]
    if len(finite) > 1 and rng.random() < 0.5:  # a tie at the best, with a later trial
        best = (max if mode == "max" else min)(finite, key=lambda i: values[i])
        later = [i for i in finite if i != best]
        values[later[int(rng.integers(len(later)))]] = values[best]
    if rng.random() < 0.15:
        return [error_case("random trials, all diverged", error="ValueError", mistake=NO_FINITE,
                           trials=_trials([NAN] * n), metric=metric, mode=mode)]
    return [case("random trials, some diverged", trials=_trials(val_acc, test_acc=test_acc, val_loss=val_loss),
                 metric=metric, mode=mode)]


def _select_variant(*, read=None, ties="first", ignore_mode=False, argmax=False, refuse=True):
    """select_best reading another key (``read``), keeping the last of tied trials (``ties="last"``), always
    maximizing (``ignore_mode``), with np.argmax / np.argmin (``argmax``), returning trial 0 when nothing is
    finite (``refuse=False``)."""

    def impl(trials, *, metric="val_acc", mode="max"):
        key = read or metric
        maximize = ignore_mode or mode == "max"
        values = [float(t[key]) for t in trials]
        if argmax:
            return int(np.argmax(values) if maximize else np.argmin(values))
        best = None
        for i, v in enumerate(values):
            if not math.isfinite(v):
                continue
            if best is None:
                best = i
                continue
            better = v > values[best] if maximize else v < values[best]
            if better or (ties == "last" and v == values[best]):
                best = i
        if best is None:
            if refuse:
                raise ValueError("nothing finite")
            return 0
        return best

    return impl


SELECT_BEST = Exercise(
    name="select_best", module="search", returns="the index of the best trial", public=_select_public,
    hidden=_select_hidden,
    mistakes=[
        Mistake("test_set", "selecting on the test set instead of the validation set",
                "The trial is chosen by metric alone, a validation metric. A choice made by the test accuracy "
                "fits the test set: the chosen trial's test accuracy is then the best of many noisy numbers, and "
                "no longer says how the configuration does on new data.", _select_variant(read="test_acc")),
        Mistake("argmax_nan", "np.argmax with a NaN: the diverged trial chosen",
                "Every comparison with NaN is False, so np.argmax and np.argmin return the position of the first "
                "NaN. Skip the values that are not finite (math.isfinite) before comparing.",
                _select_variant(argmax=True)),
        Mistake("last_tie", "the last of tied trials instead of the first",
                "A tie goes to the earliest trial: replace the best so far only when a value is strictly better "
                "(> for max, < for min), not when it is equal.", _select_variant(ties="last")),
        Mistake("ignore_mode", "the largest value where mode='min' asks for the smallest",
                "With mode='min' (a loss) the best trial has the smallest value; the largest loss is the worst "
                "trial.", _select_variant(ignore_mode=True)),
        Mistake("no_error", NO_FINITE,
                "When no trial has a finite value there is no best trial: raise ValueError instead of returning "
                "an index, which would pass a diverged run off as the winner.", _select_variant(refuse=False)),
    ],
)

SEARCH = [SAMPLE_CONFIG, GRID_CONFIGS, RANDOM_CONFIGS, SELECT_BEST]
