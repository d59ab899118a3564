"""Batch normalization (unit 07, optimlab.batchnorm): torch's numbers, the gradient, the contracts, the checks.

- exact values: the forward (training and eval), the running buffers over several batches and the backward
  against ``torch.nn.BatchNorm1d`` in float64, to 1e-12 (torch is an optional test dependency: those tests are
  skipped without it); the backward also against the course's ``numerical_gradient`` of an independently
  written forward, with no torch at all;
- the contracts: a batch of one in training raises torch's ValueError, eval leaves the running statistics alone
  and returns new arrays, no input is modified, float32 stays float32, bad arguments raise naming the argument;
- the toolkit's layer ``nn.BatchNorm1d`` against torch's (parameters, buffers, train and eval);
- the self-checks: check data recorded here from the catalogue (``autograder/exercises/unit07.py``), which the
  reference passes, the release's stubs fail, and independently written wrong implementations fail, with the
  classic mistake named where there is one.
"""

import re

import numpy as np
import pytest

from conftest import (SOLUTIONS, assert_stub_fails_with_its_own_error, assert_wrong_and_named, recorded,
                      released, solution_lines, submodule)

TOL = 1e-12

#: (N, C, eps, momentum): torch's defaults, the smallest batch, large eps, momentum 0 and 1, a large batch.
SETTINGS = [
    (2, 3, 1e-5, 0.1),
    (4, 3, 1e-5, 0.1),
    (4, 5, 0.1, 0.3),
    (16, 4, 1e-3, 0.0),
    (16, 2, 1e-5, 1.0),
    (128, 6, 1e-5, 0.1),
    (128, 1, 0.5, 0.25),
]


@pytest.fixture(scope="module")
def bn(ref):
    return submodule(ref, "batchnorm")


@pytest.fixture(scope="module")
def check(ref):
    return submodule(ref, "check")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _inputs(rng, n, c):
    """x with per-channel offsets and scales, gamma (one entry negative), beta, and non-trivial running stats."""
    x = rng.uniform(-3, 3, size=c) + rng.uniform(0.2, 4, size=c) * rng.standard_normal((n, c))
    gamma = rng.uniform(0.5, 2, size=c) * np.where(np.arange(c) == 0, -1, 1)
    return dict(x=x, gamma=gamma, beta=rng.uniform(-1, 1, size=c), running_mean=rng.uniform(-1, 1, size=c),
                running_var=rng.uniform(0.3, 3, size=c))


def _torch_layer(torch, args, *, eps, momentum):
    layer = torch.nn.BatchNorm1d(args["gamma"].size, eps=eps, momentum=momentum).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(args["gamma"]))
        layer.bias.copy_(torch.from_numpy(args["beta"]))
        layer.running_mean.copy_(torch.from_numpy(args["running_mean"]))
        layer.running_var.copy_(torch.from_numpy(args["running_var"]))
    return layer


def _close(a, b):
    """Agreement to TOL, absolutely and relatively (never byte for byte); the largest difference."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL)
    return float(np.max(np.abs(a - b), initial=0.0))


# ------------------------------------------------------------------------------------------------- against torch


@pytest.mark.parametrize("n, c, eps, momentum", SETTINGS)
def test_training_forward_and_running_statistics_match_torch(bn, torch, n, c, eps, momentum):
    rng = np.random.default_rng(1000 + n + c)
    args = _inputs(rng, n, c)
    layer = _torch_layer(torch, args, eps=eps, momentum=momentum).train()
    expected = layer(torch.from_numpy(args["x"])).detach().numpy()
    y, mean, var = bn.batchnorm_forward(**args, training=True, momentum=momentum, eps=eps)
    _close(y, expected)
    _close(mean, layer.running_mean.numpy())
    _close(var, layer.running_var.numpy())
    assert not np.allclose(var, args["running_var"]) or momentum == 0  # the case moved the statistics


@pytest.mark.parametrize("n, c, eps, momentum", SETTINGS + [(1, 3, 1e-5, 0.1)])
def test_eval_forward_matches_torch_and_leaves_the_statistics_alone(bn, torch, n, c, eps, momentum):
    rng = np.random.default_rng(2000 + n + c)
    args = _inputs(rng, n, c)
    layer = _torch_layer(torch, args, eps=eps, momentum=momentum).eval()
    expected = layer(torch.from_numpy(args["x"])).detach().numpy()
    y, mean, var = bn.batchnorm_forward(**args, training=False, momentum=momentum, eps=eps)
    _close(y, expected)
    np.testing.assert_array_equal(layer.running_mean.numpy(), args["running_mean"])  # torch changed nothing
    np.testing.assert_array_equal(mean, args["running_mean"])
    np.testing.assert_array_equal(var, args["running_var"])
    assert not np.shares_memory(mean, args["running_mean"]) and not np.shares_memory(var, args["running_var"])


@pytest.mark.parametrize("n, c, eps, momentum", SETTINGS)
def test_backward_matches_torch_autograd(bn, torch, n, c, eps, momentum):
    rng = np.random.default_rng(3000 + n + c)
    args = _inputs(rng, n, c)
    dout = rng.standard_normal((n, c))
    layer = _torch_layer(torch, args, eps=eps, momentum=momentum).train()
    x = torch.from_numpy(args["x"].copy()).requires_grad_(True)
    (layer(x) * torch.from_numpy(dout)).sum().backward()  # d/dy of sum(dout * y) is dout
    dx, dgamma, dbeta = bn.batchnorm_backward(dout, args["x"], args["gamma"], eps=eps)
    _close(dx, x.grad.numpy())
    _close(dgamma, layer.weight.grad.numpy())
    _close(dbeta, layer.bias.grad.numpy())


def test_running_buffers_after_several_batches_match_torch(bn, torch):
    """Ten training batches of changing sizes (2 to 32), the statistics carried, then eval on a new batch."""
    rng = np.random.default_rng(4)
    c, eps, momentum = 4, 1e-5, 0.1
    args = _inputs(rng, 8, c)
    args["running_mean"], args["running_var"] = np.zeros(c), np.ones(c)   # a new layer, as torch starts
    layer = _torch_layer(torch, args, eps=eps, momentum=momentum).train()
    mean, var = args["running_mean"], args["running_var"]
    worst = 0.0
    for n in (2, 3, 4, 8, 16, 32, 2, 5, 16, 7):
        x = rng.uniform(-2, 2, size=c) + rng.uniform(0.5, 3, size=c) * rng.standard_normal((n, c))
        expected = layer(torch.from_numpy(x)).detach().numpy()
        y, mean, var = bn.batchnorm_forward(x, args["gamma"], args["beta"], mean, var, training=True,
                                            momentum=momentum, eps=eps)
        worst = max(worst, _close(y, expected), _close(mean, layer.running_mean.numpy()),
                    _close(var, layer.running_var.numpy()))
    layer.eval()
    x = rng.standard_normal((6, c))
    y, _, _ = bn.batchnorm_forward(x, args["gamma"], args["beta"], mean, var, training=False, eps=eps)
    _close(y, layer(torch.from_numpy(x)).detach().numpy())
    assert layer.num_batches_tracked.item() == 10 and worst < TOL


def test_a_batch_of_one_in_training_raises_torch_s_error(bn, torch):
    args = _inputs(np.random.default_rng(5), 1, 3)
    with pytest.raises(ValueError) as theirs:
        _torch_layer(torch, args, eps=1e-5, momentum=0.1).train()(torch.from_numpy(args["x"]))
    with pytest.raises(ValueError) as ours:
        bn.batchnorm_forward(**args, training=True)
    # torch: "... when training, got input size torch.Size([1, 3])"; the course's interface (spec_0607.md) writes
    # the shape as NumPy does: "got input of shape (1, 3)". The sentence that explains the error is torch's.
    words = "Expected more than 1 value per channel when training"
    assert str(theirs.value).startswith(words)
    assert str(ours.value) == f"{words}, got input of shape (1, 3)"
    bn.batchnorm_forward(**args, training=False)  # eval takes a batch of one


# ------------------------------------------------------------------------------ the gradient, without torch


def _forward_written_here(x, gamma, beta, eps):
    """The training forward straight from the paper (Ioffe and Szegedy, Algorithm 1), independent of the module."""
    mu = np.sum(x, axis=0) / x.shape[0]
    sigma2 = np.sum((x - mu) ** 2, axis=0) / x.shape[0]
    return gamma * (x - mu) / np.sqrt(sigma2 + eps) + beta


@pytest.mark.parametrize("n, c, eps", [(2, 2, 1e-5), (4, 3, 1e-5), (5, 2, 0.1), (16, 3, 1e-3)])
def test_backward_matches_the_numerical_gradient_of_the_forward(bn, ref, n, c, eps):
    gradcheck = submodule(ref, "gradcheck")
    rng = np.random.default_rng(6000 + n)
    args = _inputs(rng, n, c)
    x, gamma, beta = args["x"], args["gamma"], args["beta"]
    dout = rng.standard_normal((n, c))
    dx, dgamma, dbeta = bn.batchnorm_backward(dout, x, gamma, eps=eps)
    numeric = {
        "dx": gradcheck.numerical_gradient(lambda v: np.sum(dout * _forward_written_here(v, gamma, beta, eps)), x),
        "dgamma": gradcheck.numerical_gradient(lambda v: np.sum(dout * _forward_written_here(x, v, beta, eps)),
                                               gamma),
        "dbeta": gradcheck.numerical_gradient(lambda v: np.sum(dout * _forward_written_here(x, gamma, v, eps)),
                                              beta),
    }
    for name, analytic in (("dx", dx), ("dgamma", dgamma), ("dbeta", dbeta)):
        # central differences with h = 1e-5: error of order h**2 * f''' plus rounding, about 1e-9 here
        np.testing.assert_allclose(analytic, numeric[name], rtol=1e-6, atol=1e-7, err_msg=name)
    # and the paths through the statistics matter here: the eval-mode gradient is far from it
    assert np.max(np.abs(dout * gamma / np.sqrt(x.var(axis=0) + eps) - numeric["dx"])) > 1e-2


# ------------------------------------------------------------------------------------------------ contracts


def test_no_input_is_modified_and_float32_stays_float32(bn):
    rng = np.random.default_rng(7)
    for dtype in (np.float64, np.float32):
        args = {k: v.astype(dtype) for k, v in _inputs(rng, 6, 3).items()}
        copies = {k: v.copy() for k, v in args.items()}
        dout = rng.standard_normal((6, 3)).astype(dtype)
        outputs = [*bn.batchnorm_forward(**args, training=True), *bn.batchnorm_forward(**args, training=False),
                   *bn.batchnorm_backward(dout, args["x"], args["gamma"])]
        for k, v in args.items():
            np.testing.assert_array_equal(v, copies[k], err_msg=k)
        assert all(out.dtype == dtype for out in outputs), [out.dtype for out in outputs]
        assert not any(np.shares_memory(out, a) for out in outputs for a in [*args.values(), dout])


@pytest.mark.parametrize("change, error, words", [
    (dict(x=np.ones(4)), ValueError, "x must have shape (N, C)"),
    (dict(x=np.ones((2, 3, 1))), ValueError, "x must have shape (N, C)"),
    (dict(x=np.ones((4, 3), dtype=int)), TypeError, "x must be a floating-point"),
    (dict(gamma=np.ones(2)), ValueError, "gamma must have shape (C,) = (3,)"),
    (dict(beta=np.ones((1, 3))), ValueError, "beta must have shape (C,)"),
    (dict(running_mean=np.ones(4)), ValueError, "running_mean must have shape"),
    (dict(running_var=[1.0, 1.0, 1.0]), TypeError, "running_var must be a floating-point"),
    (dict(momentum=-0.1), ValueError, "momentum must be in [0, 1]"),
    (dict(momentum=1.5), ValueError, "momentum must be in [0, 1]"),
    (dict(momentum=None), TypeError, "momentum must be a number"),
    (dict(eps=0.0), ValueError, "eps must be greater than 0"),
    (dict(eps=-1e-5), ValueError, "eps must be greater than 0"),
    (dict(eps=True), TypeError, "eps must be a number"),
])
def test_bad_arguments_raise_naming_the_argument(bn, change, error, words):
    args = dict(_inputs(np.random.default_rng(8), 4, 3), training=True, momentum=0.1, eps=1e-5) | change
    with pytest.raises(error, match=re.escape(words)):
        bn.batchnorm_forward(**args)
    if set(change) & {"x", "gamma", "eps"}:
        backward = dict(dout=np.ones((4, 3)), x=args["x"], gamma=args["gamma"], eps=args["eps"])
        with pytest.raises(error, match=re.escape(words)):
            bn.batchnorm_backward(**backward)


def test_backward_refuses_mismatched_dout_and_a_batch_of_one(bn):
    x, gamma = np.ones((4, 3)), np.ones(3)
    with pytest.raises(ValueError, match=re.escape("dout has shape (4, 2) but x has shape (4, 3)")):
        bn.batchnorm_backward(np.ones((4, 2)), x, gamma)
    with pytest.raises(ValueError, match="batch of one"):
        bn.batchnorm_backward(np.ones((1, 3)), np.ones((1, 3)), gamma)


# --------------------------------------------------------------------------------------------- the layer


def test_the_toolkit_layer_matches_torch_in_training_and_eval(ref, torch):
    nn = submodule(ref, "nn")
    if not hasattr(nn, "BatchNorm1d"):
        pytest.skip("optimlab.nn.BatchNorm1d is not written yet (the lead adds it to solutions/optimlab/nn.py)")
    rng = np.random.default_rng(9)
    c = 3
    ours = nn.BatchNorm1d(c, eps=1e-3, momentum=0.2)
    theirs = torch.nn.BatchNorm1d(c, eps=1e-3, momentum=0.2).double()
    assert sorted(ours.parameters()) == ["bias", "weight"]
    assert sorted(ours.buffers()) == ["running_mean", "running_var"]
    np.testing.assert_array_equal(ours.running_mean, np.zeros(c))
    np.testing.assert_array_equal(ours.running_var, np.ones(c))
    gamma, beta = rng.uniform(0.5, 2, c), rng.uniform(-1, 1, c)
    ours.parameters()["weight"][...] = gamma
    ours.parameters()["bias"][...] = beta
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(gamma))
        theirs.bias.copy_(torch.from_numpy(beta))
    for training, sizes in ((True, (4, 2, 16, 5)), (False, (4, 1))):
        ours.train(training)
        theirs.train(training)
        for n in sizes:
            x = rng.uniform(-2, 2, c) + rng.uniform(0.5, 3, c) * rng.standard_normal((n, c))
            dout = rng.standard_normal((n, c))
            before = {k: v.copy() for k, v in ours.buffers().items()}
            xt = torch.from_numpy(x.copy()).requires_grad_(True)
            theirs.zero_grad()
            yt = theirs(xt)
            (yt * torch.from_numpy(dout)).sum().backward()
            _close(ours(x), yt.detach().numpy())
            _close(ours.backward(dout), xt.grad.numpy())
            _close(ours.grads()["weight"], theirs.weight.grad.numpy())
            _close(ours.grads()["bias"], theirs.bias.grad.numpy())
            _close(ours.buffers()["running_mean"], theirs.running_mean.numpy())
            _close(ours.buffers()["running_var"], theirs.running_var.numpy())
            if not training:
                for k, v in ours.buffers().items():
                    np.testing.assert_array_equal(v, before[k], err_msg=f"eval changed {k}")
    model = nn.Sequential(nn.Linear(2, c, rng=rng), nn.BatchNorm1d(c))
    assert sorted(model.buffers()) == ["1.running_mean", "1.running_var"]


# ------------------------------------------------------------------------------------------------ the checks


@pytest.fixture(scope="module")
def catalogue(ref):
    from autograder.exercises import unit07

    return {exercise.name: exercise for exercise in unit07.EXERCISES}


@pytest.fixture(scope="module")
def specs(ref):
    return recorded("07_batchnorm")


@pytest.fixture(scope="module")
def hidden_specs(ref):
    return recorded("07_batchnorm", hidden_seed=77)


def test_the_reference_passes_the_public_and_hidden_checks(check, bn, specs, hidden_specs):
    for name in ("batchnorm_forward", "batchnorm_backward"):
        for spec in (specs[name], hidden_specs[name]):
            assert check.run_check(spec, getattr(bn, name)) == (len(spec["cases"]), None)


def test_the_catalogue_covers_the_issue_s_mistakes(catalogue):
    titles = {m.title for e in catalogue.values() for m in e.mistakes}
    for words in ("unbiased variance", "biased running variance", "momentum weighing the old value",
                  "eps outside the square root", "mean and the variance missing", "batch statistics in eval",
                  "running-buffer updates in eval", "not updated in training", "batch of one"):
        assert any(words in t for t in titles), words


@pytest.fixture(scope="module")
def stub(stubs):
    """The release's batchnorm.py (``course/optimlab``), as a student first gets it."""
    return submodule(stubs, "batchnorm")


@pytest.mark.parametrize("name", ["batchnorm_forward", "batchnorm_backward"])
def test_the_stubs_fail_every_case_with_their_own_error(check, specs, stub, name):
    assert_stub_fails_with_its_own_error(check, specs[name], getattr(stub, name), "07_batchnorm")


def test_no_solution_line_reaches_the_stub_or_the_toolkit():
    text = released("batchnorm") + (SOLUTIONS / "optimlab" / "nn.py").read_text(encoding="utf-8")
    secrets = solution_lines("batchnorm")
    assert len(secrets) >= 10
    assert not sorted(line for line in secrets if line in text)


# Wrong implementations written for this test, independently of the catalogue's (a different style: np.var,
# np.std, keepdims, cs231n's staged backward).

def _fw_var_ddof1(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1, eps=1e-5):
    if training and x.shape[0] < 2:
        raise ValueError("batch of one")
    if not training:
        return gamma * (x - running_mean) / np.sqrt(running_var + eps) + beta, running_mean.copy(), running_var.copy()
    m, v = np.mean(x, axis=0, keepdims=True), np.var(x, axis=0, ddof=1, keepdims=True)
    y = gamma * (x - m) / np.sqrt(v + eps) + beta
    return y, (1 - momentum) * running_mean + momentum * m[0], (1 - momentum) * running_var + momentum * v[0]


def _fw_reference_like(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1, eps=1e-5,
                       var_ddof=1, eps_out=False, swap_momentum=False, eval_batch=False, eval_update=False,
                       update=True, guard=True, alias=False, in_place=False, float64=False):
    """One more implementation with knobs, in its own style (np.std, an explicit loop over channels)."""
    n, c = x.shape
    if training and guard and n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input of shape {x.shape}")
    y = np.empty_like(x, dtype=np.float64 if float64 else x.dtype)
    new_mean, new_var = (running_mean, running_var) if in_place else (np.array(running_mean), np.array(running_var))
    for j in range(c):
        column = x[:, j]
        if training or eval_batch:
            centre, scale = column.mean(), (column.std() + eps if eps_out else np.sqrt(column.var() + eps))
        else:
            centre, scale = running_mean[j], np.sqrt(running_var[j] + eps)
        y[:, j] = gamma[j] * (column - centre) / scale + beta[j]
        if update and (training or eval_update):
            a = 1 - momentum if not swap_momentum else momentum
            unbiased = column.var(ddof=var_ddof) if n > var_ddof else 0.0
            new_mean[j] = a * new_mean[j] + (1 - a) * column.mean()
            new_var[j] = a * new_var[j] + (1 - a) * unbiased
    if alias and not training:
        return y, running_mean, running_var
    return y, new_mean, new_var


def _knobs(**knobs):
    def buggy(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1, eps=1e-5):
        return _fw_reference_like(x, gamma, beta, running_mean, running_var, training=training, momentum=momentum,
                                  eps=eps, **knobs)
    buggy.__name__ = "_fw_" + "_".join(f"{k}_{v}" for k, v in knobs.items())
    return buggy


def _fw_gamma_beta_swapped(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1, eps=1e-5):
    y, m, v = _fw_reference_like(x, gamma, beta, running_mean, running_var, training=training, momentum=momentum,
                                 eps=eps)
    xhat = (y - beta) / gamma
    return beta * xhat + gamma, m, v


def _fw_running_var_of_output(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1,
                              eps=1e-5):
    y, m, v = _fw_reference_like(x, gamma, beta, running_mean, running_var, training=training, momentum=momentum,
                                 eps=eps)
    if training:
        v = (1 - momentum) * running_var + momentum * np.var(y, axis=0, ddof=1)
    return y, m, v


def _bw_staged(dout, x, gamma, *, eps=1e-5, two=2.0, ddof=0, dgamma_from_x=False, mean_grads=False,
               var_path=True, mean_path=True, order=(0, 1, 2)):
    """cs231n's staged backward: through xhat, then the variance, then the mean; knobs for the bugs."""
    n = x.shape[0]
    mu = x.mean(axis=0)
    var = x.var(axis=0, ddof=ddof)
    xmu = x - mu
    ivar = 1.0 / np.sqrt(var + eps)
    xhat = xmu * ivar
    dxhat = dout * gamma
    dvar = np.sum(dxhat * xmu, axis=0) * -0.5 * ivar**3 if var_path else 0.0
    dmu = -np.sum(dxhat * ivar, axis=0) if mean_path else 0.0
    dx = dxhat * ivar + dvar * two * xmu / n + dmu / n
    reduce = np.mean if mean_grads else np.sum
    dgamma = reduce(dout * (x if dgamma_from_x else xhat), axis=0)
    dbeta = reduce(dout, axis=0)
    out = (dx, dgamma, dbeta)
    return tuple(out[i] for i in order)


def _bw(**knobs):
    def buggy(dout, x, gamma, *, eps=1e-5):
        return _bw_staged(dout, x, gamma, eps=eps, **knobs)
    buggy.__name__ = "_bw_" + "_".join(f"{k}_{v}" for k, v in knobs.items())
    return buggy


def _bw_no_statistics(dout, x, gamma, *, eps=1e-5):
    return dout * gamma / np.sqrt(np.var(x, axis=0) + eps), np.sum(dout * (x - x.mean(0)) / np.sqrt(
        np.var(x, axis=0) + eps), axis=0), np.sum(dout, axis=0)


#: (exercise, wrong implementation, the classic mistake's title or None when it has no name).
INDEPENDENT_MISTAKES = [
    ("batchnorm_forward", _fw_var_ddof1, "normalizing with the unbiased variance"),
    ("batchnorm_forward", _knobs(var_ddof=0), "a biased running variance"),
    ("batchnorm_forward", _knobs(swap_momentum=True), "momentum weighing the old value (cs231n's convention)"),
    ("batchnorm_forward", _knobs(swap_momentum=True, var_ddof=0),
     "cs231n's running averages (momentum weighing the old value and a biased variance)"),
    ("batchnorm_forward", _knobs(eps_out=True), "eps outside the square root"),
    ("batchnorm_forward", _knobs(update=False), "running statistics not updated in training"),
    ("batchnorm_forward", _knobs(eval_batch=True), "batch statistics in eval mode"),
    ("batchnorm_forward", _knobs(eval_update=True), "running-buffer updates in eval mode"),
    ("batchnorm_forward", _knobs(eval_batch=True, eval_update=True),
     "batch statistics in eval mode (the training flag ignored)"),
    ("batchnorm_forward", _knobs(guard=False), "no error for a batch of one in training"),
    ("batchnorm_forward", _knobs(alias=True), "an output that shares memory with an input"),
    ("batchnorm_forward", _knobs(in_place=True), "modifying an input in place"),
    ("batchnorm_forward", _knobs(float64=True), "float64 leaking into a float32 computation"),
    ("batchnorm_forward", _fw_gamma_beta_swapped, None),
    ("batchnorm_forward", _fw_running_var_of_output, None),
    ("batchnorm_backward", _bw_no_statistics, "the paths through the mean and the variance missing"),
    ("batchnorm_backward", _bw(var_path=False, mean_path=False), "the paths through the mean and the variance missing"),
    ("batchnorm_backward", _bw(var_path=False), "the path through the variance missing"),
    ("batchnorm_backward", _bw(mean_path=False), "the path through the mean missing"),
    ("batchnorm_backward", _bw(dgamma_from_x=True), "dgamma without xhat: sum(dout * x)"),
    ("batchnorm_backward", _bw(mean_grads=True), "dgamma and dbeta averaged instead of summed"),
    ("batchnorm_backward", _bw(two=1.0), None),
    ("batchnorm_backward", _bw(ddof=1), None),
    ("batchnorm_backward", _bw(order=(0, 2, 1)), None),
]


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_with_their_mistake_named(check, specs, name, buggy, title):
    assert_wrong_and_named(check, specs[name], buggy, title)


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_hidden_cases_too(check, hidden_specs, name, buggy, title):
    passed, failure = check.run_check(hidden_specs[name], buggy)
    assert failure is not None, f"{buggy.__name__} passes 12 hidden draws"


@pytest.mark.parametrize("name, correct", [
    ("batchnorm_forward", _knobs()),
    ("batchnorm_backward", _bw()),
])
def test_correct_implementations_in_another_style_pass(check, specs, hidden_specs, name, correct):
    """The checks accept a different but correct order of operations (a loop over channels; the staged graph)."""
    for spec in (specs[name], hidden_specs[name]):
        assert check.run_check(spec, correct) == (len(spec["cases"]), None)
