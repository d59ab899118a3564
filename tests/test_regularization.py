"""Regularization (unit 06, optimlab.regularization): the penalties, dropout, early stopping, and their checks.

- the penalties by their definitions: the value summed independently, the gradient against central differences
  (away from 0, where |w| has no derivative), sign(0) = 0, which names are decayed, L2 as torch's weight_decay,
  the proximal step against torch's ``softshrink`` and as the minimizer it is defined to be;
- dropout: the documented draw, the fraction of zeros and the mean over a large draw, forward and backward with
  the same mask, evaluation the identity, p = 0 and p = 1, bad p refused; torch's ``F.dropout`` in float64 given
  its own mask, to 1e-12, outputs and autograd gradients (torch is optional: those tests skip without it);
- early stopping against an independently written loop over whole curves, against Keras's documented behaviour
  and its test, and the given class ``EarlyStopping`` restoring the best epoch's parameters and buffers;
- the self-checks: check data recorded here from the catalogue (``autograder/exercises/unit06.py``; ``record``
  validates that every catalogued mistake is named), which the reference passes, the release's stubs fail, and
  independently written wrong implementations fail, with the classic mistake named where there is one.
"""

import math

import numpy as np
import pytest

from conftest import assert_stub_fails_with_its_own_error, recorded, released, solution_lines, submodule

TOL = 1e-12


@pytest.fixture(scope="module")
def reg(ref):
    return submodule(ref, "regularization")


@pytest.fixture(scope="module")
def nn(ref):
    return submodule(ref, "nn")


@pytest.fixture(scope="module")
def check(ref):
    return submodule(ref, "check")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _params(rng, *, zeros=True):
    params = {
        "0.weight": rng.standard_normal((4, 3)),
        "0.bias": rng.standard_normal(4),
        "2.weight": rng.standard_normal((2, 4)),
        "2.bias": rng.standard_normal(2),
        "bias": rng.standard_normal(3),          # a bare name: still a bias
        "head.bias_scale": rng.standard_normal(2),  # not a bias: the last component is "bias_scale"
    }
    if zeros:
        params["0.weight"][1, 2] = 0.0
        params["0.bias"][0] = 0.0
    return params


def _copies(d):
    return {k: v.copy() for k, v in d.items()}


# ============================================================================================ weight penalties

BIASES = {"0.bias", "2.bias", "bias"}


@pytest.mark.parametrize("l2, l1", [(0.0, 0.0), (0.3, 0.0), (0.0, 0.2), (0.7, 0.05)])
@pytest.mark.parametrize("decay_biases", [False, True])
def test_penalty_is_its_definition_over_the_decayed_parameters(reg, l2, l1, decay_biases):
    params = _params(np.random.default_rng(1))
    before = _copies(params)
    names = [k for k in params if decay_biases or k not in BIASES]
    flat = np.concatenate([params[k].ravel() for k in names])
    expected = l2 / 2 * float(flat @ flat) + l1 * float(np.abs(flat).sum())
    got = reg.penalty(params, l2=l2, l1=l1, decay_biases=decay_biases)
    assert type(got) is float and math.isclose(got, expected, rel_tol=TOL, abs_tol=TOL)
    assert all(np.array_equal(params[k], before[k]) for k in params)


def test_the_penalty_gradient_is_the_numerical_gradient_of_the_penalty_away_from_zero(reg):
    rng = np.random.default_rng(2)
    params = _params(rng, zeros=False)
    for decay_biases in (False, True):
        zero = {k: np.zeros_like(v) for k, v in params.items()}
        grads = reg.penalty_grads(zero, params, l2=0.4, l1=0.15, decay_biases=decay_biases)
        h = 1e-6
        for name, w in params.items():
            numeric = np.zeros_like(w)
            for i in np.ndindex(w.shape):
                assert abs(w[i]) > 10 * h  # |w| is differentiable here
                up, down = _copies(params), _copies(params)
                up[name][i] += h
                down[name][i] -= h
                numeric[i] = (reg.penalty(up, l2=0.4, l1=0.15, decay_biases=decay_biases)
                              - reg.penalty(down, l2=0.4, l1=0.15, decay_biases=decay_biases)) / (2 * h)
            np.testing.assert_allclose(grads[name], numeric, rtol=1e-6, atol=1e-8)
            if name in BIASES and not decay_biases:
                assert np.all(grads[name] == 0)


def test_penalty_grads_adds_l2_w_and_l1_sign_with_sign_zero_zero_and_copies_the_rest(reg):
    rng = np.random.default_rng(3)
    params, grads = _params(rng), {k: v for k, v in _params(rng, zeros=False).items()}
    before_p, before_g = _copies(params), _copies(grads)
    out = reg.penalty_grads(grads, params, l2=0.5, l1=0.25, decay_biases=False)
    assert set(out) == set(grads)
    # The entry of 0.weight that is exactly 0 gets no L1 push (and no L2 one).
    assert out["0.weight"][1, 2] == grads["0.weight"][1, 2]
    w = params["0.weight"]
    manual = grads["0.weight"] + 0.5 * w + 0.25 * np.where(w > 0, 1.0, np.where(w < 0, -1.0, 0.0))
    np.testing.assert_allclose(out["0.weight"], manual, rtol=TOL, atol=TOL)
    for name in BIASES:
        assert np.array_equal(out[name], grads[name]) and not np.shares_memory(out[name], grads[name])
    # head.bias_scale is not a bias: decayed.
    assert not np.allclose(out["head.bias_scale"], grads["head.bias_scale"])
    assert all(np.array_equal(params[k], before_p[k]) and np.array_equal(grads[k], before_g[k]) for k in params)
    with_biases = reg.penalty_grads(grads, params, l2=0.5, l1=0.0, decay_biases=True)
    np.testing.assert_allclose(with_biases["2.bias"], grads["2.bias"] + 0.5 * params["2.bias"], rtol=TOL, atol=TOL)


def test_l2_in_penalty_grads_is_torchs_weight_decay(reg, torch):
    rng = np.random.default_rng(4)
    w, g = rng.standard_normal((3, 5)), rng.standard_normal((3, 5))
    lr, decay = 0.1, 0.3
    p = torch.tensor(w.copy(), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, weight_decay=decay)
    p.grad = torch.tensor(g.copy(), dtype=torch.float64)
    opt.step()
    ours = w - lr * reg.penalty_grads({"0.weight": g}, {"0.weight": w}, l2=decay)["0.weight"]
    np.testing.assert_allclose(ours, p.detach().numpy(), rtol=0, atol=TOL)


def test_l1_prox_is_torchs_softshrink(reg, torch):
    rng = np.random.default_rng(5)
    w = rng.standard_normal((6, 7))
    w[0, :3] = [0.0, 0.4, -0.4]
    for threshold in (0.0, 0.4, 1.0, 5.0):
        theirs = torch.nn.functional.softshrink(torch.tensor(w), lambd=threshold).numpy()
        np.testing.assert_allclose(reg.l1_prox(w, threshold), theirs, rtol=0, atol=TOL)


def test_l1_prox_minimizes_its_objective_and_makes_exact_zeros(reg):
    rng = np.random.default_rng(6)
    w = rng.uniform(-2, 2, size=200)
    t = 0.5
    before = w.copy()
    u = reg.l1_prox(w, t)
    assert np.array_equal(w, before) and not np.shares_memory(u, w)

    def objective(v):
        return 0.5 * (v - w) ** 2 + t * np.abs(v)

    for delta in (1e-3, -1e-3, 0.1, -0.1):
        assert np.all(objective(u) <= objective(u + delta) + 1e-15)
    assert np.all(u[np.abs(w) <= t] == 0) and np.all(u[np.abs(w) > t] != 0)
    assert np.all(np.sign(u[u != 0]) == np.sign(w[u != 0]))  # nothing crosses zero


def test_proximal_steps_make_weights_exactly_zero_where_the_subgradient_never_does(reg):
    rng = np.random.default_rng(7)
    w0 = rng.uniform(-1, 1, size=50)
    lr, l1 = 0.05, 0.5
    w_sub, w_prox = w0.copy(), w0.copy()
    for _ in range(100):  # the loss is 0: only the penalty acts
        w_sub = w_sub - lr * reg.penalty_grads({"w": np.zeros(50)}, {"w": w_sub}, l1=l1)["w"]
        w_prox = reg.l1_prox(w_prox, lr * l1)
    assert np.count_nonzero(w_prox) == 0
    assert np.count_nonzero(w_sub) > 40


@pytest.mark.parametrize("call", [
    lambda r: r.penalty({"w": np.ones(2)}, l2=-0.1),
    lambda r: r.penalty({"w": np.ones(2)}, l1=math.nan),
    lambda r: r.penalty_grads({"w": np.ones(2)}, {"w": np.ones(2)}, l1=-1.0),
    lambda r: r.penalty_grads({"w": np.ones(2)}, {"v": np.ones(2)}),
    lambda r: r.penalty_grads({"w": np.ones(2)}, {"w": np.ones(3)}),
    lambda r: r.l1_prox(np.ones(2), -0.5),
])
def test_bad_penalty_arguments_raise_value_error(reg, call):
    with pytest.raises(ValueError):
        call(reg)


# ====================================================================================================== dropout


def test_the_mask_is_the_documented_draw(reg):
    for p in (0.0, 0.3, 0.5, 1.0):
        draws = np.random.default_rng(11).random((7, 9))
        mask = reg.dropout_mask((7, 9), p, np.random.default_rng(11))
        assert mask.dtype == np.bool_ and mask.shape == (7, 9)
        assert np.array_equal(mask, ~(draws < p))


@pytest.mark.parametrize("p", [0.1, 0.2, 0.5, 0.8])
def test_the_fraction_of_zeros_is_p_and_the_mean_is_preserved(reg, p):
    rng = np.random.default_rng(12)
    shape = (500, 400)  # 200 000 draws: the fraction's standard deviation is below 1.2e-3
    keep = reg.dropout_mask(shape, p, rng)
    assert abs(np.mean(~keep) - p) < 6e-3
    x = np.full(shape, 3.0)
    y = reg.dropout_forward(x, keep, p)
    assert abs(np.mean(y) - 3.0) < 0.05 * 3.0 * math.sqrt(p / (1 - p)) + 0.01
    assert np.all(y[~keep] == 0) and np.allclose(y[keep], 3.0 / (1 - p), rtol=TOL)


def test_forward_and_backward_use_the_same_mask_and_scale(reg):
    rng = np.random.default_rng(13)
    x, dout = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    p = 0.3
    keep = reg.dropout_mask(x.shape, p, rng)
    before = (x.copy(), dout.copy(), keep.copy())
    dx = reg.dropout_backward(dout, keep, p)
    assert np.array_equal(dx == 0, ~keep)
    # The forward is linear in x, so the gradient of sum(dout * forward(x)) is found exactly by differences.
    h = 1e-3
    numeric = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        numeric[i] = np.sum(dout * (reg.dropout_forward(x + e, keep, p) - reg.dropout_forward(x - e, keep, p))) / (2 * h)
    np.testing.assert_allclose(dx, numeric, rtol=1e-9, atol=1e-12)
    assert all(np.array_equal(a, b) for a, b in zip((x, dout, keep), before))


def test_evaluation_is_the_identity_and_returns_a_copy(reg):
    x = np.random.default_rng(14).standard_normal((4, 4))
    keep = np.zeros((4, 4), dtype=bool)
    y = reg.dropout_forward(x, keep, 0.7, training=False)
    assert np.array_equal(y, x) and not np.shares_memory(y, x)


def test_p_zero_is_the_identity_and_p_one_gives_exact_zeros_without_a_division(reg):
    rng = np.random.default_rng(15)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    with np.errstate(all="raise"):  # a 0 / 0 would raise here
        y0 = reg.dropout_forward(x, reg.dropout_mask(x.shape, 0.0, rng), 0.0)
        y1 = reg.dropout_forward(x, reg.dropout_mask(x.shape, 1.0, rng), 1.0)
        d1 = reg.dropout_backward(x, np.zeros(x.shape, dtype=bool), 1.0)
    assert np.array_equal(y0, x) and not np.shares_memory(y0, x)
    for out in (y1, d1):
        assert out.dtype == np.float32 and np.all(out == 0) and np.all(np.isfinite(out))
    assert y0.dtype == np.float32


@pytest.mark.parametrize("p", [-0.1, 1.5, math.nan, math.inf])
def test_p_outside_zero_one_raises_value_error_naming_p(reg, p):
    x, keep = np.ones((2, 2)), np.ones((2, 2), dtype=bool)
    for call in (lambda: reg.dropout_mask((2, 2), p, np.random.default_rng(0)),
                 lambda: reg.dropout_forward(x, keep, p), lambda: reg.dropout_forward(x, keep, p, training=False),
                 lambda: reg.dropout_backward(x, keep, p)):
        with pytest.raises(ValueError, match="p must be in"):
            call()


def test_a_mask_of_the_wrong_shape_or_dtype_is_refused(reg):
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="keep must have the shape"):
        reg.dropout_forward(x, np.ones((3, 2), dtype=bool), 0.5)
    with pytest.raises(TypeError, match="boolean"):
        reg.dropout_backward(x, np.ones((2, 3)), 0.5)


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.9])
def test_torch_dropout_given_its_own_mask_to_1e_12(reg, torch, p):
    rng = np.random.default_rng(16)
    x = rng.standard_normal((40, 30))
    x[x == 0] = 1.0  # a zero of y then means a dropped unit
    dout = rng.standard_normal(x.shape)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    with torch.random.fork_rng():
        torch.manual_seed(1234)
        yt = torch.nn.functional.dropout(xt, p=p, training=True)
    (yt * torch.tensor(dout)).sum().backward()
    keep = (yt != 0).detach().numpy()
    assert 0 < np.mean(~keep) < 1
    np.testing.assert_allclose(reg.dropout_forward(x, keep, p), yt.detach().numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(reg.dropout_backward(dout, keep, p), xt.grad.numpy(), rtol=0, atol=TOL)
    evaluated = torch.nn.functional.dropout(torch.tensor(x), p=p, training=False).numpy()
    np.testing.assert_array_equal(reg.dropout_forward(x, keep, p, training=False), evaluated)


def test_torch_dropout_at_p_one_is_zeros_like_ours(reg, torch):
    x = np.random.default_rng(17).standard_normal((3, 4))
    theirs = torch.nn.functional.dropout(torch.tensor(x), p=1.0, training=True).numpy()
    ours = reg.dropout_forward(x, np.zeros(x.shape, dtype=bool), 1.0)
    np.testing.assert_array_equal(ours, theirs)


# ============================================================================================== early stopping


def _stopping_loop(losses, patience, min_delta=0.0):
    """An independent reading of the rule over a whole curve: for each epoch, (stop, best, best_epoch, bad)."""
    rows, best, best_epoch, since = [], None, -1, 0
    for epoch, loss in enumerate(losses):
        better = not math.isnan(loss) and (best is None or best - loss > min_delta)
        if better:
            best, best_epoch, since = loss, epoch, 0
        else:
            since += 1
        rows.append((since >= patience, math.inf if best is None else best, best_epoch, since))
    return rows


def _run(reg, losses, patience, min_delta=0.0):
    state, rows = {}, []
    for loss in losses:
        given = dict(state)
        stop, new = reg.early_stopping_step(loss, state, patience=patience, min_delta=min_delta)
        assert state == given and new is not state  # the caller's state is untouched
        assert type(stop) is bool
        rows.append((stop, new["best"], new["best_epoch"], new["bad_epochs"]))
        assert new["epoch"] == len(rows) - 1
        state = new
    return rows


def _curve(rng, n):
    # Whole numbers of thousandths, and min_delta in half-thousandths: no difference lies within rounding of
    # min_delta, so any correct way of writing the comparison agrees.
    losses = list(np.round(1.0 + np.cumsum(rng.normal(-0.01, 0.03, size=n)), 3))
    for i in rng.choice(n, size=int(rng.integers(0, 3)), replace=False):
        losses[i] = math.nan
    for i in rng.choice(np.arange(1, n), size=min(2, n - 1), replace=False):
        losses[i] = losses[i - 1]  # a tie with the epoch before
    earlier = [v for v in losses[:n // 2] if not math.isnan(v)]
    if earlier and n > 3:
        losses[int(rng.integers(n // 2, n))] = min(earlier)  # a tie with the best (or close to it)
    return [float(v) for v in losses]


def test_early_stopping_step_agrees_with_an_independent_loop_on_random_curves(reg):
    rng = np.random.default_rng(21)
    for _ in range(200):
        losses = _curve(rng, int(rng.integers(2, 40)))
        patience = int(rng.integers(1, 6))
        min_delta = float(rng.choice([0.0, 0.0045, 0.0125]))
        assert _run(reg, losses, patience, min_delta) == _stopping_loop(losses, patience, min_delta)


@pytest.mark.parametrize("patience", [1, 2, 3])
def test_keras_test_early_stopping_patience(reg, patience):
    """keras/src/callbacks/early_stopping_test.py: these losses stop at epoch max(patience, 1) + 2."""
    losses = [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5]
    stops = [row[0] for row in _run(reg, losses, patience)]
    assert stops.index(True) == patience + 2


def test_keras_documented_example_stops_after_four_epochs_with_patience_3(reg):
    """Keras's EarlyStopping docs: patience=3 on a loss that never improves after the first epoch runs 4
    epochs."""
    losses = [1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    stops = [row[0] for row in _run(reg, losses, 3)]
    assert stops.index(True) + 1 == 4


def test_ties_small_improvements_and_nan_are_bad_epochs(reg):
    rows = _run(reg, [1.0, 1.0, 0.995, math.nan, 0.9], patience=10, min_delta=0.01)
    assert [r[3] for r in rows] == [0, 1, 2, 3, 0]
    assert [r[1] for r in rows] == [1.0, 1.0, 1.0, 1.0, 0.9]  # 0.995 did not move the best
    first_nan = _run(reg, [math.nan, 2.0], patience=5)
    assert first_nan[0][1:] == (math.inf, -1, 1) and first_nan[1][1:] == (2.0, 1, 0)


@pytest.mark.parametrize("kwargs, error", [
    (dict(patience=0), ValueError), (dict(patience=2.5), TypeError), (dict(patience=2, min_delta=-0.1), ValueError),
])
def test_bad_early_stopping_arguments_raise(reg, kwargs, error):
    with pytest.raises(error):
        reg.early_stopping_step(1.0, {}, **kwargs)
    with pytest.raises(ValueError, match="keys"):
        reg.early_stopping_step(1.0, {"best": 1.0}, patience=2)


def test_early_stopping_restores_the_parameters_of_the_best_epoch(reg, nn):
    model = nn.mlp([3, 4, 2], rng=np.random.default_rng(22))
    stopper = reg.EarlyStopping(patience=2)
    losses = [1.0, 0.7, 0.8, 0.6, 0.65, 0.61, 0.9]
    saved, stopped = {}, None
    for epoch, loss in enumerate(losses):
        for k, p in model.parameters().items():
            p[...] = np.random.default_rng(100 + epoch).standard_normal(p.shape)  # "training" changes them
        saved[epoch] = _copies(model.parameters())
        if stopper.step(loss, model):
            stopped = epoch
            break
    assert stopped == 5 and stopper.stopped_epoch == 5 and stopper.best_epoch == 3 and stopper.best_loss == 0.6
    arrays = model.parameters()
    stopper.restore(model)
    for k, p in model.parameters().items():
        assert p is arrays[k]  # written back in place
        assert np.array_equal(p, saved[3][k])


def test_early_stopping_restores_buffers_too(reg, nn):
    """BatchNorm's running statistics are part of the model: ``model.buffers()`` (the lead's nn.py)."""
    if not hasattr(nn.Module, "buffers") or not hasattr(nn, "BatchNorm1d"):
        pytest.skip("nn.Module.buffers / nn.BatchNorm1d are not there yet")
    model = nn.Sequential(nn.Linear(3, 4, rng=np.random.default_rng(23)), nn.BatchNorm1d(4))
    assert model.buffers(), "a BatchNorm1d model has buffers"
    stopper = reg.EarlyStopping(patience=1)
    for epoch, loss in enumerate([0.5, 0.4, 0.45]):
        for b in model.buffers().values():
            b[...] = epoch + 1.0
        stopper.step(loss, model)
    stopper.restore(model)
    assert all(np.all(b == 2.0) for b in model.buffers().values())


def test_early_stopping_with_no_improvement_at_all_leaves_the_model(reg, nn):
    model = nn.mlp([2, 2], rng=np.random.default_rng(24))
    before = _copies(model.parameters())
    stopper = reg.EarlyStopping(patience=2)
    assert [stopper.step(math.nan, model) for _ in range(2)] == [False, True]
    assert stopper.best_epoch is None and stopper.best_loss is None
    stopper.restore(model)
    assert all(np.array_equal(model.parameters()[k], before[k]) for k in before)


def test_fit_with_early_stopping_ends_on_the_best_validation_epoch(reg, nn, ref):
    optim = submodule(ref, "optim")
    data = nn.load_digits(seed=0)
    rng = np.random.default_rng(25)
    model = nn.mlp([64, 32, 10], rng=rng)
    stopper = reg.EarlyStopping(patience=2)
    history = nn.fit(model, optim.SGD(model.parameters(), lr=0.5), data.X_train[:200], data.y_train[:200],
                     epochs=40, batch_size=20, rng=rng, validation=(data.X_val, data.y_val), early_stopping=stopper)
    best = int(np.argmin(history.val_loss))
    assert stopper.best_epoch == best
    model.eval()
    logits = model(data.X_val)
    val_loss = nn.CrossEntropyLoss()(logits, data.y_val)
    val_loss = val_loss[0] if isinstance(val_loss, tuple) else val_loss
    assert math.isclose(float(val_loss), history.val_loss[best], rel_tol=1e-9)


# ================================================================================================ the checks


@pytest.fixture(scope="module")
def catalogue():
    from autograder.exercises import unit06

    return {e.name: e for e in unit06.EXERCISES}


@pytest.fixture(scope="module")
def specs(ref):
    return recorded("06_regularization")


@pytest.fixture(scope="module")
def hidden_specs(ref):
    return recorded("06_regularization", hidden_seed=66)


def test_the_catalogue_covers_every_exercise_of_the_module(catalogue, reg, ref):
    from optimlab._exercise import EXERCISES

    ours = {n for n, e in EXERCISES.items() if e.module == "regularization"}
    assert ours == set(catalogue) == {"penalty", "penalty_grads", "l1_prox", "dropout_mask", "dropout_forward",
                                      "dropout_backward", "early_stopping_step"}
    assert all(EXERCISES[n].unit == "06_regularization" for n in ours)


def test_the_reference_passes_the_public_and_hidden_checks(check, reg, specs, hidden_specs):
    for name in specs:
        for spec in (specs[name], hidden_specs[name]):
            assert check.run_check(spec, getattr(reg, name)) == (len(spec["cases"]), None)


def test_every_catalogued_mistake_is_named_with_its_explanation(check, catalogue, specs):
    for name, exercise in catalogue.items():
        for mistake in exercise.mistakes:
            _, failure = check.run_check(specs[name], mistake.impl)
            assert failure is not None and f"classic mistake: {mistake.title}." in failure, (name, mistake.id)
            assert mistake.explain in failure


@pytest.fixture(scope="module")
def stub(stubs):
    """The release's regularization.py (``course/optimlab``), as a student first gets it."""
    return submodule(stubs, "regularization")


@pytest.mark.parametrize("name", ["penalty", "penalty_grads", "l1_prox", "dropout_mask", "dropout_forward",
                                  "dropout_backward", "early_stopping_step"])
def test_the_stubs_fail_every_case_with_their_own_error(check, specs, stub, name):
    assert_stub_fails_with_its_own_error(check, specs[name], getattr(stub, name), "06_regularization")


def test_the_stub_keeps_the_given_class_and_no_solution_line(stub):
    secret, text = solution_lines("regularization"), released("regularization")
    assert len(secret) >= 10
    assert not [line for line in secret if line in text]
    assert stub.EarlyStopping(patience=2).state == {} and stub.is_bias("1.bias")


# ------------------------------------------------------------------------- independently written wrong code


def _pen_norm_squared(params, *, l2=0.0, l1=0.0, decay_biases=False):
    keep = [w for k, w in params.items() if decay_biases or not k.endswith("bias")]
    return sum(l2 * np.linalg.norm(w) ** 2 + l1 * np.linalg.norm(w.ravel(), 1) for w in keep)


def _pen_weights_only(params, *, l2=0.0, l1=0.0, decay_biases=False):
    total = 0.0
    for key in params:
        if key.split(".")[-1] == "weight":
            total += l2 * 0.5 * np.vdot(params[key], params[key]) + l1 * np.abs(params[key]).sum()
    return float(total)


def _pg_double(grads, params, *, l2=0.0, l1=0.0, decay_biases=False):
    def decayed(k):
        return decay_biases or k.split(".")[-1] != "bias"
    return {k: g + (2 * l2 * params[k] + l1 * np.sign(params[k]) if decayed(k) else 0) for k, g in grads.items()}


def _pg_copysign(grads, params, *, l2=0.0, l1=0.0, decay_biases=False):
    out = {}
    for k in grads:
        if decay_biases or not k.endswith("bias"):
            out[k] = grads[k] + l2 * params[k] + l1 * np.copysign(1.0, params[k]).astype(params[k].dtype)
        else:
            out[k] = np.array(grads[k])
    return out


def _pg_everything(grads, params, *, l2=0.0, l1=0.0, decay_biases=False):
    return {k: grads[k] + l2 * params[k] + l1 * np.sign(params[k]) for k in grads}


def _pg_same_arrays(grads, params, *, l2=0.0, l1=0.0, decay_biases=False):
    out = dict(grads)
    for k in grads:
        if decay_biases or not k.endswith("bias"):
            out[k] = grads[k] + l2 * params[k] + l1 * np.sign(params[k])
    return out


def _prox_where(w, threshold):
    return np.where(np.abs(w) <= threshold, np.zeros_like(w), w)


def _prox_shift(w, threshold):
    return np.sign(w) * (np.abs(w) - threshold)


def _prox_clip_low(w, threshold):
    return np.clip(w - threshold, 0, None)


def _prox_flat_view(w, threshold):
    out = np.empty_like(w)  # keeps w's layout, so for a transposed w, reshape(-1) below is a copy
    flat, src = out.reshape(-1), w.reshape(-1)
    flat[:] = np.sign(src) * np.maximum(np.abs(src) - threshold, 0)
    return out


def _mask_uniform_below(shape, p, rng):
    return rng.uniform(0.0, 1.0, size=shape) < p


def _mask_binomial(shape, p, rng):
    return rng.binomial(1, 1 - p, size=shape) == 1


def _mask_global(shape, p, rng):
    return np.random.uniform(size=shape) >= p


def _fw_cs231n(x, keep, p, *, training=True):
    if not training:
        return np.array(x)
    return np.where(keep, x, 0.0).astype(x.dtype) / p


def _fw_paper(x, keep, p, *, training=True):
    return x * keep if training else x * (1.0 - p)


def _fw_ignores_training(x, keep, p, *, training=True):
    if p >= 1:
        return 0 * x
    return np.where(keep, x / (1 - p), 0).astype(x.dtype)


def _fw_own_mask(x, keep, p, *, training=True):
    if not training:
        return x.copy()
    mine = np.random.default_rng(99).random(x.shape) > p
    return np.zeros_like(x) if p == 1 else x * mine / (1 - p)


def _fw_scale_first(x, keep, p, *, training=True):
    if not training:
        return x.copy()
    scale = 1.0 / (1.0 - p)  # ZeroDivisionError at p = 1
    return x * keep * scale


def _fw_float64(x, keep, p, *, training=True):
    if not training:
        return x.copy()
    return np.zeros_like(x) if p == 1 else x * keep.astype(np.float64) / (1 - p)


def _bw_binomial(dout, keep, p):
    if p == 1:
        return np.zeros_like(dout)
    redrawn = np.random.default_rng(5).binomial(1, 1 - p, size=dout.shape)
    return dout * redrawn / (1 - p)


def _bw_unscaled(dout, keep, p):
    return np.where(keep, dout, 0).astype(dout.dtype)


def _bw_nan(dout, keep, p):
    return dout * keep.astype(dout.dtype) / (1 - p)


def _es_staged(val_loss, state, *, patience, min_delta=0.0, late=False, delta=True, last=False, reset=True,
               ties=False, nan_better=False, one_based=False):
    """Early stopping written as a fresh state built key by key, with knobs for the bugs."""
    first = not state
    epoch = (1 if one_based else 0) if first else state["epoch"] + 1
    best = math.inf if first else state["best"]
    margin = min_delta if delta else 0.0
    if math.isnan(val_loss):
        better = nan_better
    else:
        better = (best - val_loss >= margin) if ties else (best - val_loss > margin)
    new = {"best": best, "best_epoch": -1 if first else state["best_epoch"], "epoch": epoch,
           "bad_epochs": 0 if first else state["bad_epochs"]}
    if better:
        new["best"], new["best_epoch"] = val_loss, epoch
        if reset:
            new["bad_epochs"] = 0
    else:
        new["bad_epochs"] += 1
    if last:
        new["best"] = val_loss
    return (new["bad_epochs"] > patience) if late else (new["bad_epochs"] >= patience), new


def _es(**knobs):
    def buggy(val_loss, state, *, patience, min_delta=0.0):
        return _es_staged(val_loss, state, patience=patience, min_delta=min_delta, **knobs)
    buggy.__name__ = "_es_" + "_".join(f"{k}_{v}" for k, v in knobs.items())
    return buggy


def _es_int_stop(val_loss, state, *, patience, min_delta=0.0):
    stop, new = _es_staged(val_loss, state, patience=patience, min_delta=min_delta)
    return int(stop), new


def _nan_title():
    from autograder.exercises import unit06

    return unit06.NAN_AT_ONE


#: (exercise, wrong implementation, the classic mistake's title, or None when it has no name). "NAN" stands for
#: the title of NaN at p = 1, which the engine names (see test_nan_at_p_one_is_named).
INDEPENDENT_MISTAKES = [
    ("penalty", _pen_norm_squared, "the L2 penalty without the 1/2: l2 * |w|^2"),
    ("penalty", _pen_weights_only, "not decaying the biases when decay_biases=True"),
    ("penalty_grads", _pg_double, "the L2 gradient 2 * l2 * w instead of l2 * w"),
    ("penalty_grads", _pg_copysign, "L1 with sign(0) = 1"),
    ("penalty_grads", _pg_everything, "decaying the biases when decay_biases=False"),
    ("penalty_grads", _pg_same_arrays, "an output that shares memory with an input"),
    ("l1_prox", _prox_where, "a hard threshold: the surviving weights not shrunk"),
    ("l1_prox", _prox_shift, "shrinking past zero: w - threshold * sign(w) without the clip"),
    ("l1_prox", _prox_clip_low, "the sign lost: max(w - threshold, 0)"),
    ("l1_prox", _prox_flat_view, "wrong results for an input that is not C-contiguous"),
    ("dropout_mask", _mask_uniform_below, "keep and drop probabilities swapped"),
    ("dropout_mask", _mask_binomial, None),
    ("dropout_mask", _mask_global, None),
    ("dropout_forward", _fw_cs231n, "dividing by p: cs231n's keep-probability convention"),
    ("dropout_forward", _fw_paper, "dropout scaled at test time instead of training time"),
    ("dropout_forward", _fw_ignores_training, "the mask applied in evaluation"),
    ("dropout_forward", _fw_own_mask, "a mask other than the one given"),
    ("dropout_forward", _fw_float64, "float64 leaking into a float32 computation"),
    ("dropout_forward", _fw_scale_first, None),
    ("dropout_backward", _bw_binomial, "a new mask in backward"),
    ("dropout_backward", _bw_unscaled, "the gradient not scaled by 1 / (1 - p)"),
    ("dropout_backward", _bw_nan, "NAN"),
    ("early_stopping_step", _es(late=True), "stopping one epoch late: bad_epochs > patience"),
    ("early_stopping_step", _es(delta=False), "min_delta ignored"),
    ("early_stopping_step", _es(last=True), "comparing with the last loss instead of the best"),
    ("early_stopping_step", _es(reset=False), "not resetting the count of bad epochs on an improvement"),
    ("early_stopping_step", _es(ties=True), "ties counted as improvements"),
    ("early_stopping_step", _es(nan_better=True), "a NaN counted as an improvement"),
    ("early_stopping_step", _es(one_based=True), "counting the epochs from 1"),
    ("early_stopping_step", _es_int_stop, None),
]


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_with_their_mistake_named(check, specs, name, buggy, title):
    passed, failure = check.run_check(specs[name], buggy)
    assert failure is not None, f"{buggy.__name__} passes the checks of {name}"
    assert passed < len(specs[name]["cases"])
    if title == "NAN":
        title = _nan_title()
        assert title is not None, ("NaN at p = 1 is not named: the engine needs a diagnosis for it (see "
                                   "unit06.NAN_AT_ONE); the checks say:\n" + failure)
    if title is not None:
        assert f"classic mistake: {title}." in failure, failure
    assert "checks cannot read" not in failure


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_hidden_cases_too(check, hidden_specs, name, buggy, title):
    passed, failure = check.run_check(hidden_specs[name], buggy)
    assert failure is not None, f"{buggy.__name__} passes 12 hidden draws"


def test_nan_at_p_one_is_named(check, specs):
    """The issue asks for NaN at p = 1 to be named. Outputs holding NaN are not recorded (JSON has no NaN), so
    the engine must name it: a diagnosis in optimlab.check whose title unit06 reads as NAN_AT_ONE."""
    title = _nan_title()
    assert title is not None, "optimlab.check has no DROPOUT_NAN_AT_ONE diagnosis yet"
    for name, buggy in (("dropout_forward", _fw_scale_first), ("dropout_backward", _bw_nan)):
        _, failure = check.run_check(specs[name], buggy)
        assert f"classic mistake: {title}." in failure, failure


@pytest.mark.parametrize("name, correct", [
    ("dropout_forward", lambda x, keep, p, *, training=True: (
        x.copy() if not training else np.where(keep, x, 0).astype(x.dtype) * (0 if p == 1 else 1 / (1 - p)))),
    ("early_stopping_step", _es()),
    ("l1_prox", lambda w, threshold: np.where(w > threshold, w - threshold,
                                              np.where(w < -threshold, w + threshold, 0)).astype(w.dtype)),
])
def test_correct_implementations_in_another_style_pass(check, specs, hidden_specs, name, correct):
    for spec in (specs[name], hidden_specs[name]):
        assert check.run_check(spec, correct) == (len(spec["cases"]), None)
