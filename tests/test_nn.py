"""The network toolkit (optimlab.nn): gradients, torch's numbers, the training loop, and the digits.

- every backward pass against the centred difference of ``optimlab.gradcheck`` (float64, relative error below
  1e-7), with C-ordered, transposed and strided inputs and a batch of one;
- the outputs, gradients and initialization of ``torch.nn`` given the same weights (torch is an optional test
  dependency: those tests are skipped without it), and a training run that follows torch's step by step;
- the contracts: parameter names as in torch's ``state_dict``, arrays that stay the same objects, gradients that
  each backward replaces, train/eval modes that reach every child, dtypes kept;
- ``fit`` and ``training_steps``: what they record, when they step a scheduler (a recording stand-in for unit
  05's schedules), divergence, silence outside a kernel, determinism;
- "the loss goes down" for the optimizers of ``optimlab.optim``, beside the exact tests, and the accuracy the
  64-128-10 MLP reaches on the digits.
"""

import sys
import types
import warnings

import numpy as np
import pytest

from conftest import submodule


@pytest.fixture(scope="module")
def nn(ref):
    return submodule(ref, "nn")


@pytest.fixture(scope="module")
def optim(ref):
    return submodule(ref, "optim")


@pytest.fixture(scope="module")
def gradcheck(ref):
    return submodule(ref, "gradcheck")


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture(scope="module")
def digits(nn):
    return nn.load_digits()


def _blobs(n=100, features=4, classes=3, seed=0):
    """A small classification problem: Gaussian clouds around random centres."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    centres = 2 * rng.standard_normal((classes, features))
    return centres[y] + rng.standard_normal((n, features)), y


def _inputs(rng, n: int, features: int, layout: str) -> np.ndarray:
    """An (n, features) input: C-ordered, a transposed view or a strided view (both not C-contiguous)."""
    if layout == "transposed":
        return rng.standard_normal((features, n)).T
    if layout == "strided":
        return rng.standard_normal((n, 2 * features))[:, ::2]
    return rng.standard_normal((n, features))


LAYOUTS = [("C", 5), ("transposed", 5), ("strided", 5), ("C", 1)]
LAYOUT_IDS = [f"{layout}-N={n}" for layout, n in LAYOUTS]


# ---------------------------------------------------------------------------------------------- gradients


def _check_module(gradcheck, module, x, rng) -> dict[str, float]:
    """Relative errors of the analytic gradients of L = sum(module(x) * dout): dx and every parameter's."""
    dout = rng.standard_normal(module(x).shape)

    def loss_at_x(x_):
        return float(np.sum(module(x_) * dout))

    module(x)
    dx = module.backward(dout)
    analytic = {name: g.copy() for name, g in module.grads().items()}
    errors = {"x": gradcheck.relative_error(dx, gradcheck.numerical_gradient(loss_at_x, x))}
    for name, param in module.parameters().items():
        def loss_at_param(value, param=param):
            saved = param.copy()
            param[...] = value
            try:
                return loss_at_x(x)
            finally:
                param[...] = saved

        errors[name] = gradcheck.relative_error(analytic[name], gradcheck.numerical_gradient(loss_at_param, param))
    return errors


@pytest.mark.parametrize("layout, n", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("bias", [True, False])
def test_linear_backward_matches_numerical_gradients(nn, gradcheck, layout, n, bias):
    rng = np.random.default_rng(1)
    layer = nn.Linear(4, 3, bias=bias, rng=rng)
    errors = _check_module(gradcheck, layer, _inputs(rng, n, 4, layout), rng)
    assert set(errors) == ({"x", "weight", "bias"} if bias else {"x", "weight"})
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("layout, n", LAYOUTS, ids=LAYOUT_IDS)
def test_relu_backward_matches_numerical_gradients(nn, gradcheck, layout, n):
    rng = np.random.default_rng(2)
    x = _inputs(rng, n, 6, layout)
    x[np.abs(x) < 1e-3] = 0.5  # no entry within h of the kink, where the centred difference is not a derivative
    errors = _check_module(gradcheck, nn.ReLU(), x, rng)
    assert errors["x"] < 1e-7, errors


def test_relu_derivative_is_zero_at_zero_as_in_torch(nn):
    relu = nn.ReLU()
    relu(np.array([[-1.0, 0.0, 2.0]]))
    assert np.array_equal(relu.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


@pytest.mark.parametrize("layout, n", LAYOUTS, ids=LAYOUT_IDS)
def test_tanh_backward_matches_numerical_gradients(nn, gradcheck, layout, n):
    rng = np.random.default_rng(3)
    errors = _check_module(gradcheck, nn.Tanh(), _inputs(rng, n, 6, layout), rng)
    assert errors["x"] < 1e-7, errors


@pytest.mark.parametrize("layout, n", LAYOUTS, ids=LAYOUT_IDS)
def test_mlp_backward_matches_numerical_gradients_for_every_parameter(nn, gradcheck, layout, n):
    rng = np.random.default_rng(4)
    model = nn.Sequential(nn.Linear(5, 7, rng=rng), nn.Tanh(), nn.Linear(7, 6, rng=rng), nn.ReLU(),
                          nn.Linear(6, 3, rng=rng))
    errors = _check_module(gradcheck, model, _inputs(rng, n, 5, layout), rng)
    assert set(errors) == {"x", "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}
    assert max(errors.values()) < 1e-7, errors


@pytest.mark.parametrize("layout, n", LAYOUTS, ids=LAYOUT_IDS)
def test_cross_entropy_backward_matches_numerical_gradients(nn, gradcheck, layout, n):
    rng = np.random.default_rng(5)
    # logits of order 1: no probability so small that the centred difference's rounding (about 1e-11) would be a
    # large part of its gradient entry
    logits, target = _inputs(rng, n, 4, layout), rng.integers(0, 4, n)
    loss = nn.CrossEntropyLoss()

    loss(logits, target)
    dlogits = loss.backward()
    numerical = gradcheck.numerical_gradient(lambda z: loss(z, target), logits)
    assert dlogits.shape == logits.shape
    assert gradcheck.relative_error(dlogits, numerical) < 1e-7


def test_cross_entropy_is_the_mean_negative_log_softmax_and_stable_for_large_logits(nn):
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    target = np.array([1, 0])
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = -np.mean(np.log(p[[0, 1], target]))
    loss = nn.CrossEntropyLoss()
    assert abs(loss(logits, target) - expected) < 1e-15
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow on the way
        big = loss(logits + 1000.0, target)
        dbig = loss.backward()
    assert abs(big - expected) < 1e-12
    assert np.allclose(dbig, (p - np.eye(3)[target]) / 2, rtol=0, atol=1e-15)
    assert isinstance(loss(logits, target), float)


def test_accuracy_counts_the_rows_whose_largest_logit_is_the_label(nn):
    logits = np.array([[1.0, 2.0], [3.0, 0.0], [0.0, 0.0], [-1.0, -2.0]])
    assert nn.accuracy(logits, np.array([1, 0, 1, 1])) == 0.5  # the tie in row 2 goes to class 0
    assert nn.accuracy(logits, np.array([1, 0, 0, 0])) == 1.0


# ---------------------------------------------------------------------------------------------- torch


def _torch_model(torch, model):
    """The torch.nn.Sequential with the same layers as ``model``, its weights loaded from our parameters."""
    layers = []
    for layer in model:
        if type(layer).__name__ == "Linear":
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                                          dtype=torch.float64))
        else:
            layers.append(getattr(torch.nn, type(layer).__name__)())
    tmodel = torch.nn.Sequential(*layers)
    tmodel.load_state_dict({name: torch.tensor(p) for name, p in model.parameters().items()})
    return tmodel


def _max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - b.detach().numpy())))


@pytest.mark.parametrize("layout, n", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("name", ["Linear", "Linear-no-bias", "ReLU", "Tanh"])
def test_each_layer_gives_torchs_output_and_gradients(torch, nn, name, layout, n):
    rng = np.random.default_rng(6)
    if name.startswith("Linear"):
        layer = nn.Linear(4, 3, bias=name == "Linear", rng=rng)
        tlayer = torch.nn.Linear(4, 3, bias=name == "Linear", dtype=torch.float64)
        tlayer.load_state_dict({k: torch.tensor(v) for k, v in layer.parameters().items()})
    else:
        layer, tlayer = getattr(nn, name)(), getattr(torch.nn, name)()
    x = _inputs(rng, n, 4, layout)
    tx = torch.tensor(x, requires_grad=True)
    out, tout = layer(x), tlayer(tx)
    dout = rng.standard_normal(out.shape)
    tout.backward(torch.tensor(dout))
    assert out.dtype == np.float64 and _max_diff(out, tout) <= 1e-12
    assert _max_diff(layer.backward(dout), tx.grad) <= 1e-12
    tparams = dict(tlayer.named_parameters())
    assert set(layer.grads()) == set(tparams)
    for key, grad in layer.grads().items():
        assert _max_diff(grad, tparams[key].grad) <= 1e-12, key


@pytest.mark.parametrize("layout, n", LAYOUTS, ids=LAYOUT_IDS)
def test_an_mlp_with_its_loss_gives_torchs_loss_and_every_gradient(torch, nn, layout, n):
    rng = np.random.default_rng(7)
    model = nn.Sequential(nn.Linear(5, 8, rng=rng), nn.Tanh(), nn.Linear(8, 7, rng=rng), nn.ReLU(),
                          nn.Linear(7, 4, rng=rng))
    tmodel = _torch_model(torch, model)
    x, target = _inputs(rng, n, 5, layout), rng.integers(0, 4, n)
    loss_fn = nn.CrossEntropyLoss()
    loss = loss_fn(model(x), target)
    dx = model.backward(loss_fn.backward())
    tx = torch.tensor(x, requires_grad=True)
    tlogits = tmodel(tx)
    tlogits.retain_grad()
    tloss = torch.nn.CrossEntropyLoss()(tlogits, torch.tensor(target))
    tloss.backward()
    assert abs(loss - tloss.item()) <= 1e-12
    assert _max_diff(loss_fn.backward(), tlogits.grad) <= 1e-12
    assert _max_diff(dx, tx.grad) <= 1e-12
    tparams = dict(tmodel.named_parameters())
    assert list(model.grads()) == list(tparams)
    for key, grad in model.grads().items():
        assert _max_diff(grad, tparams[key].grad) <= 1e-12, key


def test_cross_entropy_gives_torchs_numbers_for_extreme_logits(torch, nn):
    rng = np.random.default_rng(8)
    logits, target = 500 * rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    tlogits = torch.tensor(logits, requires_grad=True)
    tloss = torch.nn.CrossEntropyLoss()(tlogits, torch.tensor(target))
    tloss.backward()
    loss_fn = nn.CrossEntropyLoss()
    assert abs(loss_fn(logits, target) - tloss.item()) <= 1e-12 * abs(tloss.item())
    assert _max_diff(loss_fn.backward(), tlogits.grad) <= 1e-12


def test_parameter_names_are_torchs_state_dict_keys(torch, nn):
    model = nn.mlp([6, 5, 4, 3], rng=np.random.default_rng(0), activation=nn.Tanh)
    tmodel = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 4), torch.nn.Tanh(),
                                 torch.nn.Linear(4, 3))
    assert list(model.parameters()) == list(tmodel.state_dict())
    assert {k: v.shape for k, v in model.parameters().items()} == {k: tuple(v.shape)
                                                                   for k, v in tmodel.state_dict().items()}


def test_initialization_follows_torchs_distribution(torch, nn):
    """torch draws weight and bias uniformly from +-1/sqrt(in_features); so do we (with our own generator)."""
    in_features, out_features = 256, 200
    bound = 1 / np.sqrt(in_features)
    ours = nn.Linear(in_features, out_features, rng=np.random.default_rng(0))
    torch.manual_seed(0)
    theirs = torch.nn.Linear(in_features, out_features, dtype=torch.float64)
    for name in ("weight", "bias"):
        a, b = getattr(ours, name), getattr(theirs, name).detach().numpy()
        assert a.shape == b.shape and a.dtype == np.float64
        assert np.abs(a).max() <= bound and np.abs(b).max() <= bound
        assert np.abs(a).max() > 0.98 * bound and np.abs(b).max() > 0.98 * bound  # the whole interval is used
        # uniform on [-bound, bound]: mean 0, standard deviation bound / sqrt(3)
        tolerance = 0.02 if name == "weight" else 0.15  # 51200 samples of the weight, 200 of the bias
        for values in (a, b):
            assert abs(values.std() / (bound / np.sqrt(3)) - 1) < tolerance
        assert abs(a.mean()) < 4 * bound / np.sqrt(3 * a.size)


def test_the_same_seed_gives_the_same_weights_and_another_seed_others(nn):
    first, again = (nn.mlp([8, 6, 3], rng=np.random.default_rng(42)) for _ in range(2))
    other = nn.mlp([8, 6, 3], rng=np.random.default_rng(43))
    for name, p in first.parameters().items():
        assert np.array_equal(p, again.parameters()[name])
        assert not np.array_equal(p, other.parameters()[name])


def test_fit_follows_torchs_training_loop_step_by_step(torch, nn, optim, ref):
    """Two epochs of SGD with momentum, the same batches: the same parameters as torch after every epoch."""
    data = submodule(ref, "data")
    X, y = _blobs(n=70)
    model = nn.mlp([4, 16, 3], rng=np.random.default_rng(1))
    tmodel = _torch_model(torch, model)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    rng, trng = np.random.default_rng(2), np.random.default_rng(2)
    tX, ty = torch.tensor(X), torch.tensor(y)
    for _ in range(2):
        history = nn.fit(model, opt, X, y, epochs=1, batch_size=16, rng=rng)
        losses = []
        for batch in data.minibatches(len(X), 16, rng=trng):
            topt.zero_grad()
            tloss = torch.nn.functional.cross_entropy(tmodel(tX[batch]), ty[batch])
            tloss.backward()
            topt.step()
            losses.append(tloss.item())
        assert np.max(np.abs(np.array(history.batch_loss) - losses)) <= 1e-12
        for name, tparam in tmodel.named_parameters():
            assert _max_diff(model.parameters()[name], tparam) <= 1e-12, name


# ---------------------------------------------------------------------------------------------- contracts


def test_parameters_and_grads_have_the_same_names_shapes_and_stay_the_same_arrays(nn):
    rng = np.random.default_rng(9)
    model = nn.mlp([64, 128, 10], rng=rng)
    params, grads = model.parameters(), model.grads()
    assert list(params) == ["0.weight", "0.bias", "2.weight", "2.bias"] == list(grads)
    assert {k: p.shape for k, p in params.items()} == {"0.weight": (128, 64), "0.bias": (128,),
                                                       "2.weight": (10, 128), "2.bias": (10,)}
    assert all(g.shape == params[k].shape and g.dtype == np.float64 and not g.any() for k, g in grads.items())
    assert params["0.weight"] is model[0].weight and params["2.bias"] is model[2].bias
    loss_fn = nn.CrossEntropyLoss()
    x, target = rng.random((8, 64)), rng.integers(0, 10, 8)
    loss_fn(model(x), target)
    model.backward(loss_fn.backward())
    first = {k: g.copy() for k, g in model.grads().items()}
    assert all(first[k].any() for k in first)
    loss_fn(model(x), target)
    model.backward(loss_fn.backward())  # each backward replaces the gradients (torch would add them up)
    assert all(np.array_equal(g, first[k]) for k, g in model.grads().items())
    assert all(model.parameters()[k] is p for k, p in params.items())
    assert all(model.grads()[k] is g for k, g in grads.items())
    model.zero_grad()
    assert not any(g.any() for g in model.grads().values())
    assert all(model.grads()[k] is g for k, g in grads.items())


def test_an_optimizer_updates_the_model_through_its_parameters(nn, optim):
    model = nn.mlp([3, 4, 2], rng=np.random.default_rng(10))
    before = {k: p.copy() for k, p in model.parameters().items()}
    opt = optim.SGD(model.parameters(), lr=0.5)
    loss_fn = nn.CrossEntropyLoss()
    x, target = np.random.default_rng(11).random((5, 3)), np.array([0, 1, 1, 0, 1])
    loss_fn(model(x), target)
    model.backward(loss_fn.backward())
    opt.step(model.grads())
    for k, p in model.parameters().items():
        assert np.array_equal(p, before[k] - 0.5 * model.grads()[k])
    assert np.array_equal(model[2].weight, model.parameters()["2.weight"])


def test_train_and_eval_reach_every_child_and_return_the_module(nn):
    rng = np.random.default_rng(12)
    inner = nn.Sequential(nn.Linear(3, 3, rng=rng), nn.ReLU())
    model = nn.Sequential(inner, nn.Tanh(), nn.Linear(3, 2, rng=rng))
    everything = [model, inner, inner[0], inner[1], model[1], model[2]]
    assert all(m.training for m in everything)
    assert model.eval() is model
    assert not any(m.training for m in everything)
    assert model.train() is model and all(m.training for m in everything)
    assert model.train(False) is model and not any(m.training for m in everything)
    assert list(model.parameters()) == ["0.0.weight", "0.0.bias", "2.weight", "2.bias"]
    with pytest.raises(ValueError, match="True or False"):
        model.train("no")


def test_sequential_indexes_slices_and_prints_like_torch(nn):
    model = nn.mlp([64, 128, 10], rng=np.random.default_rng(13))
    assert len(model) == 3 and [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert model[-1] is model[2] and model[0].weight.shape == (128, 64)
    head = model[1:]
    assert len(head) == 2 and list(head.parameters()) == ["2.weight", "2.bias"]
    assert head.parameters()["2.weight"] is model[2].weight
    assert repr(model) == ("Sequential(\n  (0): Linear(in_features=64, out_features=128, bias=True)\n  (1): ReLU()\n"
                           "  (2): Linear(in_features=128, out_features=10, bias=True)\n)")


def test_mlp_puts_an_activation_between_linear_layers_only(nn):
    model = nn.mlp([4, 8, 8, 2], rng=np.random.default_rng(14), activation=nn.Tanh)
    assert [type(m).__name__ for m in model] == ["Linear", "Tanh", "Linear", "Tanh", "Linear"]
    assert [(m.in_features, m.out_features) for m in model if type(m).__name__ == "Linear"] == [(4, 8), (8, 8),
                                                                                                (8, 2)]
    assert model[1] is not model[3]
    with pytest.raises(ValueError, match="at least"):
        nn.mlp([4], rng=np.random.default_rng(0))


def test_float32_layers_compute_and_differentiate_in_float32(nn):
    model64 = nn.mlp([5, 6, 3], rng=np.random.default_rng(15))
    model32 = nn.mlp([5, 6, 3], rng=np.random.default_rng(15), dtype=np.float32)
    x, target = np.random.default_rng(16).random((4, 5)), np.array([0, 2, 1, 2])
    assert all(p.dtype == np.float32 for p in model32.parameters().values())
    for k, p in model32.parameters().items():
        assert np.array_equal(p, model64.parameters()[k].astype(np.float32))
    loss_fn = nn.CrossEntropyLoss()
    out = model32(x)  # a float64 input is converted to the layer's dtype
    assert out.dtype == np.float32
    loss_fn(out, target)
    dlogits = loss_fn.backward()
    dx = model32.backward(dlogits)
    assert dlogits.dtype == np.float32 and dx.dtype == np.float32
    assert all(g.dtype == np.float32 for g in model32.grads().values())
    loss_fn(model64(x), target)
    model64.backward(loss_fn.backward())
    for k, g in model32.grads().items():
        assert np.allclose(g, model64.grads()[k], rtol=1e-4, atol=1e-6), k


def test_mistakes_are_refused_with_a_clear_message(nn):
    rng = np.random.default_rng(17)
    layer = nn.Linear(4, 3, rng=rng)
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="before forward"):
        nn.CrossEntropyLoss().backward()
    with pytest.raises(ValueError, match=r"shape \(N, 4\), got \(2, 5\)"):
        layer(np.ones((2, 5)))
    layer(np.ones((2, 4)))
    with pytest.raises(ValueError, match="dout"):
        layer.backward(np.ones((2, 4)))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 3, rng=rng)
    with pytest.raises(TypeError, match=r"the class ReLU: pass an instance, ReLU\(...\)"):
        nn.Sequential(nn.Linear(2, 2, rng=rng), nn.ReLU)
    loss_fn = nn.CrossEntropyLoss()
    with pytest.raises(TypeError, match="integer class labels"):
        loss_fn(np.zeros((2, 3)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        loss_fn(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="one label per row"):
        nn.accuracy(np.zeros((2, 3)), np.array([0, 1, 2]))


# ---------------------------------------------------------------------------------------------- fit


class RecordingScheduler:
    """A stand-in for the schedules of unit 05: each step halves ``optimizer.lr``; the calls are recorded."""

    def __init__(self, optimizer, needs_metric=False):
        self.optimizer, self.needs_metric, self.calls = optimizer, needs_metric, []

    def step(self, *metric):
        self.calls.append(metric)
        self.optimizer.lr *= 0.5


def _setup(nn, optim, seed=0, lr=0.1, **kwargs):
    model = nn.mlp([4, 16, 3], rng=np.random.default_rng(seed))
    return model, optim.SGD(model.parameters(), lr=lr, **kwargs)


def test_fit_records_one_value_per_epoch_and_per_batch(nn, optim, ref):
    data = submodule(ref, "data")
    X, y = _blobs(n=100)  # batches of 32: 4 per epoch, the last one of 4 samples
    model, opt = _setup(nn, optim)
    twin, _ = _setup(nn, optim)  # the same initial weights, to compute the first loss independently
    history = nn.fit(model, opt, X, y, epochs=3, batch_size=32, rng=np.random.default_rng(1), validation=(X, y))
    assert len(history.train_loss) == len(history.train_acc) == len(history.val_loss) == len(history.val_acc) == 3
    assert len(history.lr) == len(history.epoch_time) == 3 and all(t > 0 for t in history.epoch_time)
    assert len(history.batch_loss) == len(history.batch_lr) == 12 and not history.diverged
    for epoch in range(3):
        assert history.train_loss[epoch] == pytest.approx(np.mean(history.batch_loss[4 * epoch:4 * epoch + 4]),
                                                          rel=1e-15)
    first_batch = next(data.minibatches(100, 32, rng=np.random.default_rng(1)))
    assert history.batch_loss[0] == nn.CrossEntropyLoss()(twin(X[first_batch]), y[first_batch])
    assert history.val_loss[-1] == nn.CrossEntropyLoss()(model(X), y)  # after the last epoch, in eval mode
    assert history.val_acc[-1] == nn.accuracy(model(X), y)
    assert model.training  # back in training mode after the validation
    assert history.batch_lr == [0.1] * 12 and history.lr == [0.1] * 3
    assert history.train_loss[-1] < history.train_loss[0]

    quiet = nn.fit(model, opt, X, y, epochs=2, batch_size=50, rng=np.random.default_rng(1))
    assert len(quiet.train_loss) == 2 and len(quiet.batch_loss) == 4
    assert quiet.val_loss == [] and quiet.val_acc == []


def test_validation_runs_in_eval_mode(nn, optim):
    modes = []

    class ModeSpy(nn.Module):
        """An identity layer that records the mode of each forward pass."""

        def forward(self, x):
            modes.append(self.training)
            return x

        def backward(self, dout):
            return dout

    X, y = _blobs(n=40)
    model = nn.Sequential(nn.Linear(4, 3, rng=np.random.default_rng(0)), ModeSpy())
    nn.fit(model, optim.SGD(model.parameters(), lr=0.1), X, y, epochs=2, batch_size=20,
           rng=np.random.default_rng(0), validation=(X, y))
    assert modes == [True, True, False, True, True, False]


@pytest.mark.parametrize("when", ["epoch", "batch"])
def test_the_scheduler_steps_after_each_epoch_or_each_batch(nn, optim, when):
    X, y = _blobs(n=100)
    model, opt = _setup(nn, optim, lr=0.8)
    scheduler = RecordingScheduler(opt)
    history = nn.fit(model, opt, X, y, epochs=3, batch_size=32, rng=np.random.default_rng(1),
                     scheduler=scheduler, scheduler_step=when)
    if when == "epoch":
        assert scheduler.calls == [()] * 3
        assert history.lr == [0.8, 0.4, 0.2] and history.batch_lr == [0.8] * 4 + [0.4] * 4 + [0.2] * 4
    else:
        assert scheduler.calls == [()] * 12
        assert history.batch_lr == [0.8 * 0.5**k for k in range(12)]  # the first batch uses the initial lr
        assert history.lr == history.batch_lr[::4]
    assert opt.lr == 0.8 * 0.5 ** len(scheduler.calls)


def test_a_scheduler_that_needs_a_metric_gets_the_validation_loss_once_per_epoch(nn, optim):
    X, y = _blobs(n=100)
    model, opt = _setup(nn, optim)
    scheduler = RecordingScheduler(opt, needs_metric=True)
    history = nn.fit(model, opt, X, y, epochs=3, batch_size=32, rng=np.random.default_rng(1),
                     scheduler=scheduler, validation=(X[:30], y[:30]))
    assert scheduler.calls == [(v,) for v in history.val_loss] and len(scheduler.calls) == 3
    with pytest.raises(ValueError, match="validation"):
        nn.fit(model, opt, X, y, epochs=1, batch_size=32, rng=np.random.default_rng(1), scheduler=scheduler)
    with pytest.raises(ValueError, match="once per epoch"):
        nn.fit(model, opt, X, y, epochs=1, batch_size=32, rng=np.random.default_rng(1), scheduler=scheduler,
               scheduler_step="batch", validation=(X, y))
    with pytest.raises(ValueError, match="scheduler_step"):
        nn.fit(model, opt, X, y, epochs=1, batch_size=32, rng=np.random.default_rng(1),
               scheduler=RecordingScheduler(opt), scheduler_step="step")
    assert len(scheduler.calls) == 3  # the refused calls trained nothing


def test_a_diverging_run_stops_cleanly_and_says_so(nn, optim):
    X, y = _blobs(n=100)
    model, opt = _setup(nn, optim, lr=1e6, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings escape
        history = nn.fit(model, opt, X, y, epochs=50, batch_size=32, rng=np.random.default_rng(1),
                         validation=(X, y))
    assert history.diverged
    epochs = len(history.train_loss)
    assert 1 <= epochs < 50 and len(history.lr) == len(history.epoch_time) == epochs
    assert len(history.val_loss) == epochs - 1  # the epoch that diverged has no validation
    assert len(history.batch_loss) == len(history.batch_lr) and len(history.batch_loss) < 4 * epochs + 1
    assert not np.isfinite(history.batch_loss[-1]) and np.all(np.isfinite(history.batch_loss[:-1]))
    assert all(np.all(np.isfinite(p)) for p in model.parameters().values())  # no step on the non-finite loss


def test_fit_is_quiet_outside_a_kernel_and_shows_a_bar_when_asked(nn, optim, monkeypatch, capfd):
    X, y = _blobs(n=40)
    model, opt = _setup(nn, optim)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    nn.fit(model, opt, X, y, epochs=2, batch_size=16, rng=np.random.default_rng(0), validation=(X, y))
    assert capfd.readouterr() == ("", "")
    nn.fit(model, opt, X, y, epochs=2, batch_size=16, rng=np.random.default_rng(0), validation=(X, y),
           progress=False)
    assert capfd.readouterr() == ("", "")
    nn.fit(model, opt, X, y, epochs=2, batch_size=16, rng=np.random.default_rng(0), validation=(X, y),
           progress=True)
    shown = capfd.readouterr().err
    assert "2/2" in shown and "val_acc" in shown
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))  # as inside a Jupyter kernel
    nn.fit(model, opt, X, y, epochs=2, batch_size=16, rng=np.random.default_rng(0))
    assert "2/2" in capfd.readouterr().err


def test_the_same_seeds_give_the_same_run(nn, optim):
    X, y = _blobs(n=100)
    runs = []
    for batch_seed in (3, 3, 4):
        model, opt = _setup(nn, optim, seed=5, momentum=0.9)
        history = nn.fit(model, opt, X, y, epochs=2, batch_size=16, rng=np.random.default_rng(batch_seed),
                         validation=(X, y))
        runs.append((history.batch_loss, history.val_loss, model.parameters()))
    (loss_a, val_a, params_a), (loss_b, val_b, params_b), (loss_c, _, params_c) = runs
    assert loss_a == loss_b and val_a == val_b
    assert all(np.array_equal(p, params_b[k]) for k, p in params_a.items())
    assert loss_a != loss_c and not np.array_equal(params_a["0.weight"], params_c["0.weight"])


# ---------------------------------------------------------------------------------------------- training_steps


def test_training_steps_cycle_through_the_minibatches_epoch_after_epoch(nn, optim, ref):
    data = submodule(ref, "data")
    X, y = _blobs(n=100)  # 4 batches of 32 per epoch
    model, opt = _setup(nn, optim)
    step = nn.training_steps(model, opt, X, y, batch_size=32, rng=np.random.default_rng(6))
    losses = [step(0.0) for _ in range(10)]  # lr = 0 leaves the model as it is: 2.5 epochs of one model's losses
    order = np.random.default_rng(6)
    batches = [b for _ in range(3) for b in data.minibatches(100, 32, rng=order)]
    loss_fn = nn.CrossEntropyLoss()
    assert losses == [loss_fn(model(X[b]), y[b]) for b in batches[:10]]
    assert all(type(loss) is float for loss in losses)

    before = {k: p.copy() for k, p in model.parameters().items()}
    expected = loss_fn(model(X[batches[10]]), y[batches[10]])  # the third batch of the third epoch
    assert step(0.5) == expected  # the loss before the step
    assert opt.lr == 0.5
    assert all(not np.array_equal(p, before[k]) for k, p in model.parameters().items())


# ---------------------------------------------------------------------------------------------- sanity

OPTIMIZERS_UNDER_TEST = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("Adam", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01)),
]


OPTIMIZER_IDS = [f"{n}({', '.join(f'{k}={v}' for k, v in kw.items())})" for n, kw in OPTIMIZERS_UNDER_TEST]


@pytest.mark.parametrize("name, kwargs", OPTIMIZERS_UNDER_TEST, ids=OPTIMIZER_IDS)
def test_every_optimizer_trains_the_model(nn, optim, name, kwargs):
    X, y = _blobs(n=120, seed=1)
    model = nn.mlp([4, 16, 3], rng=np.random.default_rng(2))
    history = nn.fit(model, getattr(optim, name)(model.parameters(), **kwargs), X, y, epochs=15, batch_size=20,
                     rng=np.random.default_rng(3))
    assert not history.diverged
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]


def test_digits_are_split_stratified_scaled_and_reproducibly(nn, digits):
    from sklearn.datasets import load_digits

    everything = load_digits()
    counts = np.bincount(everything.target)
    assert [len(digits.y_train), len(digits.y_val), len(digits.y_test)] == [1079, 359, 359]
    for X, labels in ((digits.X_train, digits.y_train), (digits.X_val, digits.y_val),
                      (digits.X_test, digits.y_test)):
        assert X.shape == (len(labels), 64) and X.dtype == np.float64 and labels.dtype == np.int64
        assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(np.bincount(digits.y_test), np.round(0.2 * counts))  # each digit in its proportion
    assert np.array_equal(np.bincount(digits.y_val), np.round(0.2 * counts))
    # together, the three sets are the whole data set (as a multiset of rows), scaled by 1/16
    rows = np.concatenate([digits.X_train, digits.X_val, digits.X_test]) * 16
    labels = np.concatenate([digits.y_train, digits.y_val, digits.y_test])
    ours = np.column_stack([rows, labels])
    theirs = np.column_stack([everything.data, everything.target])
    assert np.array_equal(ours[np.lexsort(ours.T)], theirs[np.lexsort(theirs.T)])
    assert not np.array_equal(digits.y_train[:50], np.sort(digits.y_train[:50]))  # shuffled, not by digit
    again, other = nn.load_digits(0), nn.load_digits(1, dtype=np.float32)
    assert np.array_equal(again.X_test, digits.X_test) and np.array_equal(again.y_train, digits.y_train)
    assert not np.array_equal(other.X_test, digits.X_test) and other.X_train.dtype == np.float32
    assert repr(digits) == "Split(train 1079, val 359, test 359; 64 features, 10 classes)"


def test_the_mlp_reaches_96_percent_test_accuracy_on_the_digits(nn, optim):
    """64-128-10 with ReLU, SGD(lr=0.2, momentum=0.9), batches of 32, 20 epochs, on three splits.

    lr = 0.2 is the best of 0.05, 0.1, 0.2, 0.3 and 0.5 by *validation* accuracy on each of the three splits
    (mean over 5 initializations: 0.987, 0.978, 0.976); the test sets were not used to choose it. Test accuracy
    over those 5 initializations: 0.961-0.969 on split 0, 0.978-0.983 on split 1, 0.975-0.986 on split 2. About
    0.3 s a run.
    """
    for seed in (0, 1, 2):
        split = nn.load_digits(seed)
        rng = np.random.default_rng(seed)
        model = nn.mlp([64, 128, 10], rng=rng)
        history = nn.fit(model, optim.SGD(model.parameters(), lr=0.2, momentum=0.9), split.X_train, split.y_train,
                         epochs=20, batch_size=32, rng=rng, validation=(split.X_val, split.y_val))
        model.eval()
        assert history.val_acc[-1] >= 0.97, (seed, history.val_acc)
        assert nn.accuracy(model(split.X_test), split.y_test) >= 0.96, seed


# ------------------------------------------------------------------------- the layers of units 06 and 07


def _torch_layers(torch, model):
    """torch.nn.Sequential with model's layers (Linear, BatchNorm1d, activations) and its parameters and buffers."""
    layers = []
    for layer in model:
        kind = type(layer).__name__
        if kind == "Linear":
            layers.append(torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64))
        elif kind == "BatchNorm1d":
            layers.append(torch.nn.BatchNorm1d(layer.num_features, eps=layer.eps, momentum=layer.momentum,
                                               dtype=torch.float64))
        else:
            layers.append(getattr(torch.nn, kind)())
    tmodel = torch.nn.Sequential(*layers)
    state = {name: torch.tensor(a) for name, a in {**model.parameters(), **model.buffers()}.items()}
    missing = tmodel.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys and all(k.endswith("num_batches_tracked") for k in missing.missing_keys)
    return tmodel


@pytest.mark.parametrize("eps, momentum", [(1e-5, 0.1), (0.1, 0.5)])
def test_a_network_with_batch_norm_trains_like_torchs_batch_after_batch(torch, nn, optim, eps, momentum):
    """Three SGD steps on batches of 6, then evaluation: the same losses, gradients, running statistics and
    evaluation outputs as torch.nn.BatchNorm1d, to 1e-12."""
    rng = np.random.default_rng(30)
    model = nn.Sequential(nn.Linear(5, 7, rng=rng), nn.BatchNorm1d(7, eps=eps, momentum=momentum), nn.ReLU(),
                          nn.Linear(7, 3, rng=rng))
    model[1].weight[...] = rng.uniform(0.5, 2, 7)
    model[1].bias[...] = rng.standard_normal(7)
    tmodel = _torch_layers(torch, model)
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(3):
        x, target = 3 * rng.standard_normal((6, 5)) + 1, rng.integers(0, 3, 6)
        loss = loss_fn(model(x), target)
        model.backward(loss_fn.backward())
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(target))
        tloss.backward()
        assert abs(loss - tloss.item()) <= 1e-12
        tparams = dict(tmodel.named_parameters())
        for name, grad in model.grads().items():
            assert _max_diff(grad, tparams[name].grad) <= 1e-12, name
        opt.step(model.grads())
        topt.step()
    tbuffers = dict(tmodel.named_buffers())
    assert list(model.buffers()) == ["1.running_mean", "1.running_var"]
    for name, buffer in model.buffers().items():
        assert _max_diff(buffer, tbuffers[name]) <= 1e-12, name
    assert model[1].num_batches_tracked == int(tbuffers["1.num_batches_tracked"]) == 3
    model.eval(), tmodel.eval()
    x = rng.standard_normal((4, 5))
    assert _max_diff(model(x), tmodel(torch.tensor(x))) <= 1e-12
    for name, buffer in model.buffers().items():  # evaluation leaves the running statistics alone
        assert _max_diff(buffer, tbuffers[name]) <= 1e-12, name


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_backward_matches_numerical_gradients_in_both_modes(nn, gradcheck, training):
    rng = np.random.default_rng(31)
    layer = nn.BatchNorm1d(4, eps=0.1)
    layer.weight[...], layer.bias[...] = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    layer.running_mean[...], layer.running_var[...] = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    layer.momentum = 0.0  # the numerical gradient calls forward many times; the statistics must not drift
    layer.train(training)
    errors = _check_module(gradcheck, layer, rng.standard_normal((5, 4)), rng)
    assert set(errors) == {"x", "weight", "bias"}
    assert max(errors.values()) < 1e-7, errors


def test_batch_norm_refuses_a_batch_of_one_in_training_but_not_in_evaluation(nn):
    layer = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        layer(np.ones((1, 3)))
    assert layer.num_batches_tracked == 0 and not layer.running_mean.any()
    assert layer.eval()(np.ones((1, 3))).shape == (1, 3)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm1d(3, momentum=None)
    with pytest.raises(ValueError, match=r"\(N, 3\)"):
        layer(np.ones((4, 2)))


def test_dropout_uses_one_mask_for_forward_and_backward_and_is_the_identity_in_evaluation(nn):
    x = np.random.default_rng(32).uniform(1, 2, (200, 50))
    layer = nn.Dropout(0.3, rng=np.random.default_rng(33))
    y = layer(x)
    kept = y != 0
    assert 0.65 < kept.mean() < 0.75
    assert np.allclose(y[kept], x[kept] / 0.7, rtol=1e-15, atol=0)
    dout = np.random.default_rng(34).uniform(1, 2, x.shape)
    dx = layer.backward(dout)
    assert np.array_equal(dx != 0, kept) and np.allclose(dx[kept], dout[kept] / 0.7, rtol=1e-15, atol=0)
    assert not np.array_equal(layer(x) != 0, kept)  # a new forward, a new mask
    again = nn.Dropout(0.3, rng=np.random.default_rng(33))
    assert np.array_equal(again(x), y)  # the masks come from the rng alone
    layer.eval()
    assert np.array_equal(layer(x), x) and np.array_equal(layer.backward(dout), dout)
    assert not nn.Dropout(1.0, rng=np.random.default_rng(0))(x).any()
    for p in (-0.1, 1.5, True):
        with pytest.raises(ValueError, match="between 0 and 1"):
            nn.Dropout(p, rng=np.random.default_rng(0))


def test_mlp_places_batch_norm_before_and_dropout_after_each_hidden_activation(nn):
    model = nn.mlp([4, 8, 6, 2], rng=np.random.default_rng(35), batch_norm=True, dropout=0.25)
    assert [type(m).__name__ for m in model] == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear",
                                                 "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    assert list(model.parameters()) == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias",
                                        "5.weight", "5.bias", "8.weight", "8.bias"]
    assert list(model.buffers()) == ["1.running_mean", "1.running_var", "5.running_mean", "5.running_var"]
    assert model[3].p == 0.25 and model[1].num_features == 8 and model[5].num_features == 6
    model.eval()
    assert not any(m.training for m in model)
    assert nn.mlp([4, 8, 2], rng=np.random.default_rng(35)).buffers() == {}


def test_fit_with_early_stopping_stops_on_the_validation_loss_and_restores_the_best_epoch(nn, optim, ref):
    regularization = submodule(ref, "regularization")
    rng = np.random.default_rng(36)
    X, y = _blobs(n=60, features=10, seed=3)
    X_val, y_val = _blobs(n=60, features=10, seed=4)
    model = nn.mlp([10, 64, 3], rng=rng, batch_norm=True)
    stopper = regularization.EarlyStopping(patience=3)
    history = nn.fit(model, optim.SGD(model.parameters(), lr=0.5, momentum=0.9), X, y, epochs=200, batch_size=10,
                     rng=rng, validation=(X_val, y_val), early_stopping=stopper)
    best = int(np.argmin(history.val_loss))
    assert history.stopped_early and len(history.val_loss) == best + 1 + 3 < 200
    assert stopper.best_epoch == best
    # the model now holds the weights (and running statistics) of the best epoch: its validation loss is that one
    model.eval()
    assert abs(nn.CrossEntropyLoss()(model(X_val), y_val) - history.val_loss[best]) <= 1e-12
    with pytest.raises(ValueError, match="validation"):
        nn.fit(model, optim.SGD(model.parameters(), lr=0.1), X, y, epochs=1, batch_size=10, rng=rng,
               early_stopping=regularization.EarlyStopping(patience=3))
