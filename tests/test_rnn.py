"""Recurrent networks (unit 09, optimlab.rnn): the reference's own behaviour.

- exact values against torch in float64, to 1e-12 (torch is an optional test dependency: those tests skip
  without it): ``rnn_forward`` / ``rnn_backward`` against autograd through ``torch.nn.RNN`` (dx, dh0 and the four
  parameter gradients), the LSTM and GRU cells against ``torch.nn.LSTMCell`` / ``GRUCell`` (outputs, dx, dh, dc
  and the four parameter gradients), clipping against ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``
  (norm types 1, 2, 3, inf, non-finite norms);
- without torch: the cells' backward passes against central differences of forwards written here, the
  documented facts (``[3, 4]`` clipped to norm 1), the contracts (no input modified, new arrays, dtypes kept,
  key order kept), the argument errors;
- the toolkit: the sequence layers against ``torch.nn.RNN`` / ``LSTM`` / ``GRU`` and running *the module's*
  functions (a replaced function is what runs), the adding problem's format and baseline, ``MSELoss``,
  ``train_regressor``, and a short adding problem that the LSTM (forget bias 1) solves and the plain RNN does not.

The checks of the self-check catalogue (the mistakes named) are tested in tests/test_rnn_mistakes.py.
"""

import math
import re

import numpy as np
import pytest

from conftest import SOLUTIONS, released, solution_lines, submodule

TOL = 1e-12


@pytest.fixture(scope="module")
def rnn(ref):
    return submodule(ref, "rnn")


@pytest.fixture(scope="module")
def nn(ref):
    return submodule(ref, "nn")


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _close(a, b, tol=TOL):
    """Agreement to ``tol``, relatively (and absolutely for entries near 0); never byte for byte."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _t(torch, a, grad=False):
    t = torch.from_numpy(np.array(a, dtype=np.float64))
    return t.requires_grad_(True) if grad else t


def _params(rng, gates, i, h, scale):
    """Weights and biases of a cell with ``gates`` blocks, drawn at ``scale`` (larger than torch's init, so the
    gates are neither all near 1/2 nor saturated)."""
    return {"weight_ih": scale * rng.standard_normal((gates * h, i)),
            "weight_hh": scale * rng.standard_normal((gates * h, h)),
            "bias_ih": scale * rng.standard_normal(gates * h), "bias_hh": scale * rng.standard_normal(gates * h)}


def _load(torch, module, params, suffix=""):
    with torch.no_grad():
        for name, value in params.items():
            getattr(module, name + suffix).copy_(torch.from_numpy(value))
    return module


# ------------------------------------------------------------------------------------- the RNN against torch

RNN_SHAPES = [(1, 1, 1, 1), (5, 3, 2, 4), (12, 2, 3, 3), (30, 4, 2, 5)]


@pytest.mark.parametrize("T, N, I, H", RNN_SHAPES)
@pytest.mark.parametrize("reads", ["every step", "last step"])
def test_rnn_forward_and_bptt_match_torch_autograd(rnn, torch, T, N, I, H, reads):
    rng = np.random.default_rng(100 * T + N)
    p = _params(rng, 1, I, H, 0.6)
    x, h0 = rng.standard_normal((T, N, I)), rng.standard_normal((N, H))
    dh = rng.standard_normal((T, N, H))
    if reads == "last step":
        dh[:-1] = 0
    layer = _load(torch, torch.nn.RNN(I, H, nonlinearity="tanh").double(), p, "_l0")
    xt, h0t = _t(torch, x, True), _t(torch, h0[None], True)
    out, h_n = layer(xt, h0t)
    (out * _t(torch, dh)).sum().backward()

    h = rnn.rnn_forward(x, h0, **p)
    _close(h, out.detach().numpy())
    _close(h[-1], h_n[0].detach().numpy())
    dx, dh0, grads = rnn.rnn_backward(dh, x, h0, h, p["weight_ih"], p["weight_hh"])
    _close(dx, xt.grad.numpy())
    _close(dh0, h0t.grad[0].numpy())
    assert list(grads) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, g in grads.items():
        _close(g, getattr(layer, name + "_l0").grad.numpy())
    assert not np.shares_memory(grads["bias_ih"], grads["bias_hh"])


def test_rnn_backward_is_the_product_of_the_step_jacobians(rnn):
    """Without torch: dL/dh0 for a loss on the last step is J_1^T ... J_T^T dh[T-1], with J_k = diag(1 - h_k^2)
    W_hh, built here as explicit matrices (one example, N = 1)."""
    rng = np.random.default_rng(3)
    T, I, H = 8, 2, 3
    p = _params(rng, 1, I, H, 0.7)
    x, h0 = rng.standard_normal((T, 1, I)), rng.standard_normal((1, H))
    h = rnn.rnn_forward(x, h0, **p)
    g = rng.standard_normal(H)
    dh = np.zeros((T, 1, H))
    dh[-1, 0] = g
    _, dh0, _ = rnn.rnn_backward(dh, x, h0, h, p["weight_ih"], p["weight_hh"])
    product = np.eye(H)
    for k in range(T):                                   # dh_{T-1}/dh_{-1} = J_{T-1} ... J_0
        product = np.diag(1 - h[k, 0] ** 2) @ p["weight_hh"] @ product
    np.testing.assert_allclose(dh0[0], product.T @ g, rtol=1e-12, atol=1e-14)


def _rnn_loss_written_here(x, h0, w_ih, w_hh, b_ih, b_hh, dh):
    """sum_t <dh[t], h[t]>, with a forward loop written here (independent of the module)."""
    total, state = 0.0, h0
    for t in range(len(x)):
        state = np.tanh(x[t] @ w_ih.T + b_ih + state @ w_hh.T + b_hh)
        total += np.sum(dh[t] * state)
    return total


def test_rnn_backward_matches_central_differences(rnn, ref):
    gradcheck = submodule(ref, "gradcheck")
    rng = np.random.default_rng(4)
    T, N, I, H = 6, 2, 3, 4
    p = _params(rng, 1, I, H, 0.5)
    x, h0, dh = rng.standard_normal((T, N, I)), rng.standard_normal((N, H)), rng.standard_normal((T, N, H))
    h = rnn.rnn_forward(x, h0, **p)
    dx, dh0, grads = rnn.rnn_backward(dh, x, h0, h, p["weight_ih"], p["weight_hh"])
    args = dict(x=x, h0=h0, w_ih=p["weight_ih"], w_hh=p["weight_hh"], b_ih=p["bias_ih"], b_hh=p["bias_hh"])
    ours = {"x": dx, "h0": dh0, "w_ih": grads["weight_ih"], "w_hh": grads["weight_hh"], "b_ih": grads["bias_ih"],
            "b_hh": grads["bias_hh"]}
    for name, analytic in ours.items():
        numeric = gradcheck.numerical_gradient(
            lambda v, name=name: _rnn_loss_written_here(**(args | {name: v}), dh=dh), args[name])
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


# ------------------------------------------------------------------------------------ the cells against torch

CELL_SETTINGS = [(2, 3, 2, 0.4), (3, 2, 4, 0.8), (4, 3, 3, 1.5), (1, 1, 1, 1.0), (8, 5, 6, 0.3)]


@pytest.mark.parametrize("N, I, H, scale", CELL_SETTINGS)
def test_lstm_cell_forward_and_backward_match_torch(rnn, torch, N, I, H, scale):
    rng = np.random.default_rng(200 + 10 * N + H)
    p = _params(rng, 4, I, H, scale)
    x, h, c = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh_new, dc_new = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    cell = _load(torch, torch.nn.LSTMCell(I, H).double(), p)
    xt, ht, ct = _t(torch, x, True), _t(torch, h, True), _t(torch, c, True)
    h_t, c_t = cell(xt, (ht, ct))
    ((h_t * _t(torch, dh_new)).sum() + (c_t * _t(torch, dc_new)).sum()).backward()

    h_new, c_new = rnn.lstm_cell_forward(x, h, c, **p)
    _close(h_new, h_t.detach().numpy())
    _close(c_new, c_t.detach().numpy())
    dx, dh, dc, grads = rnn.lstm_cell_backward(dh_new, dc_new, x, h, c, **p)
    _close(dx, xt.grad.numpy())
    _close(dh, ht.grad.numpy())
    _close(dc, ct.grad.numpy())
    assert list(grads) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, g in grads.items():
        _close(g, getattr(cell, name).grad.numpy())


def test_lstm_cell_backward_at_the_last_step_has_dc_new_zero(rnn, torch):
    """dc_new = 0 (the last step): only the path through h_new; torch with a loss on h_new alone."""
    rng = np.random.default_rng(5)
    N, I, H = 3, 2, 3
    p = _params(rng, 4, I, H, 0.7)
    x, h, c = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh_new = rng.standard_normal((N, H))
    cell = _load(torch, torch.nn.LSTMCell(I, H).double(), p)
    xt, ht, ct = _t(torch, x, True), _t(torch, h, True), _t(torch, c, True)
    (cell(xt, (ht, ct))[0] * _t(torch, dh_new)).sum().backward()
    dx, dh, dc, _ = rnn.lstm_cell_backward(dh_new, np.zeros((N, H)), x, h, c, **p)
    _close(dx, xt.grad.numpy())
    _close(dh, ht.grad.numpy())
    _close(dc, ct.grad.numpy())


@pytest.mark.parametrize("N, I, H, scale", CELL_SETTINGS)
def test_gru_cell_forward_and_backward_match_torch(rnn, torch, N, I, H, scale):
    rng = np.random.default_rng(300 + 10 * N + H)
    p = _params(rng, 3, I, H, scale)
    x, h, dh_new = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    cell = _load(torch, torch.nn.GRUCell(I, H).double(), p)
    xt, ht = _t(torch, x, True), _t(torch, h, True)
    h_t = cell(xt, ht)
    (h_t * _t(torch, dh_new)).sum().backward()

    _close(rnn.gru_cell_forward(x, h, **p), h_t.detach().numpy())
    dx, dh, grads = rnn.gru_cell_backward(dh_new, x, h, **p)
    _close(dx, xt.grad.numpy())
    _close(dh, ht.grad.numpy())
    assert list(grads) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    for name, g in grads.items():
        _close(g, getattr(cell, name).grad.numpy())
    # the reset gate sits inside bias_hh's n block: there the two bias gradients differ
    assert not np.allclose(grads["bias_ih"][2 * H:], grads["bias_hh"][2 * H:])


def _sigmoid_here(z):
    return 0.5 * (1 + np.tanh(z / 2))   # another way to write it


def _lstm_written_here(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """The LSTM step from torch's documentation, gate by gate (rows i, f, g, o of the weights)."""
    H = h.shape[1]
    rows = [slice(k * H, (k + 1) * H) for k in range(4)]
    pre = [x @ w_ih[r].T + b_ih[r] + h @ w_hh[r].T + b_hh[r] for r in rows]
    i, f, g, o = _sigmoid_here(pre[0]), _sigmoid_here(pre[1]), np.tanh(pre[2]), _sigmoid_here(pre[3])
    c_next = f * c + i * g
    return o * np.tanh(c_next), c_next


def _gru_written_here(x, h, w_ih, w_hh, b_ih, b_hh):
    """The GRU step from torch's documentation (reset gate after W_hn h + b_hn), gate by gate."""
    H = h.shape[1]
    r_, z_, n_ = (slice(k * H, (k + 1) * H) for k in range(3))
    r = _sigmoid_here(x @ w_ih[r_].T + b_ih[r_] + h @ w_hh[r_].T + b_hh[r_])
    z = _sigmoid_here(x @ w_ih[z_].T + b_ih[z_] + h @ w_hh[z_].T + b_hh[z_])
    n = np.tanh(x @ w_ih[n_].T + b_ih[n_] + r * (h @ w_hh[n_].T + b_hh[n_]))
    return (1 - z) * n + z * h


def test_the_cells_backward_match_central_differences_of_forwards_written_here(rnn, ref):
    gradcheck = submodule(ref, "gradcheck")
    rng = np.random.default_rng(6)
    N, I, H = 3, 2, 3
    p = _params(rng, 4, I, H, 0.8)
    x, h, c = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    dh_new, dc_new = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    args = dict(x=x, h=h, c=c, w_ih=p["weight_ih"], w_hh=p["weight_hh"], b_ih=p["bias_ih"], b_hh=p["bias_hh"])

    def lstm_loss(name, v):
        h_next, c_next = _lstm_written_here(**(args | {name: v}))
        return np.sum(dh_new * h_next) + np.sum(dc_new * c_next)

    dx, dh, dc, grads = rnn.lstm_cell_backward(dh_new, dc_new, x, h, c, **p)
    ours = {"x": dx, "h": dh, "c": dc, "w_ih": grads["weight_ih"], "w_hh": grads["weight_hh"],
            "b_ih": grads["bias_ih"], "b_hh": grads["bias_hh"]}
    for name, analytic in ours.items():
        numeric = gradcheck.numerical_gradient(lambda v, name=name: lstm_loss(name, v), args[name])
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8, err_msg=f"LSTM {name}")

    p = _params(rng, 3, I, H, 0.8)
    args = dict(x=x, h=h, w_ih=p["weight_ih"], w_hh=p["weight_hh"], b_ih=p["bias_ih"], b_hh=p["bias_hh"])
    dx, dh, grads = rnn.gru_cell_backward(dh_new, x, h, **p)
    _close(rnn.gru_cell_forward(x, h, **p), _gru_written_here(**args), 1e-12)
    ours = {"x": dx, "h": dh, "w_ih": grads["weight_ih"], "w_hh": grads["weight_hh"], "b_ih": grads["bias_ih"],
            "b_hh": grads["bias_hh"]}
    for name, analytic in ours.items():
        numeric = gradcheck.numerical_gradient(
            lambda v, name=name: np.sum(dh_new * _gru_written_here(**(args | {name: v}))), args[name])
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8, err_msg=f"GRU {name}")


def test_the_gru_with_the_reset_gate_before_w_hn_is_another_cell(rnn):
    """Cho et al.'s variant, n = tanh(W_in x + b_in + W_hn (r * h) + b_hn), gives other outputs: the module is
    torch's."""
    rng = np.random.default_rng(7)
    N, I, H = 4, 3, 4
    p = _params(rng, 3, I, H, 1.0)
    x, h = rng.standard_normal((N, I)), rng.standard_normal((N, H))
    ours = rnn.gru_cell_forward(x, h, **p)
    r_, z_, n_ = (slice(k * H, (k + 1) * H) for k in range(3))
    w_ih, w_hh, b_ih, b_hh = p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"]
    r = _sigmoid_here(x @ w_ih[r_].T + b_ih[r_] + h @ w_hh[r_].T + b_hh[r_])
    z = _sigmoid_here(x @ w_ih[z_].T + b_ih[z_] + h @ w_hh[z_].T + b_hh[z_])
    n = np.tanh(x @ w_ih[n_].T + b_ih[n_] + (r * h) @ w_hh[n_].T + b_hh[n_])
    assert np.max(np.abs(ours - ((1 - z) * n + z * h))) > 0.05


# -------------------------------------------------------------------------------------------------- clipping


def _torch_clip_norm(torch, grads, max_norm, norm_type, **kw):
    params = []
    for g in grads.values():
        param = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype))
        param.grad = torch.from_numpy(g.copy())
        params.append(param)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type, **kw)
    return [p.grad.numpy() for p in params], float(total)


def _grads(rng, scale=1.0, dtype=np.float64):
    return {"0.weight_ih": (scale * rng.standard_normal((8, 2))).astype(dtype),
            "0.weight_hh": (scale * rng.standard_normal((8, 2))).astype(dtype),
            "0.bias_ih": (scale * rng.standard_normal(8)).astype(dtype),
            "1.weight": (3 * scale * rng.standard_normal((1, 2))).astype(dtype)}


@pytest.mark.parametrize("norm_type", [1, 2, 2.0, 3, 0.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.0, 0.1, 1.0, 1e6])
def test_clip_grad_norm_matches_torch(rnn, torch, norm_type, max_norm):
    rng = np.random.default_rng(8)
    grads = _grads(rng)
    copies = {k: v.copy() for k, v in grads.items()}
    expected, expected_total = _torch_clip_norm(torch, grads, max_norm, norm_type)
    clipped, total = rnn.clip_grad_norm(grads, max_norm, norm_type)
    assert type(total) is float
    _close(total, expected_total)
    assert list(clipped) == list(grads)
    for got, want in zip(clipped.values(), expected):
        _close(got, want)
    for k, v in grads.items():
        np.testing.assert_array_equal(v, copies[k], err_msg=f"clip_grad_norm modified grads[{k!r}]")
        assert not np.shares_memory(clipped[k], v)


def test_clip_grad_norm_facts(rnn, torch):
    clipped, total = rnn.clip_grad_norm({"w": np.array([3.0, 4.0])}, 1.0)
    assert total == 5.0
    np.testing.assert_allclose(clipped["w"], [0.59999988, 0.79999984], rtol=1e-7)
    expected, _ = _torch_clip_norm(torch, {"w": np.array([3.0, 4.0])}, 1.0, 2.0)
    _close(clipped["w"], expected[0])
    # below the threshold: the same numbers, new arrays, never scaled up
    grads = {"a": np.array([0.3, -0.4]), "b": np.array([[0.1]])}
    clipped, total = rnn.clip_grad_norm(grads, 10.0)
    _close(total, math.sqrt(0.26))
    for k in grads:
        np.testing.assert_array_equal(clipped[k], grads[k])
        assert not np.shares_memory(clipped[k], grads[k])
    # the global norm, not each parameter's: (3, 4) and (0, 12) have norm 13, each scaled by 1 / 13
    clipped, total = rnn.clip_grad_norm({"a": np.array([3.0, 4.0]), "b": np.array([0.0, 12.0])}, 1.0)
    assert total == 13.0
    _close(clipped["a"], np.array([3.0, 4.0]) / (13 + 1e-6))
    _close(clipped["b"], np.array([0.0, 12.0]) / (13 + 1e-6))
    assert rnn.clip_grad_norm({}, 1.0) == ({}, 0.0)


def test_clip_grad_norm_in_float32_stays_float32_as_torch(rnn, torch):
    rng = np.random.default_rng(9)
    grads = _grads(rng, dtype=np.float32)
    expected, expected_total = _torch_clip_norm(torch, grads, 0.5, 2.0)
    clipped, total = rnn.clip_grad_norm(grads, 0.5)
    assert all(g.dtype == np.float32 for g in clipped.values())
    np.testing.assert_allclose(total, expected_total, rtol=1e-6)
    for got, want in zip(clipped.values(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("norm_type", [2.0, math.inf])
def test_a_non_finite_norm_raises_or_scales_as_torch(rnn, torch, bad, norm_type):
    grads = {"a": np.array([1.0, bad]), "b": np.array([2.0, -3.0])}
    with pytest.raises(RuntimeError) as theirs:
        _torch_clip_norm(torch, grads, 1.0, norm_type, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as ours:
        rnn.clip_grad_norm(grads, 1.0, norm_type, error_if_nonfinite=True)
    assert str(ours.value) == str(theirs.value)
    expected, expected_total = _torch_clip_norm(torch, grads, 1.0, norm_type, error_if_nonfinite=False)
    with np.errstate(all="raise"):  # no warning escapes either
        clipped, total = rnn.clip_grad_norm(grads, 1.0, norm_type)
    np.testing.assert_array_equal(total, expected_total)   # inf or NaN, as torch
    for got, want in zip(clipped.values(), expected):
        np.testing.assert_array_equal(got, want)           # NaN and 0 where torch has them


@pytest.mark.parametrize("clip_value", [0.05, 0.5, 1.0, 10.0])
def test_clip_grad_value_matches_torch(rnn, torch, clip_value):
    rng = np.random.default_rng(10)
    grads = _grads(rng)
    grads["0.bias_ih"][0] = np.nan
    copies = {k: v.copy() for k, v in grads.items()}
    params = []
    for g in grads.values():
        param = torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64))
        param.grad = torch.from_numpy(g.copy())
        params.append(param)
    torch.nn.utils.clip_grad_value_(params, clip_value)
    clipped = rnn.clip_grad_value(grads, clip_value)
    assert list(clipped) == list(grads)
    for (k, got), want in zip(clipped.items(), params):
        np.testing.assert_array_equal(got, want.grad.numpy())
        np.testing.assert_array_equal(grads[k], copies[k])
        assert not np.shares_memory(got, grads[k])
    clipped32 = rnn.clip_grad_value({"w": np.array([3.0, -0.25], dtype=np.float32)}, 0.5)
    assert clipped32["w"].dtype == np.float32
    np.testing.assert_array_equal(clipped32["w"], [0.5, -0.25])


@pytest.mark.parametrize("call, error, words", [
    (lambda r: r.clip_grad_norm([np.ones(2)], 1.0), TypeError, "grads must be a dict"),
    (lambda r: r.clip_grad_norm({"w": [1.0, 2.0]}, 1.0), TypeError, "grads['w'] must be a floating-point"),
    (lambda r: r.clip_grad_norm({"w": np.ones(2, dtype=int)}, 1.0), TypeError, "grads['w'] must be a floating"),
    (lambda r: r.clip_grad_norm({"w": np.ones(2)}, -0.1), ValueError, "max_norm must be at least 0"),
    (lambda r: r.clip_grad_norm({"w": np.ones(2)}, "1"), TypeError, "max_norm must be a number"),
    (lambda r: r.clip_grad_norm({"w": np.ones(2)}, 1.0, 0), ValueError, "norm_type must be a positive"),
    (lambda r: r.clip_grad_norm({"w": np.ones(2)}, 1.0, -2.0), ValueError, "norm_type must be a positive"),
    (lambda r: r.clip_grad_norm({"w": np.ones(2)}, 1.0, "two"), ValueError, "norm_type must be a positive"),
    (lambda r: r.clip_grad_value({"w": np.ones(2)}, 0.0), ValueError, "clip_value must be greater than 0"),
    (lambda r: r.clip_grad_value({"w": np.ones(2)}, -1.0), ValueError, "clip_value must be greater than 0"),
    (lambda r: r.clip_grad_value({"w": np.ones(2)}, None), TypeError, "clip_value must be a number"),
    (lambda r: r.clip_grad_value(np.ones(2), 1.0), TypeError, "grads must be a dict"),
])
def test_clipping_refuses_bad_arguments(rnn, call, error, words):
    with pytest.raises(error, match=re.escape(words)):
        call(rnn)


def test_clip_grad_norm_takes_the_string_inf_and_max_norm_zero(rnn):
    grads = {"a": np.array([1.0, -5.0]), "b": np.array([2.0])}
    _, total = rnn.clip_grad_norm(grads, 1.0, "inf")
    assert total == 5.0
    clipped, total = rnn.clip_grad_norm(grads, 0.0)
    assert total == math.sqrt(30.0)
    assert all(np.all(g == 0) for g in clipped.values())


# ------------------------------------------------------------------------------------------------ contracts


def _all_calls(rnn, dtype, rng):
    N, I, H, T = 3, 2, 4, 5
    p1, p4, p3 = (_params(rng, k, I, H, 0.6) for k in (1, 4, 3))
    p1, p4, p3 = ({k: v.astype(dtype) for k, v in p.items()} for p in (p1, p4, p3))
    x_seq, x = rng.standard_normal((T, N, I)).astype(dtype), rng.standard_normal((N, I)).astype(dtype)
    h, c = rng.standard_normal((N, H)).astype(dtype), rng.standard_normal((N, H)).astype(dtype)
    dh_seq = rng.standard_normal((T, N, H)).astype(dtype)
    inputs = [x_seq, x, h, c, dh_seq, *p1.values(), *p4.values(), *p3.values()]
    hs = rnn.rnn_forward(x_seq, h, **p1)
    outputs = [hs, *rnn.rnn_backward(dh_seq, x_seq, h, hs, p1["weight_ih"], p1["weight_hh"])]
    outputs += [*rnn.lstm_cell_forward(x, h, c, **p4), *rnn.lstm_cell_backward(h, c, x, h, c, **p4)]
    outputs += [rnn.gru_cell_forward(x, h, **p3), *rnn.gru_cell_backward(c, x, h, **p3)]
    arrays = []
    for out in outputs:
        arrays += list(out.values()) if isinstance(out, dict) else [out]
    return inputs, arrays


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_no_input_is_modified_and_every_output_is_new_in_the_inputs_dtype(rnn, dtype):
    rng = np.random.default_rng(11)
    inputs, _ = _all_calls(rnn, dtype, np.random.default_rng(11))
    copies = [a.copy() for a in inputs]
    inputs, outputs = _all_calls(rnn, dtype, rng)
    for a, b in zip(inputs, copies):
        np.testing.assert_array_equal(a, b)
    assert all(out.dtype == dtype for out in outputs), [out.dtype for out in outputs]
    assert not any(np.shares_memory(out, a) for out in outputs for a in inputs)


def test_non_contiguous_inputs_give_the_same_numbers(rnn):
    rng = np.random.default_rng(12)
    N, I, H = 3, 2, 4
    p = _params(rng, 4, I, H, 0.6)
    x, h, c = rng.standard_normal((N, I)), rng.standard_normal((N, H)), rng.standard_normal((N, H))
    views = {k: np.asfortranarray(v) if v.ndim == 2 else np.repeat(v, 2)[::2] for k, v in p.items()}
    assert not any(v.flags.c_contiguous for v in views.values() if v.ndim == 2)
    for a, b in zip(rnn.lstm_cell_backward(h, c, x, h, c, **p)[:3],
                    rnn.lstm_cell_backward(h.T.copy().T, c, np.asfortranarray(x), h, c, **views)[:3]):
        _close(a, b, 1e-14)


def _cell_args(gates, N=2, I=3, H=4):
    return dict(x=np.ones((N, I)), h=np.ones((N, H)), weight_ih=np.ones((gates * H, I)),
                weight_hh=np.ones((gates * H, H)), bias_ih=np.ones(gates * H), bias_hh=np.ones(gates * H))


@pytest.mark.parametrize("change, error, words", [
    (dict(x=np.ones(3)), ValueError, "x must have shape (N, I)"),
    (dict(x=np.ones((2, 3), dtype=int)), TypeError, "x must be a floating-point NumPy array"),
    (dict(x=[[1.0, 2.0, 3.0]] * 2), TypeError, "x must be a floating-point NumPy array"),
    (dict(h=np.ones((3, 4))), ValueError, "h must have shape (N, H) = (2, 4), got shape (3, 4)"),
    (dict(weight_ih=np.ones((16, 2))), ValueError, "weight_ih must have shape (4H, I) = (16, 3)"),
    (dict(weight_hh=np.ones((12, 4))), ValueError, "weight_hh must have shape (4H, H) = (16, 4)"),
    (dict(bias_ih=np.ones(15)), ValueError, "bias_ih must have shape (4H,) = (16,)"),
    (dict(bias_hh=np.ones((1, 16))), ValueError, "bias_hh must have shape (4H,)"),
    (dict(c=np.ones((2, 3))), ValueError, "c must have shape (N, H), like h = (2, 4)"),
])
def test_the_lstm_cell_refuses_bad_shapes_naming_the_argument(rnn, change, error, words):
    args = _cell_args(4) | {"c": np.ones((2, 4))} | change
    with pytest.raises(error, match=re.escape(words)):
        rnn.lstm_cell_forward(**args)
    with pytest.raises(error, match=re.escape(words)):
        rnn.lstm_cell_backward(np.ones((2, 4)), np.ones((2, 4)), **args)


def test_the_other_functions_refuse_bad_shapes_naming_the_argument(rnn):
    with pytest.raises(ValueError, match=re.escape("weight_ih must have shape (3H, I) = (12, 3)")):
        rnn.gru_cell_forward(**(_cell_args(3) | {"weight_ih": np.ones((8, 3))}))
    with pytest.raises(ValueError, match=re.escape("dh_new must have shape (N, H), like h = (2, 4)")):
        rnn.gru_cell_backward(np.ones((2, 3)), **_cell_args(3))
    with pytest.raises(ValueError, match=re.escape("dc_new must have shape (N, H)")):
        rnn.lstm_cell_backward(np.ones((2, 4)), np.ones((4, 2)), **_cell_args(4), c=np.ones((2, 4)))
    seq = dict(x=np.ones((5, 2, 3)), h0=np.ones((2, 4)), weight_ih=np.ones((4, 3)), weight_hh=np.ones((4, 4)),
               bias_ih=np.ones(4), bias_hh=np.ones(4))
    with pytest.raises(ValueError, match=re.escape("x must have shape (T, N, I)")):
        rnn.rnn_forward(**(seq | {"x": np.ones((2, 3))}))
    with pytest.raises(ValueError, match=re.escape("h0 must have shape (N, H) = (2, 4)")):
        rnn.rnn_forward(**(seq | {"h0": np.ones((3, 4))}))
    h = rnn.rnn_forward(**seq)
    with pytest.raises(ValueError, match=re.escape("dh must have shape (T, N, H), like h = (5, 2, 4)")):
        rnn.rnn_backward(np.ones((4, 2, 4)), seq["x"], seq["h0"], h, seq["weight_ih"], seq["weight_hh"])
    with pytest.raises(ValueError, match=re.escape("h must have shape (T, N, H), rnn_forward's output")):
        rnn.rnn_backward(np.ones((5, 2, 4)), seq["x"], seq["h0"], h[:, :1], seq["weight_ih"], seq["weight_hh"])
    # an empty sequence: no hidden states, and dL/dh0 = 0
    empty = rnn.rnn_forward(**(seq | {"x": np.ones((0, 2, 3))}))
    assert empty.shape == (0, 2, 4)
    dx, dh0, grads = rnn.rnn_backward(np.ones((0, 2, 4)), np.ones((0, 2, 3)), seq["h0"], empty, seq["weight_ih"],
                                      seq["weight_hh"])
    assert dx.shape == (0, 2, 3) and np.all(dh0 == 0) and all(np.all(g == 0) for g in grads.values())


def test_sigmoid_is_right_far_from_zero_and_keeps_the_dtype(rnn):
    z = np.array([-800.0, -40.0, -1.0, 0.0, 2.0, 40.0, 800.0])
    with np.errstate(over="ignore"):
        s = rnn.sigmoid(z)
    np.testing.assert_allclose(s, [0.0, math.exp(-40) / (1 + math.exp(-40)), 1 / (1 + math.e), 0.5,
                                   1 / (1 + math.exp(-2)), 1.0, 1.0], rtol=1e-15, atol=0)
    assert rnn.sigmoid(np.zeros(2, dtype=np.float32)).dtype == np.float32


# ------------------------------------------------------------------------------------------- initialization


@pytest.mark.parametrize("name, gates", [("init_rnn", 1), ("init_lstm", 4), ("init_gru", 3)])
def test_the_initializations_are_torch_s(rnn, name, gates):
    I, H = 3, 25
    params = getattr(rnn, name)(I, H, rng=np.random.default_rng(13))
    assert list(params) == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    shapes = [(gates * H, I), (gates * H, H), (gates * H,), (gates * H,)]
    assert [p.shape for p in params.values()] == shapes
    for p in params.values():
        assert p.dtype == np.float64 and np.max(np.abs(p)) <= 1 / math.sqrt(H)
        assert np.max(np.abs(p)) > 0.8 / math.sqrt(H)  # uniform over the whole interval
    again = getattr(rnn, name)(I, H, rng=np.random.default_rng(13), dtype=np.float32)
    for a, b in zip(params.values(), again.values()):
        assert b.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_the_forget_bias_goes_to_the_forget_block_of_bias_ih_only(rnn):
    H = 5
    plain = rnn.init_lstm(2, H, rng=np.random.default_rng(14))
    biased = rnn.init_lstm(2, H, rng=np.random.default_rng(14), forget_bias=1.0)
    np.testing.assert_array_equal(biased["bias_ih"][H:2 * H], plain["bias_ih"][H:2 * H] + 1.0)
    np.testing.assert_array_equal(np.delete(biased["bias_ih"], np.s_[H:2 * H]),
                                  np.delete(plain["bias_ih"], np.s_[H:2 * H]))
    for name in ("weight_ih", "weight_hh", "bias_hh"):
        np.testing.assert_array_equal(biased[name], plain[name])


@pytest.mark.parametrize("call, error", [
    (lambda r: r.init_rnn(0, 3, rng=np.random.default_rng(0)), ValueError),
    (lambda r: r.init_lstm(2, 2.5, rng=np.random.default_rng(0)), ValueError),
    (lambda r: r.init_gru(2, 3, rng=0), TypeError),
    (lambda r: r.init_lstm(2, 3, rng=np.random.default_rng(0), forget_bias="1"), TypeError),
])
def test_the_initializations_refuse_bad_arguments(rnn, call, error):
    with pytest.raises(error):
        call(rnn)


# ----------------------------------------------------------------------------------------- the sequence layers


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_the_sequence_layers_match_torch_in_a_regressor(rnn, nn, torch, kind):
    """nn.Sequential(layer, nn.Linear(H, 1)) against torch: the output, dL/dx and every parameter's gradient."""
    rng = np.random.default_rng(15)
    T, N, I, H = 9, 3, 2, 4
    extra = {"forget_bias": 1.0} if kind == "LSTM" else {}
    model = nn.Sequential(getattr(rnn, kind)(I, H, rng=rng, **extra), nn.Linear(H, 1, rng=rng))
    layer = _load(torch, getattr(torch.nn, kind)(I, H).double(), model[0].parameters(), "_l0")
    head = torch.nn.Linear(H, 1).double()
    _load(torch, head, model[1].parameters())
    x, y = rng.standard_normal((T, N, I)), rng.standard_normal((N, 1))
    xt = _t(torch, x, True)
    _, h_n = layer(xt)
    out = head(h_n[0][0] if kind == "LSTM" else h_n[0])
    loss_t = torch.nn.functional.mse_loss(out, _t(torch, y))
    loss_t.backward()

    loss_fn = rnn.MSELoss()
    pred = model(x)
    _close(pred, out.detach().numpy())
    _close(loss_fn(pred, y), loss_t.item())
    _close(model.backward(loss_fn.backward()), xt.grad.numpy())
    grads = model.grads()
    assert sorted(grads) == ["0.bias_hh", "0.bias_ih", "0.weight_hh", "0.weight_ih", "1.bias", "1.weight"]
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        _close(grads[f"0.{name}"], getattr(layer, name + "_l0").grad.numpy())
    _close(grads["1.weight"], head.weight.grad.numpy())
    # a second backward replaces the gradients (as nn.Linear), it does not add to them
    model(x)
    model.backward(loss_fn.backward())
    _close(model.grads()["0.weight_hh"], layer.weight_hh_l0.grad.numpy())


@pytest.mark.parametrize("kind, functions", [
    ("RNN", ("rnn_forward", "rnn_backward")),
    ("LSTM", ("lstm_cell_forward", "lstm_cell_backward")),
    ("GRU", ("gru_cell_forward", "gru_cell_backward")),
])
def test_the_layers_run_the_module_s_functions_so_a_student_s_code_is_what_trains(rnn, monkeypatch, kind,
                                                                                   functions):
    calls = {name: 0 for name in functions}
    for name in functions:
        original = getattr(rnn, name)

        def counting(*args, _original=original, _name=name, **kwargs):
            calls[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(rnn, name, counting)
    T = 6
    layer = getattr(rnn, kind)(2, 3, rng=np.random.default_rng(16))
    layer(np.ones((T, 2, 2)))
    layer.backward(np.ones((2, 3)))
    per_step = 1 if kind == "RNN" else T
    assert calls == {name: per_step for name in functions}


def test_the_layers_check_their_inputs(rnn):
    layer = rnn.LSTM(2, 3, rng=np.random.default_rng(17))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((4, 3)))
    with pytest.raises(ValueError, match=re.escape("takes sequences of shape (T, N, 2)")):
        layer(np.ones((5, 4, 3)))
    with pytest.raises(ValueError, match=re.escape("takes sequences of shape (T, N, 2)")):
        layer(np.ones((4, 2)))
    layer(np.ones((5, 4, 2)))
    with pytest.raises(ValueError, match=re.escape("dh_last must have the last hidden state's shape (4, 3)")):
        layer.backward(np.ones((4, 2)))
    assert repr(layer) == "LSTM(2, 3)"
    assert repr(rnn.LSTM(2, 3, rng=np.random.default_rng(0), forget_bias=1.0)) == "LSTM(2, 3, forget_bias=1.0)"
    assert rnn.GRU(2, 3, rng=np.random.default_rng(0), dtype=np.float32)(np.ones((3, 1, 2))).dtype == np.float32


# ---------------------------------------------------------------------------- the adding problem and training


def test_the_adding_problem_has_two_markers_one_in_each_half_and_their_sum_as_target(rnn):
    T, n = 11, 500
    x, y = rnn.adding_problem(n, T, rng=np.random.default_rng(18))
    assert x.shape == (T, n, 2) and y.shape == (n, 1) and x.dtype == y.dtype == np.float64
    values, markers = x[:, :, 0], x[:, :, 1]
    assert np.all((values >= 0) & (values < 1))
    assert set(np.unique(markers)) == {0.0, 1.0}
    np.testing.assert_array_equal(markers[: T // 2].sum(axis=0), 1)
    np.testing.assert_array_equal(markers[T // 2:].sum(axis=0), 1)
    np.testing.assert_allclose(y[:, 0], (values * markers).sum(axis=0), rtol=1e-15)
    # the markers are spread over each half
    assert len(np.unique(np.argmax(markers[: T // 2], axis=0))) == T // 2
    x32, y32 = rnn.adding_problem(3, T, rng=np.random.default_rng(18), dtype=np.float32)
    assert x32.dtype == y32.dtype == np.float32
    with pytest.raises(ValueError, match="T must be an int, at least 2"):
        rnn.adding_problem(3, 1, rng=np.random.default_rng(0))
    with pytest.raises(TypeError, match="rng"):
        rnn.adding_problem(3, 5, rng=3)


def test_predicting_one_on_the_adding_problem_has_mse_one_sixth(rnn):
    _, y = rnn.adding_problem(40_000, 50, rng=np.random.default_rng(19))
    mse = rnn.MSELoss()(np.ones_like(y), y)
    assert abs(mse - 1 / 6) < 0.005      # the standard error is about 0.0012


def test_mse_loss_matches_torch(rnn, torch):
    rng = np.random.default_rng(20)
    pred, target = rng.standard_normal((7, 3)), rng.standard_normal((7, 3))
    pt = _t(torch, pred, True)
    loss = torch.nn.MSELoss()(pt, _t(torch, target))
    loss.backward()
    fn = rnn.MSELoss()
    _close(fn(pred, target), loss.item())
    _close(fn.backward(), pt.grad.numpy())
    with pytest.raises(ValueError, match="same shape"):
        fn(pred, target[:, :1])
    with pytest.raises(RuntimeError, match="before forward"):
        rnn.MSELoss().backward()


def test_train_regressor_records_the_losses_and_the_norms_before_clipping(rnn, nn, ref):
    optim = submodule(ref, "optim")
    rng = np.random.default_rng(21)
    model = nn.Sequential(rnn.GRU(2, 4, rng=rng), nn.Linear(4, 1, rng=rng))
    seen = []

    def data(n, generator):
        batch = rnn.adding_problem(n, 6, rng=generator)
        seen.append(batch)
        return batch

    history = rnn.train_regressor(model, optim.SGD(model.parameters(), lr=0.1), data, steps=5, batch_size=8,
                                  rng=rng, clip=0.01, progress=False)
    assert sorted(history) == ["diverged", "grad_norm", "loss", "seconds"]
    assert len(history["loss"]) == len(history["grad_norm"]) == 5 and not history["diverged"]
    assert all(x.shape == (6, 8, 2) for x, _ in seen)
    assert all(n > 0.01 for n in history["grad_norm"])    # the norms before clipping, above max_norm
    # without clip (and lr 0), the norm recorded is the 2-norm of the gradients of that step's batch
    loss_fn = rnn.MSELoss()
    unclipped = rnn.train_regressor(model, optim.SGD(model.parameters(), lr=0.0), data, steps=1, batch_size=8,
                                    rng=rng, progress=False)
    x, y = seen[-1]
    loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    norm = math.sqrt(sum(np.sum(g**2) for g in model.grads().values()))
    assert math.isclose(unclipped["grad_norm"][0], norm, rel_tol=1e-12)
    with pytest.raises(ValueError, match="steps must be an int"):
        rnn.train_regressor(model, optim.SGD(model.parameters(), lr=0.1), data, steps=-1, batch_size=8, rng=rng)


def test_a_clipped_step_moves_the_parameters_by_at_most_lr_times_max_norm(rnn, nn, ref):
    optim = submodule(ref, "optim")
    rng = np.random.default_rng(22)
    model = nn.Sequential(rnn.RNN(2, 4, rng=rng), nn.Linear(4, 1, rng=rng))
    before = {k: p.copy() for k, p in model.parameters().items()}
    history = rnn.train_regressor(model, optim.SGD(model.parameters(), lr=0.5), lambda n, r: rnn.adding_problem(
        n, 5, rng=r), steps=1, batch_size=16, rng=rng, clip=1e-3, progress=False)
    moved = math.sqrt(sum(np.sum((p - before[k]) ** 2) for k, p in model.parameters().items()))
    assert history["grad_norm"][0] > 1e-3
    assert math.isclose(moved, 0.5 * 1e-3 * history["grad_norm"][0] / (history["grad_norm"][0] + 1e-6),
                        rel_tol=1e-9)


def test_a_diverging_training_stops_and_says_so(rnn, nn, ref):
    optim = submodule(ref, "optim")
    rng = np.random.default_rng(23)
    model = nn.Sequential(rnn.RNN(2, 3, rng=rng), nn.Linear(3, 1, rng=rng))

    def data(n, generator):
        x, y = rnn.adding_problem(n, 4, rng=generator)
        return x, y * np.inf

    history = rnn.train_regressor(model, optim.SGD(model.parameters(), lr=0.1), data, steps=5, batch_size=4,
                                  rng=rng, progress=False)
    assert history["diverged"] and len(history["loss"]) == 1 and history["grad_norm"] == []


def test_the_lstm_with_forget_bias_one_solves_a_short_adding_problem_and_the_rnn_does_not(rnn, nn, ref):
    """T = 12, 200 Adam steps (lr 0.05) on batches of 64, clipped at norm 1: the LSTM (H = 16, forget bias 1)
    ends far below the baseline MSE of 1/6 on fresh sequences (about 0.005), the tanh RNN of the same size and
    the same training stays near the baseline (about 0.14). Two seconds on one thread."""
    optim = submodule(ref, "optim")
    T, H = 12, 16
    x_test, y_test = rnn.adding_problem(500, T, rng=np.random.default_rng(1234))
    results = {}
    for kind in ("LSTM", "RNN"):
        rng = np.random.default_rng(4)
        extra = {"forget_bias": 1.0} if kind == "LSTM" else {}
        model = nn.Sequential(getattr(rnn, kind)(2, H, rng=rng, **extra), nn.Linear(H, 1, rng=rng))
        rnn.train_regressor(model, optim.Adam(model.parameters(), lr=0.05), lambda n, r: rnn.adding_problem(
            n, T, rng=r), steps=200, batch_size=64, rng=rng, clip=1.0, progress=False)
        results[kind] = rnn.MSELoss()(model(x_test), y_test)
    assert results["LSTM"] < 0.02, results
    assert results["RNN"] > 0.1, results


# ------------------------------------------------------------------------------------------------ the release


def test_no_solution_line_reaches_the_stub():
    text = released("rnn")
    secrets = solution_lines("rnn")
    assert len(secrets) >= 30
    assert not sorted(line for line in secrets if line in text)
    assert (SOLUTIONS / "optimlab" / "rnn.py").is_file()
