"""The self-checks: the reference passes them, every stub fails them, every classic mistake is named."""

import numpy as np
import pytest

from autograder.checkdata import record
from autograder.exercises import units
from conftest import submodule

EXERCISES = [exercise for unit in units().values() for exercise in unit]
IDS = [e.name for e in EXERCISES]
MISTAKES = [(e, m) for e in EXERCISES for m in e.mistakes]


@pytest.fixture(scope="module")
def check(ref):
    return submodule(ref, "check")


def _reference(ref, exercise):
    return getattr(submodule(ref, exercise.module), exercise.name)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_reference_passes_every_shipped_check(check, ref, exercise):
    spec = check.load_spec(exercise.name)
    passed, failure = check.run_check(spec, _reference(ref, exercise))
    assert failure is None and passed == len(spec["cases"]) >= 2


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_the_reference_passes_fresh_hidden_cases(check, ref, exercise):
    rng = np.random.default_rng(2026)
    cases = [c for _ in range(20) for c in exercise.hidden(rng)]
    spec = record(exercise, cases)
    assert check.run_check(spec, _reference(ref, exercise)) == (len(cases), None)


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_every_stub_fails_its_check_with_its_own_not_implemented_error(check, stubs, exercise):
    stub = getattr(submodule(stubs, exercise.module), exercise.name)
    spec = check.load_spec(exercise.name)
    with pytest.raises(NotImplementedError, match=f"{exercise.name} is not implemented yet"):
        check.run_check(spec, stub)
    passed, failure = check.run_check(spec, stub, reraise=())
    assert passed == 0 and f"{exercise.name} is not implemented yet" in failure


@pytest.mark.parametrize("exercise, mistake", MISTAKES, ids=[f"{e.name}-{m.id}" for e, m in MISTAKES])
def test_every_classic_mistake_is_named(check, exercise, mistake):
    spec = check.load_spec(exercise.name)
    passed, failure = check.run_check(spec, mistake.impl)
    assert failure is not None, f"{mistake.title} passes the checks of {exercise.name}"
    assert f"classic mistake: {mistake.title}." in failure
    assert mistake.explain in failure
    assert f'On the case "' in failure


@pytest.mark.parametrize("title", [
    "wrong sign of the update",
    "gradient summed instead of averaged over the batch",
    "forward instead of centred difference",
    "dropping the last partial batch",
    "mini-batches that repeat samples",
    "shuffling with NumPy's global random state",
])
def test_the_mistakes_unit_01_promises_are_catalogued(title):
    assert title in {m.title for _, m in MISTAKES}


# A few mistakes written independently of the catalogue, to show the names come from behaviour, not identity.

def _sign_flipped(param, grad, *, lr):
    return np.add(param, np.multiply(grad, lr))


def _sum_over_batch(w, X, y):
    return np.einsum("nd,n->d", X, X @ w - y)


def _forward(f, x, *, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    return np.array([(f(x + h * e) - f(x)) / h for e in np.eye(x.size)]).reshape(x.shape)


def _sampled_with_replacement(n, batch_size, *, rng, shuffle=True, drop_last=False):
    picks = rng.choice(n, size=n, replace=True)
    return iter([picks[i:i + batch_size] for i in range(0, n, batch_size)])


def _python_random_shuffle(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = np.arange(n)
    if shuffle:
        np.random.shuffle(order)
    end = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, end, batch_size)]


def _drops_remainder(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(n // batch_size)]


def test_a_failure_shows_expected_and_got_on_a_small_case(check):
    _, failure = check.run_check(check.load_spec("gd_update"), _sign_flipped)
    assert "the new parameter has the wrong values" in failure
    assert "expected: [ 0.95, -2.05,  0.6 ]" in failure and "got:      [ 1.05, -1.95,  0.4 ]" in failure
    assert "param = [ 1. , -2. ,  0.5]" in failure and "grad  = [ 0.5,  0.5, -1. ]" in failure


@pytest.mark.parametrize("buggy, words", [
    (lambda param, grad, *, lr: None, "None (did you forget to return it?)"),
    (lambda param, grad, *, lr: (param - lr * grad).tolist(), "should be a NumPy array"),
    (lambda param, grad, *, lr: (param - lr * grad)[None], "has shape (1, 3), expected (3,)"),
    (lambda param, grad, *, lr: param.astype(np.float64) - lr * grad, "has dtype float64, expected float32"),
    (lambda param, grad, *, lr: param / 0.0, "NaN or infinity"),
    (lambda param, grad, *, lr: 1 / 0, "raised ZeroDivisionError"),
    (lambda param, grad, learning_rate: param, "raised TypeError"),
])
def test_other_wrong_answers_get_a_plain_description(check, buggy, words):
    with np.errstate(divide="ignore", invalid="ignore"):
        _, failure = check.run_check(check.load_spec("gd_update"), buggy)
    assert words in failure


def test_an_endless_generator_is_reported_not_hung(check):
    def forever(n, batch_size, *, rng, shuffle=True, drop_last=False):
        while True:
            yield np.arange(batch_size)

    _, failure = check.run_check(check.load_spec("minibatches"), forever)
    assert "never ends" in failure


def test_check_prints_success_and_raises_a_short_failure(check, capsys, monkeypatch):
    check.check("gd_update")
    assert capsys.readouterr().out.strip() == "✔ gd_update: all 3 cases pass."
    gd = __import__(f"{check.__package__}.gd", fromlist=["gd_update"])
    monkeypatch.setattr(gd, "gd_update", _sign_flipped)
    with pytest.raises(check.CheckFailed) as failed:
        check.check("gd_update")
    rendered = "\n".join(failed.value._render_traceback_())
    assert "wrong sign of the update" in rendered and "0 of 3 cases pass" in rendered
    assert "Traceback" not in rendered


def test_the_global_random_state_is_left_as_it_was(check, ref):
    np.random.seed(7)
    before = np.random.get_state()[1].copy()
    check.run_check(check.load_spec("minibatches"), _reference(ref, EXERCISES[2]))
    assert np.array_equal(np.random.get_state()[1], before)


# Runs of several steps (the optimizer updates of units 02 to 04).


def test_every_exercise_is_catalogued_in_the_unit_its_decorator_names(ref):
    registered = submodule(ref, "_exercise").EXERCISES
    for unit, exercises in units().items():
        for exercise in exercises:
            assert registered[exercise.name].unit == unit and registered[exercise.name].module == exercise.module


def _adam_no_correction(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    m = b1 * state.get("exp_avg", 0.0) + (1 - b1) * (grad + weight_decay * param)
    v = b2 * state.get("exp_avg_sq", 0.0) + (1 - b2) * (grad + weight_decay * param) ** 2
    return param - lr * m / (v ** 0.5 + eps), {"step": state.get("step", 0) + 1, "exp_avg": m, "exp_avg_sq": v}


def _momentum_restarting(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    if momentum == 0:
        return param - lr * g, {}
    return param - lr * g, {"momentum_buffer": np.copy(g)}


def _adagrad_sum_of_g(param, grad, state, *, lr=1e-2, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    s = np.add(state.get("sum", initial_accumulator_value), grad + weight_decay * param)
    return param - lr * (grad + weight_decay * param) / (np.sqrt(s) + eps), {"step": state.get("step", 0) + 1, "sum": s}


@pytest.mark.parametrize("name, buggy, title", [
    ("gd_update", _sign_flipped, "wrong sign of the update"),
    ("least_squares_grad", _sum_over_batch, "gradient summed instead of averaged over the batch"),
    ("numerical_gradient", _forward, "forward instead of centred difference"),
    ("minibatches", _sampled_with_replacement, "mini-batches that repeat samples"),
    ("minibatches", _python_random_shuffle, "shuffling with NumPy's global random state"),
    ("minibatches", _drops_remainder, "dropping the last partial batch"),
    ("adam_update", _adam_no_correction, "Adam without bias correction"),
    ("momentum_update", _momentum_restarting, "momentum buffer not carried between steps"),
    ("adagrad_update", _adagrad_sum_of_g, "accumulating g instead of g²"),
])
def test_independently_written_mistakes_are_named(check, name, buggy, title):
    _, failure = check.run_check(check.load_spec(name), buggy)
    assert f"classic mistake: {title}." in failure


def test_a_run_names_the_first_step_and_quantity_that_differ(check):
    from optimlab.optim import adam_update

    calls = []

    def wrong_square_avg_from_the_third_call(param, grad, state, **kwargs):
        calls.append(1)
        new_param, new_state = adam_update(param, grad, state, **kwargs)
        if len(calls) >= 3:
            new_state = dict(new_state, exp_avg_sq=new_state["exp_avg_sq"] * 1.5)
        return new_param, new_state

    _, failure = check.run_check(check.load_spec("adam_update"), wrong_square_avg_from_the_third_call)
    assert "adam_update is not right yet: state['exp_avg_sq'] after step 3 has the wrong values." in failure
    assert "  state['exp_avg_sq'] after step 3:\n    expected: " in failure and "\n    got:      " in failure
    assert "grad         = step 1: [ 0.5 , -1.  ,  0.25]" in failure
    assert "                   step 6: [ 0.6, -0.2,  0.1]" in failure
    assert "state        = {'step': 3, 'exp_avg': [ 0.2, -0.3,  0.1], 'exp_avg_sq': [0.05, 0.1 , 0.02]}" in failure


@pytest.mark.parametrize("buggy, words", [
    (lambda param, grad, state, **kw: param - 0.1 * grad,
     "the new parameter and state after step 1 should be a tuple of 2 values (the parameter, state), "
     "got a NumPy array"),
    (lambda param, grad, state, **kw: (param - 0.1 * grad, None),
     "state after step 1 should be a dict with the keys 'step', 'exp_avg', 'exp_avg_sq', got None"),
    (lambda param, grad, state, **kw: (param, {"step": 1, "m": grad, "v": grad}),
     "state after step 1 has no key 'exp_avg'"),
    (lambda param, grad, state, **kw: (param, {"step": 1, "exp_avg": grad, "exp_avg_sq": grad, "t": 1}),
     "state after step 1 has the key(s) 't', which should not be there"),
    (lambda param, grad, state, **kw: (param, dict(state, step=state.get("step", 0) + 2)),
     "state['step'] after step 1 is 5, expected 4"),
    (lambda param, grad, state, **kw: (param, dict(state, step=state["step"] + 1)) if state["step"] < 5 else 1 / 0,
     "raised ZeroDivisionError at step 3: division by zero"),
])
def test_wrong_runs_get_a_plain_description(check, buggy, words):
    _, failure = check.run_check(check.load_spec("adam_update"), buggy)
    assert words in failure


def test_a_state_changed_in_place_is_caught_at_its_step(check):
    from optimlab.optim import momentum_update

    def in_place_from_step_2(param, grad, state, **kwargs):
        new_param, new_state = momentum_update(param, grad, state, **kwargs)
        if "momentum_buffer" in state:
            state["momentum_buffer"] *= 1.0  # the same numbers, but written into the caller's array
            state["momentum_buffer"][...] = new_state["momentum_buffer"]
        return new_param, new_state

    _, failure = check.run_check(check.load_spec("momentum_update"), in_place_from_step_2)
    assert "changed its input `state` in place at step 2" in failure
    assert "classic mistake: modifying an input in place." in failure


def test_a_run_in_float32_must_stay_float32(check):
    from optimlab.optim import rmsprop_update

    def upcast(param, grad, state, **kwargs):
        new_param, new_state = rmsprop_update(param, grad, state, **kwargs)
        return new_param.astype(np.float64), new_state

    spec = check.load_spec("rmsprop_update")
    float32 = [c for c in spec["cases"] if c["args"]["param"]["dtype"] == "float32"]
    _, failure = check.run_check(dict(spec, cases=float32), upcast)
    assert "the parameter after step 1 has dtype float64, expected float32" in failure


def test_collect_records_a_run_without_the_expected_values(check, ref):
    case = check.load_spec("nesterov_update")["cases"][0]
    blind = {k: v for k, v in case.items() if k not in ("expected", "mistakes")}
    observation = check.collect(submodule(ref, "optim").nesterov_update, blind)
    assert observation["output"] == case["expected"] and observation["modified"] == []
    assert len(observation["output"]["steps"]) == len(case["steps"]["vary"]["grad"]) >= 5
