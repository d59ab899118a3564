"""The optimizers of units 02 to 04 (optimlab.optim): the numbers of torch.optim, and the contracts.

- exact values: the same trajectories and states as ``torch.optim`` in float64 (torch is an optional test
  dependency: those tests are skipped without it);
- "the loss goes down" for every optimizer of one registry, as a sanity check beside the exact values;
- the contracts: dtypes and shapes, argument errors that name the argument, pure update functions that never
  modify their inputs, state keys with torch's names, and classes that agree with the update functions.
"""

import re

import numpy as np
import pytest

from conftest import submodule

#: Every generic test runs over this registry: (class name, keyword arguments).
OPTIMIZERS_UNDER_TEST = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.01)),
    ("Adagrad", dict(lr=0.5)),
    ("Adagrad", dict(lr=0.5, initial_accumulator_value=0.1, weight_decay=0.01, eps=1e-6)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, weight_decay=0.01)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.01)),
    ("AdamW", dict(lr=0.05)),
    ("AdamW", dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
]
IDS = [f"{name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})" for name, kwargs in OPTIMIZERS_UNDER_TEST]

#: torch's state keys for each class (with these options); the same names must appear here.
STATE_KEYS = {"SGD": {"momentum_buffer"}, "Adagrad": {"step", "sum"}, "RMSprop": {"step", "square_avg"},
              "Adam": {"step", "exp_avg", "exp_avg_sq"}, "AdamW": {"step", "exp_avg", "exp_avg_sq"}}


@pytest.fixture(scope="module")
def optim(ref):
    return submodule(ref, "optim")


def _params(rng, dtype=np.float64) -> dict[str, np.ndarray]:
    """Parameters of several shapes, a 0-d scalar among them."""
    return {"w": rng.standard_normal((3, 4)).astype(dtype), "b": rng.standard_normal(4).astype(dtype),
            "scale": np.array(rng.standard_normal(), dtype=dtype), "k": rng.standard_normal((2, 2, 3)).astype(dtype)}


def _grads_like(rng, params) -> dict[str, np.ndarray]:
    return {n: rng.standard_normal(p.shape).astype(p.dtype) for n, p in params.items()}


def _pure(optim, name: str, kwargs: dict):
    """The update function that class ``name`` calls with ``kwargs``, and the keyword arguments it gets."""
    kwargs = dict(kwargs)
    if name == "SGD":
        if kwargs.pop("nesterov", False):
            kwargs.pop("dampening", None)
            return optim.nesterov_update, kwargs
        kwargs.setdefault("momentum", 0.0)
        return optim.momentum_update, kwargs
    return getattr(optim, f"{name.lower()}_update"), kwargs


# ---------------------------------------------------------------------------------------------- same as torch

#: (class, options) compared with torch, each with several steps of random gradients in float64.
TORCH_SETTINGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=1.0, weight_decay=0.2)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, momentum=0.7, nesterov=True, weight_decay=0.1)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.3, weight_decay=0.1, initial_accumulator_value=0.5, eps=0.1)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.05, alpha=0.8, eps=0.1, weight_decay=0.1)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.1, betas=(0.8, 0.9), eps=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.5, 0.99), eps=1e-6, weight_decay=0.3)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.1, betas=(0.8, 0.9), eps=0.1, weight_decay=0.5)),
    ("AdamW", dict(lr=0.05, weight_decay=0.0)),
]


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _torch_run(torch, optim, name, kwargs, *, steps=8, lr_schedule=None):
    """Run ours and torch's optimizer side by side; the largest difference in parameters and state."""
    rng = np.random.default_rng(12)
    ours = _params(rng)
    theirs = {n: torch.tensor(p.copy(), requires_grad=True) for n, p in ours.items()}
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(list(theirs.values()), **kwargs)
    worst = 0.0
    for t in range(steps):
        if lr_schedule is not None:
            opt.lr = lr_schedule(t)
            for group in topt.param_groups:
                group["lr"] = lr_schedule(t)
        grads = _grads_like(rng, ours)
        opt.step(grads)
        for n, tensor in theirs.items():
            tensor.grad = torch.tensor(grads[n])
        topt.step()
        for n, tensor in theirs.items():
            worst = max(worst, float(np.max(np.abs(ours[n] - tensor.detach().numpy()))))
            tstate = topt.state[tensor]
            assert set(opt.state[n]) == set(tstate), f"{name}: state keys {set(opt.state[n])} vs torch {set(tstate)}"
            for key, value in tstate.items():
                if key == "step":
                    assert opt.state[n]["step"] == int(value) == t + 1
                else:
                    assert opt.state[n][key].shape == ours[n].shape and opt.state[n][key].dtype == np.float64
                    worst = max(worst, float(np.max(np.abs(opt.state[n][key] - value.numpy()))))
    return worst


@pytest.mark.parametrize("name, kwargs", TORCH_SETTINGS,
                         ids=[f"{n}({', '.join(f'{k}={v}' for k, v in kw.items())})" for n, kw in TORCH_SETTINGS])
def test_same_parameters_and_state_as_torch_in_float64(torch, optim, name, kwargs):
    assert _torch_run(torch, optim, name, kwargs) <= 1e-12


@pytest.mark.parametrize("name, kwargs", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)),
                                          ("RMSprop", dict(lr=0.05)), ("AdamW", dict(lr=0.1, weight_decay=0.2))])
def test_same_as_torch_when_a_schedule_changes_lr(torch, optim, name, kwargs):
    assert _torch_run(torch, optim, name, kwargs, lr_schedule=lambda t: 0.1 * 0.7**t) <= 1e-12


def test_torch_defaults_match(torch, optim):
    import inspect

    for name in ("Adagrad", "RMSprop", "Adam", "AdamW"):
        ours = inspect.signature(getattr(optim, name)).parameters
        theirs = inspect.signature(getattr(torch.optim, name)).parameters
        for arg, parameter in ours.items():
            if arg != "params":
                assert parameter.default == theirs[arg].default, (name, arg)
    sgd = inspect.signature(optim.SGD).parameters
    for arg in ("momentum", "dampening", "weight_decay", "nesterov"):
        assert sgd[arg].default == inspect.signature(torch.optim.SGD).parameters[arg].default


# ---------------------------------------------------------------------------------------------- sanity


def _quadratic(rng, n=6):
    """An ill-conditioned quadratic L(w) = sum(h * (w - w_star)**2) / 2 and its gradient."""
    h = np.logspace(0, 1, n)
    w_star = rng.standard_normal(n)
    return (lambda w: 0.5 * float(np.sum(h * (w - w_star) ** 2))), (lambda w: h * (w - w_star))


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS_UNDER_TEST, ids=IDS)
def test_the_loss_goes_down(optim, name, kwargs):
    loss, grad = _quadratic(np.random.default_rng(3))
    params = {"w": np.zeros(6)}
    opt = getattr(optim, name)(params, **kwargs)
    start = loss(params["w"])
    for _ in range(100):
        opt.step({"w": grad(params["w"])})
    assert np.all(np.isfinite(params["w"]))
    assert loss(params["w"]) < 0.5 * start


# ---------------------------------------------------------------------------------------------- contracts


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS_UNDER_TEST, ids=IDS)
def test_the_class_agrees_with_its_update_function(optim, name, kwargs):
    rng = np.random.default_rng(4)
    params = _params(rng)
    copies = {n: p.copy() for n, p in params.items()}
    states = {n: {} for n in params}
    fn, fn_kwargs = _pure(optim, name, kwargs)
    opt = getattr(optim, name)(params, **kwargs)
    for _ in range(5):
        grads = _grads_like(rng, params)
        opt.step(grads)
        for n in copies:
            copies[n], states[n] = fn(copies[n], grads[n], states[n], **fn_kwargs)
            assert np.array_equal(params[n], copies[n])
            assert states[n].keys() == opt.state[n].keys()


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS_UNDER_TEST, ids=IDS)
def test_float32_stays_float32_in_parameters_state_and_outputs(optim, name, kwargs):
    rng = np.random.default_rng(5)
    params = _params(rng, np.float32)
    opt = getattr(optim, name)(params, **kwargs)
    fn, fn_kwargs = _pure(optim, name, kwargs)
    for _ in range(3):
        opt.lr = np.float64(opt.lr)  # as a schedule computed with NumPy would set it
        opt.step(_grads_like(rng, params))
    for n, p in params.items():
        assert p.dtype == np.float32
        for key, value in opt.state[n].items():
            assert key == "step" or value.dtype == np.float32, (n, key)
        new_param, new_state = fn(p, np.ones_like(p), opt.state[n], **dict(fn_kwargs, lr=np.float64(0.01)))
        assert new_param.dtype == np.float32 and new_param.shape == p.shape
        assert all(key == "step" or v.dtype == np.float32 for key, v in new_state.items())


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS_UNDER_TEST, ids=IDS)
def test_any_shape_gives_the_values_of_a_flat_vector(optim, name, kwargs):
    rng = np.random.default_rng(6)
    shaped = {"scalar": np.array(0.7), "cube": rng.standard_normal((2, 3, 4)), "empty": np.zeros((0, 3))}
    flat = {n: p.reshape(-1).copy() for n, p in shaped.items()}
    opt, flat_opt = getattr(optim, name)(shaped, **kwargs), getattr(optim, name)(flat, **kwargs)
    for _ in range(4):
        grads = _grads_like(rng, shaped)
        opt.step(grads)
        flat_opt.step({n: g.reshape(-1) for n, g in grads.items()})
    for n, p in shaped.items():
        assert p.shape == {"scalar": (), "cube": (2, 3, 4), "empty": (0, 3)}[n]
        assert np.array_equal(p.reshape(-1), flat[n])
    fn, fn_kwargs = _pure(optim, name, kwargs)
    new_param, new_state = fn(np.array(0.7, dtype=np.float32), np.array(0.3, dtype=np.float32), {}, **fn_kwargs)
    assert np.shape(new_param) == () and new_param.dtype == np.float32  # a 0-d array or a NumPy scalar
    assert all(key == "step" or (np.shape(v) == () and v.dtype == np.float32) for key, v in new_state.items())


UPDATE_FUNCTIONS = [
    ("momentum_update", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1)),
    ("momentum_update", dict(lr=0.1, momentum=0.0, weight_decay=0.1)),
    ("nesterov_update", dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
    ("adagrad_update", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("rmsprop_update", dict(lr=0.1, alpha=0.9, weight_decay=0.1)),
    ("adam_update", dict(lr=0.1, weight_decay=0.1)),
    ("adamw_update", dict(lr=0.1, weight_decay=0.1)),
]


@pytest.mark.parametrize("fn_name, kwargs", UPDATE_FUNCTIONS, ids=[n for n, _ in UPDATE_FUNCTIONS])
@pytest.mark.parametrize("layout", ["C", "transposed", "strided"])
def test_update_functions_never_modify_their_inputs(optim, fn_name, kwargs, layout):
    fn = getattr(optim, fn_name)
    rng = np.random.default_rng(7)
    param, state = rng.standard_normal((3, 4)), {}
    if layout == "transposed":  # views that are not C-contiguous
        param = rng.standard_normal((4, 3)).T
    elif layout == "strided":
        param = rng.standard_normal((3, 8))[:, ::2]
    for _ in range(4):
        grad = rng.standard_normal((3, 8))[:, ::2] if layout == "strided" else rng.standard_normal((3, 4))
        before = (param.copy(), grad.copy(), {k: np.copy(v) for k, v in state.items()}, dict(state))
        new_param, new_state = fn(param, grad, state, **kwargs)
        assert np.array_equal(param, before[0]) and np.array_equal(grad, before[1])
        assert state.keys() == before[2].keys() and all(state[k] is before[3][k] for k in state)
        assert all(np.array_equal(state[k], before[2][k]) for k in state)
        assert new_state is not state and not np.shares_memory(new_param, param)
        inputs = [param, grad, new_param, *(v for v in state.values() if isinstance(v, np.ndarray))]
        for value in new_state.values():
            if isinstance(value, np.ndarray):
                assert not any(np.shares_memory(value, a) for a in inputs)
        param, state = new_param, new_state


@pytest.mark.parametrize("fn_name, kwargs", UPDATE_FUNCTIONS, ids=[n for n, _ in UPDATE_FUNCTIONS])
def test_float32_views_give_float32_values_of_their_contiguous_copies(optim, fn_name, kwargs):
    fn = getattr(optim, fn_name)
    rng = np.random.default_rng(9)
    param = rng.standard_normal((4, 3)).astype(np.float32).T
    grad = rng.standard_normal((3, 8)).astype(np.float32)[:, ::2]
    new_param, new_state = fn(param, grad, {}, **kwargs)
    again, again_state = fn(param.copy(), grad.copy(), {}, **kwargs)
    assert new_param.dtype == np.float32 and np.array_equal(new_param, again)
    assert all(key == "step" or (v.dtype == np.float32 and np.array_equal(v, again_state[key]))
               for key, v in new_state.items())


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS_UNDER_TEST, ids=IDS)
def test_state_keys_are_torchs(optim, name, kwargs):
    rng = np.random.default_rng(8)
    params = _params(rng)
    opt = getattr(optim, name)(params, **kwargs)
    assert opt.state == {n: {} for n in params}
    for t in range(1, 4):
        opt.step(_grads_like(rng, params))
        for n, p in params.items():
            wanted = STATE_KEYS[name] if name != "SGD" or kwargs.get("momentum", 0) else set()
            assert set(opt.state[n]) == wanted
            assert "step" not in wanted or (type(opt.state[n]["step"]) is int and opt.state[n]["step"] == t)
            assert all(v.shape == p.shape for k, v in opt.state[n].items() if k != "step")


def test_plain_sgd_keeps_no_state_and_lr_can_be_changed(optim):
    params = {"w": np.array([1.0, -2.0])}
    opt = optim.SGD(params, lr=0.5)
    opt.step({"w": np.array([1.0, 1.0])})
    assert np.array_equal(params["w"], [0.5, -2.5]) and opt.state == {"w": {}}
    opt.lr = 0.0
    opt.step({"w": np.array([1.0, 1.0])})
    assert np.array_equal(params["w"], [0.5, -2.5])
    assert "SGD(lr=0.0, momentum=0.0" in repr(opt)


def test_first_steps_follow_the_written_conventions(optim):
    """Hand-computed values: the buffer starts at the gradient; t = 1 on the first step; eps outside the root."""
    p, g = np.array([1.0]), np.array([2.0])
    new, state = optim.momentum_update(p, g, {}, lr=0.1, momentum=0.9, dampening=0.5)
    assert np.allclose(new, [0.8]) and np.allclose(state["momentum_buffer"], [2.0])
    new, state = optim.momentum_update(new, g, state, lr=0.1, momentum=0.9, dampening=0.5)
    assert np.allclose(state["momentum_buffer"], [0.9 * 2 + 0.5 * 2])
    new, state = optim.nesterov_update(p, g, {}, lr=0.1, momentum=0.9)
    assert np.allclose(new, [1 - 0.1 * (2 + 0.9 * 2)])
    new, state = optim.adagrad_update(p, g, {}, lr=0.1, eps=0.5)
    assert np.allclose(new, [1 - 0.1 * 2 / (2 + 0.5)]) and state["step"] == 1
    new, state = optim.rmsprop_update(p, g, {}, lr=0.1, alpha=0.75, eps=0.5)
    assert np.allclose(new, [1 - 0.1 * 2 / (np.sqrt(0.25 * 4) + 0.5)])
    new, state = optim.adam_update(p, g, {}, lr=0.1, betas=(0.5, 0.75), eps=0.5)
    assert np.allclose(new, [1 - 0.1 * 2 / (2 + 0.5)]) and state["step"] == 1  # bias-corrected: m_hat = g
    new, state = optim.adamw_update(p, g, {}, lr=0.1, betas=(0.5, 0.75), eps=0.5, weight_decay=2.0)
    assert np.allclose(new, [0.8 - 0.1 * 2 / (2 + 0.5)])


# ---------------------------------------------------------------------------------------------- errors

BAD_ARGUMENTS = [
    ("SGD", dict(lr=-0.1), ValueError, "lr"),
    ("SGD", dict(lr=float("nan")), ValueError, "lr"),
    ("SGD", dict(lr="0.1"), TypeError, "lr"),
    ("SGD", dict(lr=0.1, momentum=-0.5), ValueError, "momentum"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=1.5), ValueError, "dampening"),
    ("SGD", dict(lr=0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    ("SGD", dict(lr=0.1, nesterov=True), ValueError, "nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, "nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov="yes"), TypeError, "nesterov"),
    ("Adagrad", dict(eps=-1e-10), ValueError, "eps"),
    ("Adagrad", dict(initial_accumulator_value=-0.1), ValueError, "initial_accumulator_value"),
    ("RMSprop", dict(alpha=1.5), ValueError, "alpha"),
    ("RMSprop", dict(alpha=-0.1), ValueError, "alpha"),
    ("Adam", dict(betas=(1.0, 0.999)), ValueError, "betas[0]"),
    ("Adam", dict(betas=(0.9, -0.1)), ValueError, "betas[1]"),
    ("Adam", dict(betas=(0.9,)), ValueError, "betas"),
    ("Adam", dict(eps=-1e-8), ValueError, "eps"),
    ("AdamW", dict(weight_decay=-0.01), ValueError, "weight_decay"),
    ("AdamW", dict(lr=None), TypeError, "lr"),
]


@pytest.mark.parametrize("name, kwargs, error, argument", BAD_ARGUMENTS,
                         ids=[f"{n}-{a}-{sorted(kw.items())}" for n, kw, _, a in BAD_ARGUMENTS])
def test_invalid_arguments_are_refused_naming_the_argument(optim, name, kwargs, error, argument):
    with pytest.raises(error, match="^" + re.escape(argument)) as raised:
        getattr(optim, name)({"w": np.zeros(3)}, **kwargs)
    assert "got" in str(raised.value)
    if name != "SGD" or argument != "nesterov":  # the update functions check their own arguments the same way
        fn, fn_kwargs = _pure(optim, name, kwargs)
        with pytest.raises(error, match="^" + re.escape(argument)):
            fn(np.zeros(3), np.zeros(3), {}, **dict(dict(lr=0.1), **fn_kwargs))


def test_nesterov_update_needs_momentum(optim):
    with pytest.raises(ValueError, match="momentum must be > 0"):
        optim.nesterov_update(np.zeros(2), np.zeros(2), {}, lr=0.1, momentum=0.0)


def test_update_functions_say_what_is_wrong_with_their_arrays(optim):
    with pytest.raises(ValueError, match=r"grad has shape \(2,\) but param has shape \(3,\)"):
        optim.adam_update(np.zeros(3), np.zeros(2), {})
    with pytest.raises(TypeError, match="param must be a floating-point NumPy array, got an array of dtype int64"):
        optim.momentum_update(np.zeros(3, dtype=np.int64), np.zeros(3), {}, lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="param must be a floating-point NumPy array, got list"):
        optim.rmsprop_update([0.0, 1.0], np.zeros(2), {})
    with pytest.raises(TypeError, match="state must be a dict"):
        optim.adagrad_update(np.zeros(3), np.zeros(3), None)


@pytest.mark.parametrize("grads, error, words", [
    ({"w": np.zeros((2, 3))}, KeyError, "no gradient for the parameter(s) 'b'"),
    ({"w": np.zeros((2, 3)), "b": np.zeros(3), "bias": np.zeros(3)}, KeyError, "'bias', which are not parameters"),
    ({"w": np.zeros((3, 2)), "b": np.zeros(3)}, ValueError, "grads['w'] has shape (3, 2), but the parameter 'w' has "
                                                            "shape (2, 3)"),
    ({"w": np.zeros((2, 3)), "b": np.zeros(())}, ValueError, "grads['b'] has shape (), but"),
    ([np.zeros((2, 3)), np.zeros(3)], TypeError, "grads must be a dict"),
])
@pytest.mark.parametrize("name", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_a_bad_grads_dict_is_refused_clearly_and_changes_nothing(optim, name, grads, error, words):
    params = {"w": np.ones((2, 3)), "b": np.ones(3)}
    opt = getattr(optim, name)(params, lr=0.1)
    with pytest.raises(error) as raised:
        opt.step(grads)
    assert words in str(raised.value)
    assert np.array_equal(params["w"], np.ones((2, 3))) and np.array_equal(params["b"], np.ones(3))
    assert opt.state == {"w": {}, "b": {}}


@pytest.mark.parametrize("params, error, words", [
    ({"w": np.zeros(3, dtype=np.int64)}, TypeError, "params['w'] must be a floating-point NumPy array"),
    ({"w": [0.0, 1.0]}, TypeError, "params['w'] must be a floating-point NumPy array, got list"),
    ({"w": np.broadcast_to(np.zeros(1), (3,))}, ValueError, "params['w'] is read-only"),
    ({}, ValueError, "params is empty"),
    ([np.zeros(3)], TypeError, "params must be a dict"),
])
def test_bad_params_are_refused_clearly(optim, params, error, words):
    with pytest.raises(error) as raised:
        optim.Adam(params)
    assert words in str(raised.value)


def test_the_same_array_twice_is_refused(optim):
    w = np.zeros(3)
    with pytest.raises(ValueError, match="are the same array"):
        optim.SGD({"w": w, "v": w}, lr=0.1)


def test_only_the_update_functions_are_exercises(ref, optim):
    exercises = {name: e for name, e in submodule(ref, "_exercise").EXERCISES.items() if e.module == "optim"}
    assert {name: (e.unit, e.section) for name, e in exercises.items()} == {
        "momentum_update": ("02_momentum", "2. The heavy ball"),
        "nesterov_update": ("02_momentum", "3. Nesterov's look-ahead"),
        "adagrad_update": ("03_adaptive", "2. AdaGrad"),
        "rmsprop_update": ("03_adaptive", "4. RMSProp"),
        "adam_update": ("04_adam", "2. Adam"),
        "adamw_update": ("04_adam", "4. AdamW"),
    }
    from optimlab.optim import SGD, Adagrad, Adam, AdamW, RMSprop  # noqa: F401  (the import the notebooks use)
