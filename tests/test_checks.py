"""The self-checks: the reference passes them, every stub fails them, every classic mistake is named."""

import bisect
import math

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
    for exercise in EXERCISES:  # importing a module registers its exercises
        submodule(ref, exercise.module)
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
    assert "adam_update is not right yet: state['exp_avg_sq'] after step 3 has the wrong values: the parameter " \
           "after step 3 is right, but state['exp_avg_sq'] is not" in failure
    assert "classic mistake: parameter right, state wrong." in failure
    assert "  state['exp_avg_sq'] after step 3:\n    expected: " in failure and "\n    got:      " in failure
    assert "grad         = step 1: [ 0.5 , -1.  ,  0.25]" in failure
    assert "                   step 6: [ 0.6, -0.2,  0.1]" in failure
    assert "state        = {'step': 3, 'exp_avg': [ 0.2, -0.3,  0.1], 'exp_avg_sq': [0.05, 0.1 , 0.02]}" in failure


def _adam(*args, **kwargs):
    from optimlab.optim import adam_update

    return adam_update(*args, **kwargs)


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
    (lambda param, grad, state, **kw: (param.copy(), dict(state, step=state["step"] + 1)) if state["step"] < 5
     else 1 / 0,
     "the parameter after step 1 has the wrong values; state['exp_avg'] after step 1 has the wrong values; "
     "state['exp_avg_sq'] after step 1 has the wrong values (and step 3 then raised ZeroDivisionError)."),
    (lambda param, grad, state, **kw: _adam(param, grad, state, **kw) if state.get("step", 0) < 5 else 1 / 0,
     "adam_update raised ZeroDivisionError at step 3: division by zero"),
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



# --------------------------------------------------------------------------------------------------------------
# What students really write: wrong implementations written independently of the catalogue. Each must fail its
# check, with the mistake named, and none may crash the check.


def _mb_greater_equal(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    start = 0
    while start < n:
        end = start + batch_size
        if drop_last and end >= n:
            break
        yield order[start:end]
        start = end


def _mb_greater_equal_remaining(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        if drop_last and batch_size >= n - start:
            return
        yield order[start:start + batch_size]


def _mb_negative_slice(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    usable = order[:-(n % batch_size)] if drop_last else order
    return (usable[i:i + batch_size] for i in range(0, len(usable), batch_size))


def _mb_lists(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = list(rng.permutation(n)) if shuffle else list(range(n))
    end = n - n % batch_size if drop_last else n
    for i in range(0, end, batch_size):
        yield order[i:i + batch_size]


def _mb_choice_shuffle(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.choice(n, size=n, replace=False) if shuffle else np.arange(n)
    end = n - n % batch_size if drop_last else n
    yield from (order[i:i + batch_size] for i in range(0, end, batch_size))


def _mb_keeps_partial(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def _momentum_early_return(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    if momentum == 0:
        return param - lr * grad, state.copy()
    g = grad + weight_decay * param
    buf = g if "momentum_buffer" not in state else momentum * state["momentum_buffer"] + (1 - dampening) * g
    return param - lr * buf, {"momentum_buffer": buf}


def _momentum_first_buffer_is_grad(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    d_p = grad
    if weight_decay != 0:
        d_p = d_p + weight_decay * param
    new_state = dict(state)
    if momentum != 0:
        if "momentum_buffer" not in state:
            new_state["momentum_buffer"] = d_p
        else:
            new_state["momentum_buffer"] = momentum * state["momentum_buffer"] + (1 - dampening) * d_p
        d_p = new_state["momentum_buffer"]
    return param - lr * d_p, new_state


def _momentum_velocity(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    if momentum == 0:
        return param - lr * g, {}
    v = state.get("momentum_buffer")
    v = -lr * g if v is None else momentum * v - lr * (1 - dampening) * g
    return param + v, {"momentum_buffer": v}


def _momentum_swapped(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    from optimlab.optim import momentum_update

    p, st = momentum_update(param, grad, state, lr=lr, momentum=momentum, dampening=dampening,
                            weight_decay=weight_decay)
    return st, p


def _nesterov_buffer_is_grad(param, grad, state, *, lr, momentum, weight_decay=0.0):
    g = grad + weight_decay * param if weight_decay else grad
    b = state["momentum_buffer"] * momentum + g if "momentum_buffer" in state else g
    return param - lr * (g + momentum * b), {"momentum_buffer": b}


def _adam_zeros_of_shape(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    t = state.get("step", 0) + 1
    g = grad + weight_decay * param
    m = b1 * state.get("exp_avg", np.zeros(param.shape)) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", np.zeros(param.shape)) + (1 - b2) * g ** 2
    return param - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps), {"step": t, "exp_avg": m,
                                                                                    "exp_avg_sq": v}


def _adam_numpy_scalar(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    t = state.get("step", 0) + 1
    g = grad + weight_decay * param
    m = b1 * state.get("exp_avg", np.zeros_like(param)) + (1 - b1) * g
    v = b2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - b2) * g * g
    alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)        # the paper's efficient form, as an np.float64
    eps_hat = eps * np.sqrt(1 - b2 ** t)
    return param - alpha * m / (np.sqrt(v) + eps_hat), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def _adam_stores_corrected(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    from optimlab.optim import adam_update

    new_param, new_state = adam_update(param, grad, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    t = new_state["step"]
    return new_param, {"step": t, "exp_avg": new_state["exp_avg"] / (1 - betas[0] ** t),
                       "exp_avg_sq": new_state["exp_avg_sq"]}


def _adagrad_denominator_before_adding(param, grad, state, *, lr=1e-2, weight_decay=0.0,
                                       initial_accumulator_value=0.0, eps=1e-10):
    g = grad + weight_decay * param
    s = state["sum"] if "sum" in state else np.full_like(param, initial_accumulator_value)
    step = param - lr * g / (np.sqrt(s) + eps)
    return step, {"step": state.get("step", 0) + 1, "sum": s + g * g}


def _rmsprop_zeros(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    g = grad + weight_decay * param
    avg = state["square_avg"] if "square_avg" in state else np.zeros(np.shape(param))
    avg = alpha * avg + (1 - alpha) * np.square(g)
    return param - lr * g / (np.sqrt(avg) + eps), {"step": state.get("step", 0) + 1, "square_avg": avg}


def _adagrad_swapped(param, grad, state, **kwargs):
    from optimlab.optim import adagrad_update

    return tuple(reversed(adagrad_update(param, grad, state, **kwargs)))


def _ng_ravel(f, x, *, h=1e-5):
    """As the reference used to read: a "flat view" through ravel(), which copies a Fortran-ordered x."""
    x = np.array(x, dtype=float)
    out = np.empty_like(x)
    xf, gf = x.ravel(), out.ravel()
    for i in range(xf.size):
        keep = xf[i]
        xf[i] = keep + h
        up = f(x)
        xf[i] = keep - h
        down = f(x)
        xf[i] = keep
        gf[i] = (up - down) / (2 * h)
    return out


def _ng_fixed_h(f, x, *, h=1e-5):
    x = np.asarray(x, dtype=np.float64)
    eps = 1e-6
    grad = np.zeros(x.shape)
    for i in np.ndindex(*x.shape):
        e = np.zeros(x.shape)
        e[i] = eps
        grad[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return grad


# Unit 05: schedules written the way students write them (loops, numpy, bisect), each with one classic mistake.


def _step_counting_decays(t, *, base_lr, step_size, gamma=0.1):
    lr = base_lr
    for k in range(1, t + 2):                 # one too many: the decay "of" step k happens at k - 1
        if k % step_size == 0:
            lr *= gamma
    return lr


def _step_pow(t, *, base_lr, step_size, gamma=0.1):
    return base_lr * math.pow(gamma, t / step_size)


def _multistep_searchsorted_unique(t, *, base_lr, milestones, gamma=0.1):
    return base_lr * gamma ** int(np.searchsorted(np.unique(milestones), t, side="right"))


def _multistep_bisect_left(t, *, base_lr, milestones, gamma=0.1):
    return base_lr * gamma ** bisect.bisect_left(sorted(milestones), t)


def _exponential_loop(t, *, base_lr, gamma):
    lr = base_lr
    for _ in range(t + 1):
        lr = lr * gamma
    return lr


def _cosine_stops_at_eta_min(t, *, base_lr, T_max, eta_min=0.0):
    if t >= T_max:
        return eta_min
    return eta_min + 0.5 * (base_lr - eta_min) * (1 + np.cos(np.pi * t / T_max))


def _cosine_one_based(t, *, base_lr, T_max, eta_min=0.0):
    step = t + 1
    return float(eta_min + (base_lr - eta_min) * (1 + np.cos(step * np.pi / T_max)) / 2)


def _linear_ramp_from_zero(t, *, base_lr, start_factor=1 / 3, end_factor=1.0, total_iters=5):
    fraction = t / total_iters if t < total_iters else 1.0
    return base_lr * end_factor * fraction


def _warmup_one_based(t, *, base_lr, warmup_iters, T_max, start_factor=1 / 3, eta_min=0.0):
    if t < warmup_iters:
        return base_lr * (start_factor + (1 - start_factor) * (t + 1) / warmup_iters)
    s = t - warmup_iters
    return eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(s * math.pi / T_max))


def _warmup_cosine_of_t(t, *, base_lr, warmup_iters, T_max, start_factor=1 / 3, eta_min=0.0):
    warm = base_lr * (start_factor + (1 - start_factor) * t / warmup_iters)
    cosine = eta_min + 0.5 * (base_lr - eta_min) * (1 + math.cos(math.pi * t / T_max))
    return warm if t < warmup_iters else cosine


def _cyclic_period_is_step_size(t, *, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                                gamma=1.0):
    period = step_size_up
    cycle, into = divmod(t, period)
    height = 1 - abs(2 * into / period - 1)
    amplitude = {"triangular": 1.0, "triangular2": 0.5 ** cycle, "exp_range": gamma ** t}[mode]
    return base_lr + (max_lr - base_lr) * height * amplitude


def _cyclic2_per_half_cycle(t, *, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                            gamma=1.0):
    down = step_size_down or step_size_up
    period = step_size_up + down
    cycles, into = divmod(t, period)
    rising = into <= step_size_up
    height = into / step_size_up if rising else (period - into) / down
    halvings = 2 * cycles + (0 if rising else 1)
    amplitude = {"triangular": 1.0, "triangular2": 0.5 ** halvings, "exp_range": gamma ** t}[mode]
    return base_lr + (max_lr - base_lr) * height * amplitude


def _one_cycle_fastai_end(t, *, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
                          final_div_factor=1e4, three_phase=False):
    low, end = max_lr / div_factor, max_lr / final_div_factor
    peak = pct_start * total_steps - 1
    if three_phase:
        points = [(0.0, low), (peak, max_lr), (2 * peak, low), (total_steps - 1, end)]
    else:
        points = [(0.0, low), (peak, max_lr), (total_steps - 1, end)]
    k = next((i for i in range(1, len(points)) if t <= points[i][0]), len(points) - 1)
    (s0, a), (s1, b) = points[k - 1], points[k]
    p = (t - s0) / (s1 - s0)
    if anneal_strategy == "linear":
        return a + p * (b - a)
    return b + (a - b) * (math.cos(math.pi * p) + 1) / 2


def _plateau_wait(metric, lr, state, *, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
                  cooldown=0, min_lr=0.0, eps=1e-8):
    sign = 1 if mode == "min" else -1
    best = state.get("best", sign * math.inf)
    wait, cool = state.get("num_bad_epochs", 0), state.get("cooldown_counter", 0)
    bar = best * (1 - sign * threshold) if threshold_mode == "rel" else best - sign * threshold
    if sign * metric < sign * bar:
        best, wait = metric, 0
    else:
        wait += 1
    if cool > 0:
        cool, wait = cool - 1, 0
    if wait >= patience:                           # Keras: ReduceLROnPlateau's `self.wait >= self.patience`
        new_lr = max(lr * factor, min_lr)
        if lr - new_lr > eps:
            lr = new_lr
        cool, wait = cooldown, 0
    return lr, {"best": best, "num_bad_epochs": wait, "cooldown_counter": cool}


def _plateau_previous(metric, lr, state, *, mode="min", factor=0.1, patience=10, threshold=1e-4,
                      threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
    previous = state.get("best", math.inf if mode == "min" else -math.inf)
    if mode == "min":
        improved = metric < (previous * (1 - threshold) if threshold_mode == "rel" else previous - threshold)
    else:
        improved = metric > (previous * (1 + threshold) if threshold_mode == "rel" else previous + threshold)
    bad = 0 if improved else state.get("num_bad_epochs", 0) + 1
    cooling = state.get("cooldown_counter", 0)
    if cooling:
        cooling, bad = cooling - 1, 0
    if bad > patience:
        candidate = max(lr * factor, min_lr)
        lr = candidate if lr - candidate > eps else lr
        cooling, bad = cooldown, 0
    return lr, {"best": metric, "num_bad_epochs": bad, "cooldown_counter": cooling}


def _plateau_counts_in_place(metric, lr, state, *, mode="min", factor=0.1, patience=10, threshold=1e-4,
                             threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
    from optimlab.schedules import plateau_step

    new_lr, new_state = plateau_step(metric, lr, dict(state), mode=mode, factor=factor, patience=patience,
                                     threshold=threshold, threshold_mode=threshold_mode, cooldown=cooldown,
                                     min_lr=min_lr, eps=eps)
    state.clear()
    state.update(new_state)
    return new_lr, state


def _range_plain_average(step_loss, *, start_lr=1e-7, end_lr=10.0, num_iter=100, beta=0.98, diverge_threshold=4.0):
    lrs = np.geomspace(start_lr, end_lr, num_iter)
    raw, smooth, avg = [], [], 0.0
    for lr in lrs:
        raw.append(step_loss(lr))
        avg = avg * beta + raw[-1] * (1 - beta)
        smooth.append(avg)
        if len(smooth) > 1 and smooth[-1] > diverge_threshold * min(smooth[:-1]):
            break
    n = len(smooth)
    return lrs[:n], np.array(raw), np.array(smooth), float(lrs[int(np.argmin(smooth))] / 10)


def _range_no_tenth(step_loss, *, start_lr=1e-7, end_lr=10.0, num_iter=100, beta=0.98, diverge_threshold=4.0):
    from optimlab.schedules import lr_range_test

    lrs, losses, smoothed, suggested = lr_range_test(step_loss, start_lr=start_lr, end_lr=end_lr, num_iter=num_iter,
                                                     beta=beta, diverge_threshold=diverge_threshold)
    return lrs, losses, smoothed, suggested * 10


def _range_stops_on_batch_loss(step_loss, *, start_lr=1e-7, end_lr=10.0, num_iter=100, beta=0.98,
                               diverge_threshold=4.0):
    out = {"lr": [], "loss": [], "smooth": []}
    avg, best = 0.0, math.inf
    i = 0
    while i < num_iter:
        lr = start_lr * (end_lr / start_lr) ** (i / (num_iter - 1))
        loss = float(step_loss(lr))
        avg = beta * avg + (1 - beta) * loss
        out["lr"].append(lr)
        out["loss"].append(loss)
        out["smooth"].append(avg / (1 - beta ** (i + 1)))
        if loss > diverge_threshold * best:
            break
        best = min(best, loss)
        i += 1
    smooth = np.array(out["smooth"])
    return np.array(out["lr"]), np.array(out["loss"]), smooth, out["lr"][int(np.argmin(smooth))] / 10


INDEPENDENT_MISTAKES = [
    ("minibatches", _mb_greater_equal, "dropping a full last batch when batch_size divides n"),
    ("minibatches", _mb_greater_equal_remaining, "dropping a full last batch when batch_size divides n"),
    ("minibatches", _mb_negative_slice, "no batches at all when batch_size divides n"),
    ("minibatches", _mb_lists, "yielding lists instead of index arrays"),
    ("minibatches", _mb_choice_shuffle, "an epoch order that is a valid shuffle but not rng.permutation(n)"),
    ("minibatches", _mb_keeps_partial, "keeping the last partial batch although drop_last=True"),
    ("momentum_update", _momentum_early_return, "weight decay skipped when momentum is 0"),
    ("momentum_update", _momentum_first_buffer_is_grad, "an output that shares memory with an input"),
    ("momentum_update", _momentum_velocity, "momentum's velocity form (v = -lr * buffer) stored as the buffer"),
    ("momentum_update", _momentum_swapped, "returning (state, param) instead of (param, state)"),
    ("nesterov_update", _nesterov_buffer_is_grad, "an output that shares memory with an input"),
    ("adam_update", _adam_zeros_of_shape, "float64 leaking into a float32 computation"),
    ("adam_update", _adam_numpy_scalar, "float64 leaking into a float32 computation"),
    ("adam_update", _adam_stores_corrected, "parameter right, state wrong"),
    ("adagrad_update", _adagrad_denominator_before_adding, "state right, parameter wrong"),
    ("adagrad_update", _adagrad_swapped, "returning (state, param) instead of (param, state)"),
    ("rmsprop_update", _rmsprop_zeros, "float64 leaking into a float32 computation"),
    ("numerical_gradient", _ng_ravel, "wrong results for an input that is not C-contiguous"),
    ("numerical_gradient", _ng_fixed_h, "the step h ignored"),
    ("step_lr", _step_counting_decays, "decaying one step early: (t + 1) // step_size"),
    ("step_lr", _step_pow, "no floor: gamma ** (t / step_size)"),
    ("multistep_lr", _multistep_searchsorted_unique, "a repeated milestone counted once"),
    ("multistep_lr", _multistep_bisect_left, "decaying one step late: milestones < t"),
    ("exponential_lr", _exponential_loop, "one decay too many: gamma ** (t + 1)"),
    ("cosine_annealing_lr", _cosine_stops_at_eta_min, "the cosine clamped after T_max"),
    ("cosine_annealing_lr", _cosine_one_based, "counting the steps from 1"),
    ("linear_lr", _linear_ramp_from_zero, "a ramp from 0 (start_factor ignored)"),
    ("warmup_cosine_lr", _warmup_one_based, "a warmup with (t + 1) / warmup_iters"),
    ("warmup_cosine_lr", _warmup_cosine_of_t, "the cosine not restarted at the milestone"),
    ("cyclic_lr", _cyclic_period_is_step_size, "step_size_up taken as the whole cycle"),
    ("cyclic_lr", _cyclic2_per_half_cycle, "triangular2 halving every half cycle"),
    ("one_cycle_lr", _one_cycle_fastai_end, "a final rate of max_lr / final_div_factor"),
    ("plateau_step", _plateau_wait, "reducing one call early (Keras' rule, num_bad_epochs >= patience)"),
    ("plateau_step", _plateau_previous, "comparing with the last metric instead of the best"),
    ("plateau_step", _plateau_counts_in_place, "modifying an input in place"),
    ("lr_range_test", _range_plain_average, "a moving average without bias correction"),
    ("lr_range_test", _range_no_tenth, "suggesting the minimum itself"),
    ("lr_range_test", _range_stops_on_batch_loss, "stopping on the raw loss instead of the smoothed one"),
]


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_with_their_mistake_named(check, name, buggy, title):
    passed, failure = check.run_check(check.load_spec(name), buggy)
    assert failure is not None, f"{buggy.__name__} passes the checks of {name}"
    assert f"classic mistake: {title}." in failure, failure
    assert "checks cannot read" not in failure


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_hidden_cases_too(check, ref, name, buggy, title):
    exercise = next(e for e in EXERCISES if e.name == name)
    rng = np.random.default_rng(11)
    spec = record(exercise, [c for _ in range(12) for c in exercise.hidden(rng)], validate=False)
    passed, failure = check.run_check(spec, buggy)
    assert failure is not None and passed < len(spec["cases"]), f"{buggy.__name__} passes 12 hidden draws"


def test_a_swapped_tuple_is_reported_at_step_1_not_as_an_error_at_step_2(check):
    _, failure = check.run_check(check.load_spec("momentum_update"), _momentum_swapped)
    assert "the parameter after step 1 should be a NumPy array" in failure
    assert "returned the state first and the parameter second at step 1" in failure
    assert "raised TypeError" not in failure and "at step 2" not in failure


def test_the_aliased_buffer_names_the_output_and_the_input(check):
    _, failure = check.run_check(check.load_spec("momentum_update"), _momentum_first_buffer_is_grad)
    assert "state['momentum_buffer'] after step 1 shares memory with the input `grad`" in failure


def test_an_endless_generator_gets_no_other_diagnosis(check):
    def forever(n, batch_size, *, rng, shuffle=True, drop_last=False):
        while True:
            yield rng.permutation(n)[:batch_size]

    _, failure = check.run_check(check.load_spec("minibatches"), forever)
    assert "never ends" in failure
    assert "replacement" not in failure and "classic mistake" not in failure


def test_batches_of_the_wrong_sizes_are_described_without_a_guess(check):
    def split(n, batch_size, *, rng, shuffle=True, drop_last=False):
        order = rng.permutation(n) if shuffle else np.arange(n)
        return np.array_split(order, max(1, -(-n // batch_size)))

    _, failure = check.run_check(check.load_spec("minibatches"), split)
    assert "the batch sizes are [4, 3, 3], expected [4, 4, 2]" in failure and "classic mistake" not in failure


def test_a_layout_case_shows_the_layout(check):
    _, failure = check.run_check(check.load_spec("numerical_gradient"), _ng_ravel)
    assert "Fortran-ordered, like the transpose W.T of a C-ordered matrix" in failure
    assert "`x` is Fortran-ordered (like W.T)" in failure


# Plausible wrong answers of other kinds: each fails with a message that says what is wrong, and none crashes.

def _returns_param_itself(param, grad, *, lr):
    param = np.asarray(param)
    return param if lr == 0 else np.subtract(param, lr * grad, out=param)


def _adam_buffer_starts_at_gradient(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    b1, b2 = betas
    t = state.get("step", 0) + 1
    m = b1 * state["exp_avg"] + (1 - b1) * grad if "exp_avg" in state else grad.copy()
    v = b2 * state["exp_avg_sq"] + (1 - b2) * grad ** 2 if "exp_avg_sq" in state else grad ** 2
    return param - lr * m / (np.sqrt(v) + eps), {"step": t, "exp_avg": m, "exp_avg_sq": v}


def _ls_float32(w, X, y):
    return (X.T @ (X @ w - y) / len(y)).astype(np.float32)


@pytest.mark.parametrize("name, buggy, words", [
    ("gd_update", _returns_param_itself, "changed its input `param` in place"),
    ("adam_update", _adam_buffer_starts_at_gradient, "after step 1 has the wrong values"),
    ("least_squares_grad", _ls_float32, "has dtype float32, expected float64"),
    ("numerical_gradient", lambda f, x, *, h=1e-5: np.zeros(np.shape(x), dtype=int), "has dtype int64"),
    ("adamw_update", lambda param, grad, state, **kw: (param, state), "the parameter after step 1 has the wrong"),
])
def test_plausible_wrong_answers_get_a_meaningful_message(check, name, buggy, words):
    _, failure = check.run_check(check.load_spec(name), buggy)
    assert words in failure


# Hostile or broken outputs: the check reports them, never crashes, and never calls them a classic mistake.

class _Weird:
    def __eq__(self, other):
        raise RuntimeError("no comparing me")

    def __repr__(self):
        raise RuntimeError("no printing me")

    def __iter__(self):
        raise RuntimeError("no iterating me")


def _yield_then_fail(*args, **kwargs):
    yield np.arange(2)
    raise ValueError("broken halfway")


def _deep(*args, **kwargs):
    value = []
    for _ in range(5000):
        value = [value]
    return value


HOSTILE = [
    lambda *a, **k: _Weird(),
    lambda *a, **k: (_Weird(), {"momentum_buffer": _Weird()}),
    lambda *a, **k: iter([{"batch": 1}, {"batch": 2}]),
    lambda *a, **k: iter([[1.5, 2.5], "ab"]),
    lambda *a, **k: np.matrix([[1.0, 2.0]]),
    lambda *a, **k: np.array([1 + 2j, 3]),
    lambda *a, **k: np.array([object()], dtype=object),
    lambda *a, **k: np.zeros(200_000),
    lambda *a, **k: (np.zeros(3), None),
    lambda *a, **k: [np.zeros(3), {"step": _Weird()}],
    lambda *a, **k: {"param": np.zeros(3)},
    lambda *a, **k: float("nan"),
    _yield_then_fail,
    _deep,
]


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_hostile_outputs_never_crash_a_check(check, exercise):
    spec = check.load_spec(exercise.name)
    for fn in HOSTILE:
        passed, failure = check.run_check(spec, fn)
        assert passed < len(spec["cases"]) and isinstance(failure, str) and failure.startswith(exercise.name)


HOSTILE_OBSERVATIONS = [
    None, [], "text", {}, {"output": None}, {"output": {"array": "x"}}, {"error": "boom"}, {"error": {"type": 3}},
    {"output": {"steps": "x"}}, {"output": {"steps": [None, 3]}}, {"output": {"sequence": [{"dict": {}}]}},
    {"output": {"sequence": "abc"}}, {"output": {"tuple": [{"dict": {"a": 1}}, {"array": [1], "dtype": "float64",
                                                                              "shape": [1]}]}},
    {"output": {"array": [[1]], "dtype": "float64", "shape": [7]}}, {"output": 1, "shares_memory": [{"output": 3}]},
    {"output": 1, "modified": "abc"}, {"output": 1, "contiguous_output": {"array": 5}},
    {"error": {"type": "ValueError", "step": 2}, "output": {"steps": [{"unsupported": "x"}]}},
    {"output": {"array": [1e308] * 3, "dtype": "float16", "shape": [3]}},
]


@pytest.mark.parametrize("exercise", EXERCISES, ids=IDS)
def test_judge_and_explain_never_raise_on_hostile_observations(check, exercise):
    spec = check.load_spec(exercise.name)
    for case in spec["cases"]:
        for observation in HOSTILE_OBSERVATIONS:
            error = observation.get("error") if isinstance(observation, dict) else None
            if "expect_error" in case and isinstance(error, dict) and error.get("type") == case["expect_error"]["type"]:
                continue  # raising the expected error is right on such a case, whatever else comes with it
            if (isinstance(observation, dict) and observation.get("output") == case.get("expected")
                    and set(observation) <= {"output", "contiguous_output"} and not check._has_layouts(case["args"])):
                continue  # the right answer (select_best's index 1), and no layout for contiguous_output to be about
            verdict = check.judge(spec, case, observation)
            assert isinstance(verdict, check.Verdict) and not verdict.passed and verdict.message
            assert isinstance(check.explain(spec, case, observation, verdict), str)


def test_a_diagnosis_that_fails_is_not_offered(check, monkeypatch):
    def broken(*args):
        raise TypeError("the diagnosis itself is broken")

    monkeypatch.setitem(check.DIAGNOSES, "batches", broken)
    _, failure = check.run_check(check.load_spec("minibatches"), _mb_lists)
    assert "should be a NumPy array" in failure and "classic mistake" not in failure


def test_a_stub_in_a_check_cell_is_one_short_message(check, monkeypatch):
    gd = __import__(f"{check.__package__}.gd", fromlist=["gd_update"])
    message = ("gd_update is not implemented yet: write it in optimlab/gd.py (explained in notebook "
               "01_gradient_descent, section '2. One step downhill').")

    def stub(param, grad, *, lr):
        raise NotImplementedError(message)

    monkeypatch.setattr(gd, "gd_update", stub)
    with pytest.raises(NotImplementedError) as raised:
        check.check("gd_update")
    assert type(raised.value) is NotImplementedError and str(raised.value) == message
    assert raised.value._render_traceback_() == ["\x1b[31m✘ " + message + "\x1b[0m"]


# The reference, on every memory layout.

@pytest.mark.parametrize("layout", ["F", "strided", "reversed"])
def test_the_reference_numerical_gradient_is_right_on_every_layout(check, ref, layout):
    numerical_gradient = submodule(ref, "gradcheck").numerical_gradient
    x = np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]])
    laid_out = check.with_layout(x, layout)
    assert not laid_out.flags.c_contiguous and np.array_equal(laid_out, x)
    for f in check.CASE_FUNCTIONS.values():
        assert np.array_equal(numerical_gradient(f, laid_out, h=1e-3), numerical_gradient(f, x, h=1e-3))
    assert np.array_equal(laid_out, x)


#: Exercises whose inputs are numbers (and, for the range test, a function; for dropout_mask a shape and an rng;
#: for early stopping a loss and a state of numbers): no array, so no memory layout.
NUMBER_INPUTS = {"minibatches", *(e.name for e in units()["05_schedules"]), "dropout_mask", "early_stopping_step",
                 "sample_config", "grid_configs", "random_configs", "select_best"}  # search spaces and trials: no arrays


def test_every_exercise_has_a_public_case_with_an_input_that_is_not_c_contiguous(check):
    for exercise in EXERCISES:
        if exercise.name in NUMBER_INPUTS:
            continue
        cases = check.load_spec(exercise.name)["cases"]
        assert any(check._has_layouts(c["args"]) or check._has_layouts(c.get("steps")) for c in cases), exercise.name


def test_the_hidden_cases_cover_layouts_and_boundaries(check):
    by_name = {e.name: e for e in EXERCISES}
    rng = np.random.default_rng(5)
    for exercise in EXERCISES:
        cases = [c for _ in range(8) for c in exercise.hidden(rng)]
        if exercise.name not in NUMBER_INPUTS:
            assert any(check._has_layouts(c["args"]) or check._has_layouts(c.get("steps")) for c in cases)
    batches = [c["args"] for _ in range(10) for c in by_name["minibatches"].hidden(rng)]
    assert any(a["drop_last"] and a["n"] % a["batch_size"] == 0 for a in batches)
    assert any(a["batch_size"] == 1 for a in batches) and any(a["batch_size"] > a["n"] for a in batches)
    runs = [c["args"] for _ in range(10) for c in by_name["momentum_update"].hidden(rng)]
    assert any(a["momentum"] == 0 and a["weight_decay"] > 0 for a in runs)


# Runs of independent calls with named steps (the schedules of unit 05), and fresh stateful case arguments.


def _wrong_only_at(t_wrong, function):
    def buggy(t, **settings):
        lr = function(t, **settings)
        return lr * 1.01 if t == t_wrong else lr
    return buggy


def test_a_schedule_failure_names_the_step_t_and_shows_the_steps_compactly(check, ref):
    step_lr = submodule(ref, "schedules").step_lr
    _, failure = check.run_check(check.load_spec("step_lr"), _wrong_only_at(7, step_lr))
    assert "step_lr is not right yet: the learning rate at t = 7 has the wrong value." in failure
    assert "  the learning rate at t = 7:\n    expected: 0.05\n    got:      0.0505" in failure
    assert "    t         = 0, 1, 2, ..., 29\n    (one call for each t, with the other arguments as above)" in failure
    assert "step 1:" not in failure and "after step" not in failure and len(failure.splitlines()) < 20


def test_a_schedule_that_raises_is_reported_at_its_t(check):
    def raises_late(t, *, base_lr, gamma):
        if t >= 5:
            raise ValueError("t too large")
        return base_lr * gamma**t

    _, failure = check.run_check(check.load_spec("exponential_lr"), raises_late)
    assert "exponential_lr raised ValueError at t = 5: t too large" in failure


def test_a_schedule_wrong_before_it_raises_names_both(check):
    def wrong_then_raises(t, *, base_lr, gamma):
        if t >= 5:
            raise ValueError("t too large")
        return base_lr * gamma ** (t + 1)

    _, failure = check.run_check(check.load_spec("exponential_lr"), wrong_then_raises)
    assert "the learning rate at t = 0 has the wrong value (and then it raised ValueError at t = 5)." in failure


def test_a_run_without_carry_calls_once_per_step_with_only_the_varying_argument_changed(check):
    calls = []

    def record(t, **settings):
        calls.append((t, settings))
        return (1, 2)  # not what a schedule returns: with nothing carried, the run goes on regardless

    case = check.load_spec("cosine_annealing_lr")["cases"][0]
    observation = check.collect(record, {k: v for k, v in case.items() if k not in ("expected", "mistakes")})
    assert [t for t, _ in calls] == list(range(60)) and all(s == calls[0][1] for _, s in calls)
    assert len(observation["output"]["steps"]) == 60 and "stopped" not in observation


def test_a_plateau_failure_names_the_call_and_its_metric(check, ref):
    plateau_step = submodule(ref, "schedules").plateau_step

    def best_off_from_the_fifth_call(metric, lr, state, **settings):
        new_lr, new_state = plateau_step(metric, lr, state, **settings)
        calls.append(1)
        return new_lr, dict(new_state, best=new_state["best"] + (0.5 if len(calls) == 5 else 0.0))

    calls = []
    spec = check.load_spec("plateau_step")
    spec = dict(spec, cases=[c for c in spec["cases"] if c["label"].startswith("a dip to 0.6")])
    _, failure = check.run_check(spec, best_off_from_the_fifth_call)
    assert "plateau_step is not right yet: state['best'] after call 5 (metric 0.65) has the wrong value" in failure
    assert "metric         = one per step: [1.0, 0.8, 0.6, 0.66, 0.65," in failure
    assert "parameter right, state wrong" not in failure  # an optimizer's diagnosis, not a schedule's
    assert max(map(len, failure.splitlines()[:25])) <= 120


def test_a_case_factory_gives_a_fresh_stateful_object_for_every_call(check, ref):
    case = check.load_spec("lr_range_test")["cases"][1]
    first, second = check.decode(case["args"]["step_loss"]), check.decode(case["args"]["step_loss"])
    assert first is not second
    losses = [first(0.5) for _ in range(3)]
    assert losses[0] != losses[1] and [second(0.5) for _ in range(3)] == losses  # each call trains, from the start
    lr_range_test = submodule(ref, "schedules").lr_range_test
    blind = {k: v for k, v in case.items() if k not in ("expected", "mistakes")}
    assert check.collect(lr_range_test, blind)["output"] == check.collect(lr_range_test, blind)["output"]
    assert "step_loss         = simulated_training(curvatures=[4.0, 0.5, 0.05]," in check.format_case(case)


def test_the_simulated_training_falls_below_2_over_the_top_curvature_and_blows_up_above(check):
    def losses(lr, steps=20, **settings):
        step_loss = check.simulated_training(curvatures=(4.0, 0.5), start=(1.0, 1.0), floor=0.1, **settings)
        return [step_loss(lr) for _ in range(steps)]

    assert losses(1e-6)[-1] > 0.99 * losses(1e-6)[0]                  # tiny rates: hardly any progress
    assert losses(0.2)[-1] < losses(0.05)[-1] < 0.5 * losses(0.05)[0]  # larger rates: faster
    diverging = losses(0.6)                                             # past 2 / 4 = 0.5
    assert all(a < b for a, b in zip(diverging[3:], diverging[4:])) and diverging[-1] > 100
    noisy = losses(0.2, noise=0.3, seed=1)
    assert noisy == losses(0.2, noise=0.3, seed=1) != losses(0.2, noise=0.3, seed=2)
