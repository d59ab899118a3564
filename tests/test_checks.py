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


@pytest.mark.parametrize("name, buggy, title", [
    ("gd_update", _sign_flipped, "wrong sign of the update"),
    ("least_squares_grad", _sum_over_batch, "gradient summed instead of averaged over the batch"),
    ("numerical_gradient", _forward, "forward instead of centred difference"),
    ("minibatches", _sampled_with_replacement, "mini-batches that repeat samples"),
    ("minibatches", _python_random_shuffle, "shuffling with NumPy's global random state"),
    ("minibatches", _drops_remainder, "dropping the last partial batch"),
])
def test_independently_written_mistakes_are_named(check, name, buggy, title):
    passed, failure = check.run_check(check.load_spec(name), buggy)
    assert f"classic mistake: {title}." in failure


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
