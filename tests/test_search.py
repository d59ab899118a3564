"""Hyperparameter search (unit 08, optimlab.search): search spaces, grid and random search, selection, and their
checks.

- sampling by its definition: the documented draws, one per key in the dict's order (the generator's state after
  the call is that of those draws), Python floats and the options themselves, ``10 ** uniform`` over log10 bounds
  the same numbers, a quarter of the draws in each decade of 1e-4..1, the space left as it was;
- grids against an independent computation: the number of points per axis found by brute force over m for
  budgets 1 to 130 with one to three continuous axes and with choice axes (so never more than the budget, and
  no larger grid fits), the points as the midpoints of ``np.linspace`` cell edges (in log space for a log-uniform
  axis), the order of ``itertools.product``, no point on a range's edge, errors for budgets that do not fit;
- random search as consecutive calls of sample_config on one generator; select_best on ties, NaN, infinities,
  ``mode="min"``, its errors, and reading nothing but ``metric``; the given helpers (specs, ``check_space``,
  ``run_trials``, ``trials_table``);
- the self-checks: check data recorded here directly from the catalogue (``autograder/exercises/unit08.py``,
  ``SEARCH``: no registration of the unit is needed; ``record`` validates that every catalogued mistake is named),
  which the reference passes, the release's stubs fail, and independently written wrong implementations fail,
  with the classic mistake named where there is one; correct implementations in another style pass.
"""

import copy
import itertools
import math
import random
import warnings

import numpy as np
import pytest

from conftest import (assert_stub_fails_with_its_own_error, assert_wrong_and_named, released, solution_lines,
                      submodule)

SPACE = {"lr": ("log-uniform", 1e-4, 1.0), "weight_decay": ("log-uniform", 1e-6, 1e-2),
         "dropout": ("uniform", 0.0, 0.5), "hidden": ("choice", [32, 64, 128])}


@pytest.fixture(scope="module")
def search(ref):
    return submodule(ref, "search")


@pytest.fixture(scope="module")
def check(ref):
    return submodule(ref, "check")


# ============================================================================================== search spaces


def test_the_spec_helpers_build_the_documented_tuples_and_refuse_bad_ranges(search):
    assert search.log_uniform(1e-4, 1.0) == ("log-uniform", 1e-4, 1.0)
    assert search.uniform(0.0, 0.5) == ("uniform", 0.0, 0.5)
    assert search.choice((32, 64)) == ("choice", [32, 64])
    for bad in (lambda: search.log_uniform(0.0, 1.0), lambda: search.log_uniform(1.0, 0.1),
                lambda: search.uniform(0.5, 0.5), lambda: search.uniform(0.0, math.inf),
                lambda: search.choice([])):
        with pytest.raises(ValueError):
            bad()
    with pytest.raises(TypeError):
        search.choice("abc")


@pytest.mark.parametrize("space, error", [
    ([("lr", ("uniform", 0, 1))], TypeError),
    ({}, ValueError),
    ({1: ("uniform", 0, 1)}, TypeError),
    ({"lr": "log-uniform"}, TypeError),
    ({"lr": ("loguniform", 1e-4, 1.0)}, ValueError),
    ({"lr": ("log-uniform", -1.0, 1.0)}, ValueError),
    ({"lr": ("log-uniform", 1e-4)}, ValueError),
    ({"p": ("uniform", 0.5, 0.1)}, ValueError),
    ({"p": ("uniform", "0", 1)}, TypeError),
    ({"p": ("uniform", math.nan, 1.0)}, ValueError),
    ({"h": ("choice", [])}, ValueError),
    ({"h": ("choice", "abc")}, TypeError),
    ({"h": ("choice", [1], [2])}, ValueError),
])
def test_check_space_refuses_what_is_not_a_space_naming_the_hyperparameter(search, space, error):
    with pytest.raises(error) as raised:
        search.check_space(space)
    if isinstance(space, dict) and space and isinstance(next(iter(space)), str):
        assert repr(next(iter(space))) in str(raised.value)


def test_check_space_takes_tuples_and_lists_alike(search):
    assert search.check_space(SPACE) is None
    assert search.check_space({k: list(v) for k, v in SPACE.items()}) is None
    assert search.check_space({"h": ("choice", (1, 2))}) is None


# ================================================================================================ sample_config


def _documented_draws(space, rng):
    """The draws the docstring gives, written out again."""
    out = {}
    for name, spec in space.items():
        if spec[0] == "log-uniform":
            out[name] = float(np.exp(rng.uniform(np.log(spec[1]), np.log(spec[2]))))
        elif spec[0] == "uniform":
            out[name] = float(rng.uniform(spec[1], spec[2]))
        else:
            out[name] = spec[1][int(rng.integers(len(spec[1])))]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_sample_config_is_the_documented_draw_and_nothing_more(search, seed):
    space = {"momentum": ("uniform", 0.5, 0.99), "activation": ("choice", ["relu", "tanh"]), **SPACE}
    before = copy.deepcopy(space)
    rng, mine = np.random.default_rng(seed), np.random.default_rng(seed)
    config = search.sample_config(space, rng)
    assert config == _documented_draws(space, mine)  # the same operations: equal to the last bit
    assert rng.bit_generator.state == mine.bit_generator.state  # one draw per key, nothing else
    assert list(config) == list(space) and space == before
    assert all(type(config[k]) is float for k in ("momentum", "lr", "weight_decay", "dropout"))
    assert type(config["hidden"]) is int and config["activation"] in ("relu", "tanh")
    assert 1e-4 <= config["lr"] <= 1.0 and 1e-6 <= config["weight_decay"] <= 1e-2 and 0 <= config["dropout"] <= 0.5


def test_a_choice_returns_the_option_object_itself(search):
    options = [[64, 64], {"layers": 2}, None]
    drawn = [search.sample_config({"arch": ("choice", options)}, np.random.default_rng(s))["arch"] for s in range(30)]
    assert all(any(d is o for o in options) for d in drawn) and {id(d) for d in drawn} == {id(o) for o in options}


def test_log_uniform_puts_a_quarter_of_the_draws_in_each_decade(search):
    rng = np.random.default_rng(8)
    lrs = np.array([search.sample_config({"lr": ("log-uniform", 1e-4, 1.0)}, rng)["lr"] for _ in range(4000)])
    counts = np.histogram(np.log10(lrs), bins=[-4, -3, -2, -1, 0])[0] / len(lrs)
    assert np.all(np.abs(counts - 0.25) < 0.03), counts
    linear = np.random.default_rng(8).uniform(1e-4, 1.0, size=4000)
    assert np.mean(linear > 0.1) > 0.85  # what a uniform draw would do instead


def test_ten_to_a_uniform_power_is_the_same_sample(search):
    for seed in range(10):
        lr = search.sample_config({"lr": ("log-uniform", 3e-5, 2.0)}, np.random.default_rng(seed))["lr"]
        other = 10 ** np.random.default_rng(seed).uniform(np.log10(3e-5), np.log10(2.0))
        assert math.isclose(lr, other, rel_tol=1e-12)


def test_sample_config_wants_a_generator(search):
    with pytest.raises(TypeError, match="Generator"):
        search.sample_config(SPACE, np.random)
    with pytest.raises(TypeError, match="Generator"):
        search.sample_config(SPACE, 0)


# ================================================================================================= grid_configs


def _points(spec, m):
    """An axis' points, written independently: the midpoints of np.linspace's m + 1 cell edges."""
    if spec[0] == "choice":
        return list(spec[1])
    if spec[0] == "uniform":
        edges = np.linspace(spec[1], spec[2], m + 1)
        return list((edges[:-1] + edges[1:]) / 2)
    edges = np.linspace(np.log(spec[1]), np.log(spec[2]), m + 1)
    return list(np.exp((edges[:-1] + edges[1:]) / 2))


def _brute_force_m(c, k, budget):
    return max((m for m in range(1, budget + 2) if c * m**k <= budget), default=0) if k else 1


SPACES = {
    "one log axis": {"lr": ("log-uniform", 1e-5, 1.0)},
    "log and uniform": {"lr": ("log-uniform", 1e-4, 1.0), "dropout": ("uniform", 0.0, 0.5)},
    "three continuous": {"lr": ("log-uniform", 1e-4, 1e-1), "momentum": ("uniform", 0.5, 0.98),
                         "weight_decay": ("log-uniform", 1e-6, 1e-2)},
    "the notebook's": SPACE,
    "two choices, three continuous": {"act": ("choice", ["relu", "tanh"]), "lr": ("log-uniform", 1e-4, 1e-1),
                                      "momentum": ("uniform", 0.5, 0.98), "bs": ("choice", (32, 128)),
                                      "wd": ("log-uniform", 1e-6, 1e-2)},
    "choices only": {"bs": ("choice", [16, 64]), "act": ("choice", ["relu", "tanh", "gelu"])},
}


@pytest.mark.parametrize("name", SPACES)
@pytest.mark.parametrize("budget", [1, 2, 3, 6, 8, 9, 10, 26, 27, 28, 63, 64, 65, 100, 124, 125, 128, 130])
def test_the_grid_is_the_largest_that_fits_the_budget_with_cell_centres_in_product_order(search, name, budget):
    space = SPACES[name]
    c = math.prod(len(s[1]) for s in space.values() if s[0] == "choice")
    k = sum(s[0] != "choice" for s in space.values())
    if budget < c:
        with pytest.raises(ValueError, match=str(budget)):
            search.grid_configs(space, budget)
        return
    m = _brute_force_m(c, k, budget)
    grid = search.grid_configs(space, budget)
    assert len(grid) == c * m**k <= budget and (k == 0 or c * (m + 1) ** k > budget)
    expected = [dict(zip(space, values)) for values in itertools.product(*(_points(s, m) for s in space.values()))]
    assert [list(g) for g in grid] == [list(space)] * len(grid)
    for got, want in zip(grid, expected):
        for key, value in want.items():
            if space[key][0] == "choice":
                assert got[key] is value or got[key] == value
            else:
                assert type(got[key]) is float and math.isclose(got[key], value, rel_tol=1e-12)
    for key, spec in space.items():  # never a trial on a range's edge
        if spec[0] != "choice":
            assert all(spec[1] < g[key] < spec[2] for g in grid)


def test_the_float_root_would_lose_a_point_where_the_grid_does_not(search):
    assert int(64 ** (1 / 3)) == 3  # the trap the docstring warns about
    grid = search.grid_configs(SPACES["three continuous"], 64)
    assert len(grid) == 64 and len({g["momentum"] for g in grid}) == 4


def test_one_point_is_the_middle_of_the_range(search):
    (only,) = search.grid_configs({"lr": ("log-uniform", 1e-4, 1.0), "p": ("uniform", 0.2, 0.6)}, 1)
    assert math.isclose(only["lr"], 1e-2, rel_tol=1e-12) and math.isclose(only["p"], 0.4, rel_tol=1e-12)


def test_grid_budget_errors(search):
    with pytest.raises(ValueError, match="3"):
        search.grid_configs({"h": ("choice", [1, 2, 3]), "lr": ("log-uniform", 1e-3, 1.0)}, 2)
    for budget in (0, -4):
        with pytest.raises(ValueError, match="budget"):
            search.grid_configs(SPACE, budget)
    for budget in (True, 8.0, "8"):
        with pytest.raises(TypeError):
            search.grid_configs(SPACE, budget)


def test_a_grid_and_a_random_search_of_equal_budget_evaluate_as_many_configurations(search):
    """Equal budgets, as the notebook compares them: a budget of 9 over two axes is a full 3 x 3 grid."""
    space = SPACES["log and uniform"]
    grid, rand = search.grid_configs(space, 9), search.random_configs(space, 9, np.random.default_rng(0))
    assert len(grid) == len(rand) == 9
    assert len({g["lr"] for g in grid}) == 3 and len({r["lr"] for r in rand}) == 9  # the projection picture


# =============================================================================================== random_configs


def test_random_configs_are_consecutive_samples_from_one_generator(search):
    rng, mine = np.random.default_rng(3), np.random.default_rng(3)
    configs = search.random_configs(SPACE, 7, rng)
    assert configs == [_documented_draws(SPACE, mine) for _ in range(7)]
    assert rng.bit_generator.state == mine.bit_generator.state
    assert len({c["lr"] for c in configs}) == 7


def test_random_configs_refuse_an_empty_budget(search):
    with pytest.raises(ValueError):
        search.random_configs(SPACE, 0, np.random.default_rng(0))
    with pytest.raises(TypeError):
        search.random_configs(SPACE, 3, None)


# ================================================================================================== select_best


def _t(**metrics):
    return {"config": {"lr": 0.1}, **metrics, "seconds": 0.1}


@pytest.mark.parametrize("values, mode, best", [
    ([0.8, 0.9, 0.85], "max", 1),
    ([0.9, 0.8, 0.9], "max", 0),                              # a tie: the earliest
    ([math.nan, 0.5, math.nan, 0.7], "max", 3),               # NaN never chosen
    ([math.inf, 0.5, 0.7], "max", 2),                         # nor an infinity
    ([0.3, math.nan, 0.2, 0.2, -math.inf], "min", 2),
    ([0.3, 0.1, 0.5], "min", 1),
    ([5, 7, 7], "max", 1),                                    # ints too
])
def test_select_best(search, values, mode, best):
    trials = [_t(val_acc=v) for v in values]
    before = copy.deepcopy(trials)
    got = search.select_best(trials, metric="val_acc", mode=mode)
    assert type(got) is int and got == best
    assert len(trials) == len(before) and all(t.keys() == b.keys() for t, b in zip(trials, before))


def test_select_best_reads_only_its_metric(search):
    trials = [_t(val_loss=0.4), _t(val_loss=0.2, test_acc="never read"), _t(val_loss=0.3)]
    assert search.select_best(trials, metric="val_loss", mode="min") == 1
    by_val = [_t(val_acc=0.9, test_acc=0.7), _t(val_acc=0.8, test_acc=0.95)]
    assert search.select_best(by_val) == 0 and search.select_best(by_val, metric="test_acc") == 1


@pytest.mark.parametrize("trials, kwargs, error", [
    ([_t(val_acc=math.nan), _t(val_acc=math.nan)], {}, ValueError),
    ([_t(val_acc=0.5)], {"mode": "maximize"}, ValueError),
    ([], {}, ValueError),
    ([_t(val_loss=0.5)], {}, ValueError),
    ([_t(val_acc="0.5")], {}, TypeError),
    ([0.5, 0.6], {}, TypeError),
])
def test_select_best_errors(search, trials, kwargs, error):
    with pytest.raises(error):
        search.select_best(trials, **kwargs)


# ============================================================================================ the given helpers


def test_run_trials_calls_the_objective_with_each_configuration_and_records_the_metrics(search):
    calls = []

    def objective(lr, hidden):
        calls.append((lr, hidden))
        return {"val_acc": hidden / 100 - lr, "test_acc": 0.5}

    configs = [{"lr": 0.1, "hidden": 64}, {"lr": 0.01, "hidden": 32}]
    trials = search.run_trials(objective, configs, progress=False)
    assert calls == [(0.1, 64), (0.01, 32)]
    assert [t["config"] for t in trials] == configs and trials[0]["config"] is not configs[0]
    assert list(trials[0]) == ["config", "val_acc", "test_acc", "seconds"]
    assert math.isclose(trials[1]["val_acc"], 0.31) and all(t["seconds"] >= 0 for t in trials)
    assert search.select_best(trials) == 0
    with pytest.raises(ValueError, match="seconds"):
        search.run_trials(lambda lr, hidden: {"seconds": 1.0}, configs, progress=False)
    with pytest.raises(TypeError):
        search.run_trials(lambda lr, hidden: 0.5, configs, progress=False)


def test_trials_table_shows_every_trial_as_text_and_html(search):
    trials = [{"config": {"lr": 0.01, "act": "relu"}, "val_acc": 0.91, "val_loss": 0.3, "seconds": 0.5},
              {"config": {"lr": 0.1, "act": "tanh"}, "val_acc": math.nan, "val_loss": math.nan, "seconds": 0.4},
              {"config": {"lr": 0.001, "act": "<b>"}, "val_acc": 0.95, "val_loss": 0.2, "seconds": 0.6}]
    table = search.trials_table(trials, sort_by="val_acc")
    assert table.columns == ["trial", "lr", "act", "val_acc", "val_loss", "seconds"]
    assert [row[0] for row in table.rows] == [2, 0, 1]  # the best first, NaN last, with the trials' indices
    text = str(table)
    assert text.splitlines()[0].split() == table.columns and "0.95" in text and "nan" in text
    html = table._repr_html_()
    assert html.count("<tr>") == 4 and "&lt;b&gt;" in html and "<b>" not in html
    assert [row[0] for row in search.trials_table(trials, sort_by="val_loss", ascending=True).rows] == [2, 0, 1]
    assert [row[0] for row in search.trials_table(trials).rows] == [0, 1, 2]


# ================================================================================================ the checks


@pytest.fixture(scope="module")
def catalogue(ref):
    from autograder.exercises import unit08

    return {e.name: e for e in unit08.SEARCH}


@pytest.fixture(scope="module")
def specs(catalogue):
    """Check data on the public cases, recorded from the catalogue itself (the unit need not be registered)."""
    from autograder.checkdata import record

    return {name: record(e, e.public()) for name, e in catalogue.items()}


@pytest.fixture(scope="module")
def hidden_specs(catalogue):
    from autograder.checkdata import record

    rng = np.random.default_rng(88)
    return {name: record(e, [c for _ in range(12) for c in e.hidden(rng)], validate=False)
            for name, e in catalogue.items()}


def test_the_catalogue_covers_every_exercise_of_the_module(catalogue, search):
    from optimlab._exercise import EXERCISES

    ours = {n for n, e in EXERCISES.items() if e.module == "search"}
    assert ours == set(catalogue) == {"sample_config", "grid_configs", "random_configs", "select_best"}
    assert all(EXERCISES[n].unit == "08_training" for n in ours)
    assert [EXERCISES[n].section for n in catalogue] == ["2. Search spaces"] + ["3. Grid search and random search"] * 3


def test_the_module_table_lists_every_exercise_with_its_section(search):
    from optimlab._exercise import EXERCISES

    for name in ("sample_config", "grid_configs", "random_configs", "select_best"):
        row = next(line for line in search.__doc__.splitlines() if line.startswith(name + " "))
        assert row.split(None, 1)[1].strip() == EXERCISES[name].section


def test_the_mistakes_the_issue_asks_for_are_catalogued(catalogue):
    titles = {name: {m.title for m in e.mistakes} for name, e in catalogue.items()}
    assert "uniform instead of log-uniform sampling" in titles["sample_config"]
    assert any("ignores the budget" in t for t in titles["grid_configs"])
    assert any("test set" in t for t in titles["select_best"])
    for name in ("sample_config", "random_configs"):
        (title,) = [m.title for m in catalogue[name].mistakes if m.id == "global_state"]
        assert "NumPy's global random state" in title and "sampling" in title and "shuffling" not in title


def test_the_hidden_cases_hold_error_cases_and_every_kind_of_spec(hidden_specs):
    grid = hidden_specs["grid_configs"]["cases"]
    assert any("expect_error" in c for c in grid) and sum("expect_error" not in c for c in grid) >= 6
    assert any("expect_error" in c for c in hidden_specs["select_best"]["cases"])


def test_the_reference_passes_the_public_and_hidden_checks(check, search, specs, hidden_specs):
    for name in specs:
        for spec in (specs[name], hidden_specs[name]):
            assert check.run_check(spec, getattr(search, name)) == (len(spec["cases"]), None)


def test_every_catalogued_mistake_is_named_with_its_explanation(check, catalogue, specs):
    for name, exercise in catalogue.items():
        for mistake in exercise.mistakes:
            _, failure = check.run_check(specs[name], mistake.impl)
            assert failure is not None and f"classic mistake: {mistake.title}." in failure, (name, mistake.id)
            assert mistake.explain in failure


def test_every_catalogued_mistake_fails_hidden_cases(check, catalogue, hidden_specs):
    for name, exercise in catalogue.items():
        for mistake in exercise.mistakes:
            assert check.run_check(hidden_specs[name], mistake.impl)[1] is not None, (name, mistake.id)


def test_the_global_state_title_is_the_exercises_own_and_unit_01_keeps_its_own(check, specs):
    observation = {"output": 1, "modified": [], "rng_untouched": [], "global_state_dependent": True}
    case = specs["sample_config"]["cases"][0]
    assert check.judge(specs["sample_config"], case, observation).mistake == \
        "sampling with NumPy's global random state"
    no_title = dict(specs["sample_config"], mistakes={})
    assert check.judge(no_title, case, observation).mistake == "shuffling with NumPy's global random state"


@pytest.fixture(scope="module")
def stub(stubs):
    """The release's search.py (``course/optimlab``), as a student first gets it."""
    return submodule(stubs, "search")


@pytest.mark.parametrize("name", ["sample_config", "grid_configs", "random_configs", "select_best"])
def test_the_stubs_fail_every_case_with_their_own_error(check, specs, stub, name):
    assert_stub_fails_with_its_own_error(check, specs[name], getattr(stub, name), "08_training")


def test_the_stub_keeps_the_given_helpers_and_no_solution_line(stub):
    secret, text = solution_lines("search"), released("search")
    assert len(secret) >= 15
    assert not [line for line in secret if line in text]
    assert stub.log_uniform(1e-3, 1.0) == ("log-uniform", 1e-3, 1.0) and stub.check_space(SPACE) is None
    trials = stub.run_trials(lambda lr: {"val_acc": lr}, [{"lr": 0.5}], progress=False)
    assert str(stub.trials_table(trials)).splitlines()[0].split() == ["trial", "lr", "val_acc", "seconds"]


def test_no_explanation_or_label_of_the_catalogue_holds_a_solution_line(catalogue):
    secret = solution_lines("search")
    words = [m.title + "\n" + m.explain for e in catalogue.values() for m in e.mistakes]
    words += [c["label"] for e in catalogue.values() for c in e.public()]
    assert not [line for line in secret for text in words if line in text]


# ------------------------------------------------------------------------- independently written wrong code


def _s_fresh_default_rng(space, rng):
    local = np.random.default_rng()
    return {k: (float(np.exp(local.uniform(np.log(s[1]), np.log(s[2])))) if s[0] == "log-uniform" else
                float(local.uniform(s[1], s[2])) if s[0] == "uniform" else s[1][int(local.integers(len(s[1])))])
            for k, s in space.items()}


def _s_python_random(space, rng):
    out = {}
    for k, s in space.items():
        if s[0] == "choice":
            out[k] = random.choice(list(s[1]))
        elif s[0] == "log-uniform":
            out[k] = math.exp(random.uniform(math.log(s[1]), math.log(s[2])))
        else:
            out[k] = random.uniform(s[1], s[2])
    return out


def _s_linear_by_hand(space, rng):
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][int(rng.integers(len(args[0])))]
        else:
            out[k] = args[0] + (args[1] - args[0]) * rng.random()  # right for "uniform" only
    return out


def _s_np_random_uniform(space, rng):
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][rng.integers(len(args[0]))]
        elif kind == "uniform":
            out[k] = float(np.random.uniform(args[0], args[1]))
        else:
            out[k] = float(np.exp(np.random.uniform(np.log(args[0]), np.log(args[1]))))
    return out


def _s_rounded(space, rng):
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][int(rng.integers(len(args[0])))]
        elif kind == "uniform":
            out[k] = round(float(rng.uniform(*args)), 4)
        else:
            out[k] = float(f"{np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))):.3g}")
    return out


def _s_log_of_uniform(space, rng):
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][int(rng.integers(len(args[0])))]
        elif kind == "uniform":
            out[k] = float(rng.uniform(*args))
        else:
            out[k] = float(np.log(rng.uniform(args[0], args[1])))
    return out


def _s_mixed_bases(space, rng):
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][int(rng.integers(len(args[0])))]
        elif kind == "uniform":
            out[k] = float(rng.uniform(*args))
        else:
            out[k] = float(10 ** rng.uniform(np.log(args[0]), np.log(args[1])))
    return out


def _s_choice_off_by_one(space, rng):
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][int(rng.integers(max(1, len(args[0]) - 1)))]
        elif kind == "uniform":
            out[k] = float(rng.uniform(*args))
        else:
            out[k] = float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    return out


def _s_alphabetical(space, rng):
    out = {}
    for k in sorted(space.keys()):
        kind, *args = space[k]
        if kind == "choice":
            out[k] = args[0][int(rng.integers(len(args[0])))]
        elif kind == "uniform":
            out[k] = float(rng.uniform(*args))
        else:
            out[k] = float(np.exp(rng.uniform(np.log(args[0]), np.log(args[1]))))
    return out


def _s_one_number(space, rng):
    u = float(rng.uniform())
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][min(int(u * len(args[0])), len(args[0]) - 1)]
        elif kind == "uniform":
            out[k] = args[0] + u * (args[1] - args[0])
        else:
            out[k] = args[0] * (args[1] / args[0]) ** u
    return out


def _s_log10_correct(space, rng):
    """Correct: 10 ** a uniform draw between the log10 bounds."""
    out = {}
    for k, (kind, *args) in space.items():
        if kind == "choice":
            out[k] = args[0][int(rng.integers(len(args[0])))]
        elif kind == "uniform":
            out[k] = float(rng.uniform(*args))
        else:
            out[k] = float(10.0 ** rng.uniform(math.log10(args[0]), math.log10(args[1])))
    return out


def _grid(space, budget, *, m_rule=None, centre=0.5, ends=False, order=None, indexing=None, log_as_linear=False,
          check_choices=True):
    """A grid written independently, with knobs for the bugs; ``m_rule(c, k, budget)`` overrides m."""
    names = list(space) if order is None else order(list(space))
    choice_sizes = [len(space[n][1]) for n in names if space[n][0] == "choice"]
    c = int(np.prod(choice_sizes)) if choice_sizes else 1
    k = len(names) - len(choice_sizes)
    if check_choices and budget < c:
        raise ValueError(f"budget {budget} < {c}")
    m = m_rule(c, k, budget) if m_rule else (_brute_force_m(c, k, budget) if k else 1)
    axes = []
    for n in names:
        kind, *args = space[n]
        if kind == "choice":
            axes.append(list(args[0]))
        elif kind == "uniform" or log_as_linear:
            lo, hi = args
            axes.append(list(np.linspace(lo, hi, m)) if ends else [lo + (i + centre) * (hi - lo) / m for i in range(m)])
        else:
            lo, hi = np.log10(args[0]), np.log10(args[1])
            pts = np.linspace(lo, hi, m) if ends else [lo + (i + centre) * (hi - lo) / m for i in range(m)]
            axes.append([float(10 ** p) for p in pts])
    if indexing:
        mesh = np.meshgrid(*[np.arange(len(a)) for a in axes], indexing=indexing)
        combos = [tuple(ax[int(i)] for ax, i in zip(axes, idx)) for idx in zip(*[g.ravel() for g in mesh])]
    else:
        combos = list(itertools.product(*axes))
    return [{n: (float(v) if space[n][0] != "choice" else v) for n, v in zip(names, combo)} for combo in combos]


def _g(**knobs):
    def buggy(space, budget):
        return _grid(space, budget, **knobs)
    buggy.__name__ = "_grid_" + "_".join(f"{k}_{getattr(v, '__name__', v)}" for k, v in knobs.items())
    return buggy


def _root(c, k, budget):
    return int((budget / c) ** (1.0 / k)) if k else 1


def _rounded_root(c, k, budget):
    return max(1, round((budget / c) ** (1.0 / k))) if k else 1


def _whole_budget(c, k, budget):
    return budget


def _choices_ignored(c, k, budget):
    return _brute_force_m(1, k, budget) if k else 1


def _r_reseeded(space, budget, rng):
    from optimlab.search import sample_config

    return [sample_config(space, np.random.default_rng(12345)) for _ in range(budget)]


def _r_copied(space, budget, rng):
    from optimlab.search import sample_config

    configs = []
    for _ in range(budget):
        bits = type(rng.bit_generator)()
        bits.state = rng.bit_generator.state  # a generator in the same state: the given one never moves
        configs.append(sample_config(space, np.random.Generator(bits)))
    return configs


def _r_one_short(space, budget, rng):
    from optimlab.search import sample_config

    return [sample_config(space, rng) for _ in range(1, budget)]


def _r_global(space, budget, rng):
    return [_s_np_random_uniform(space, rng) for _ in range(budget)]


def _r_unseeded(space, budget, rng):
    return [_s_fresh_default_rng(space, rng) for _ in range(budget)]


def _b_python_max(trials, *, metric="val_acc", mode="max"):
    pick = max if mode == "max" else min
    return pick(range(len(trials)), key=lambda i: trials[i][metric])


def _b_sorted_last(trials, *, metric="val_acc", mode="max"):
    finite = [i for i in range(len(trials)) if math.isfinite(trials[i][metric])]
    if not finite:
        raise ValueError("no finite value")
    ranked = sorted(finite, key=lambda i: trials[i][metric])
    return ranked[-1] if mode == "max" else ranked[0]


def _b_python_sorted(trials, *, metric="val_acc", mode="max"):
    return sorted(range(len(trials)), key=lambda i: trials[i][metric], reverse=mode == "max")[0]


def _b_test_first(trials, *, metric="val_acc", mode="max"):
    scores = np.array([t.get("test_acc", t[metric]) for t in trials], dtype=float)
    if mode == "min":
        scores = -scores
    if np.all(np.isnan(scores)):
        raise ValueError("nothing")
    return int(np.nanargmax(scores))


def _b_always_max(trials, *, metric="val_acc", mode="max"):
    scores = np.array([t[metric] for t in trials], dtype=float)
    return int(np.nanargmax(scores))


def _b_always_val_acc(trials, *, metric="val_acc", mode="max"):
    scores = np.array([t["val_acc"] for t in trials], dtype=float)
    return int(np.nanargmax(scores) if mode == "max" else np.nanargmin(scores))


def _b_none_when_all_nan(trials, *, metric="val_acc", mode="max"):
    values = [t[metric] if mode == "max" else -t[metric] for t in trials]
    candidates = [(v, -i) for i, v in enumerate(values) if not math.isnan(v)]
    return -max(candidates)[1] if candidates else None


def _b_returns_the_value(trials, *, metric="val_acc", mode="max"):
    scores = np.array([t[metric] for t in trials], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all NaN: nanmax warns and returns NaN
        return float(np.nanmax(scores) if mode == "max" else np.nanmin(scores))


def _b_returns_the_trial(trials, *, metric="val_acc", mode="max"):
    scores = np.array([t[metric] for t in trials], dtype=float)
    return trials[int(np.nanargmax(scores) if mode == "max" else np.nanargmin(scores))]


def _b_nanargmax_correct(trials, *, metric="val_acc", mode="max"):
    """Correct: np.nanargmax / np.nanargmin (first of ties; ValueError when everything is NaN)."""
    scores = np.array([t[metric] for t in trials], dtype=float)
    return int(np.nanargmax(scores) if mode == "max" else np.nanargmin(scores))


def _titles():
    from autograder.exercises import unit08

    return {(e.name, m.id): m.title for e in unit08.SEARCH for m in e.mistakes}


T = _titles()

#: (exercise, wrong implementation, the classic mistake's title or None when it has none, whether the hidden
#: cases can show it: a budget below the choices and all-diverged trials come up in some draws only, but they do
#: within 12).
INDEPENDENT_MISTAKES = [
    ("sample_config", _s_fresh_default_rng, None),
    ("sample_config", _s_python_random, None),
    ("sample_config", _s_linear_by_hand, T["sample_config", "linear"]),
    ("sample_config", _s_np_random_uniform, T["sample_config", "global_state"]),
    ("sample_config", _s_rounded, None),
    ("sample_config", _s_log_of_uniform, None),
    ("sample_config", _s_mixed_bases, None),
    ("sample_config", _s_choice_off_by_one, None),
    ("sample_config", _s_alphabetical, T["sample_config", "sorted_keys"]),
    ("sample_config", _s_one_number, T["sample_config", "shared_draw"]),
    ("grid_configs", _g(m_rule=_root), T["grid_configs", "float_root"]),
    ("grid_configs", _g(m_rule=_rounded_root), None),
    ("grid_configs", _g(m_rule=_whole_budget), T["grid_configs", "budget_per_axis"]),
    ("grid_configs", _g(m_rule=_choices_ignored), T["grid_configs", "choices_not_counted"]),
    ("grid_configs", _g(centre=1.0), None),
    ("grid_configs", _g(centre=0.0), None),
    ("grid_configs", _g(ends=True), T["grid_configs", "endpoints"]),
    ("grid_configs", _g(log_as_linear=True), T["grid_configs", "log_linear"]),
    ("grid_configs", _g(order=sorted), None),
    ("grid_configs", _g(indexing="xy"), None),
    ("grid_configs", _g(check_choices=False), T["grid_configs", "no_error"]),
    ("random_configs", _r_reseeded, None),
    ("random_configs", _r_copied, T["random_configs", "fresh_generator"]),
    ("random_configs", _r_one_short, None),
    ("random_configs", _r_global, T["random_configs", "global_state"]),
    ("random_configs", _r_unseeded, None),
    ("select_best", _b_python_max, T["select_best", "argmax_nan"]),
    ("select_best", _b_sorted_last, T["select_best", "last_tie"]),
    ("select_best", _b_python_sorted, None),
    ("select_best", _b_test_first, T["select_best", "test_set"]),
    ("select_best", _b_always_max, T["select_best", "ignore_mode"]),
    ("select_best", _b_always_val_acc, None),
    ("select_best", _b_none_when_all_nan, T["select_best", "no_error"]),
    ("select_best", _b_returns_the_value, None),
    ("select_best", _b_returns_the_trial, None),
]


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_with_their_mistake_named(check, specs, name, buggy, title):
    assert_wrong_and_named(check, specs[name], buggy, title)


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_hidden_cases_too(check, hidden_specs, name, buggy, title):
    _, failure = check.run_check(hidden_specs[name], buggy)
    assert failure is not None, f"{buggy.__name__} passes 12 hidden draws"


@pytest.mark.parametrize("name, correct", [
    ("sample_config", _s_log10_correct),
    ("grid_configs", _g()),
    ("grid_configs", _g(m_rule=lambda c, k, budget: max(m for m in range(1, 200) if c * m**k <= budget) if k else 1)),
    ("select_best", _b_nanargmax_correct),
    ("random_configs", lambda space, budget, rng: [_s_log10_correct(space, rng) for _ in range(budget)]),
])
def test_correct_implementations_in_another_style_pass(check, specs, hidden_specs, name, correct):
    for spec in (specs[name], hidden_specs[name]):
        assert check.run_check(spec, correct) == (len(spec["cases"]), None)
