"""Fine-tuning (unit 08, optimlab.finetune): the pretrained network, a new head, the optimizers of each strategy,
and their checks.

- the shipped weights: their sha256 is the JSON's, they load into the documented architecture in any dtype, a
  damaged or missing file is refused with a clear error, and the zero-shot accuracy on the digits is the recorded
  one (and well above chance);
- ``replace_head`` by its definition: deep copies of the body (equal values, no shared memory, the pretrained
  network unchanged), the head drawn from ``rng`` as ``nn.Linear`` draws it, in the old head's dtype;
- ``finetune_optimizer`` by its definition (which arrays, which rates, which class), and by what it does when
  trained with ``nn.fit``: a probe moves the head only, "full" moves everything, and one SGD step of
  "discriminative" moves each layer by its own rate times its gradient; the given ``Optimizers`` and
  ``few_shot``; and fine-tuning beats training from scratch with few labels;
- the engine's new cases (networks, optimizer classes) and observations (networks, optimizers, memory shared or
  not with the inputs);
- the self-checks: check data recorded here from the catalogue (``autograder/exercises/unit08_finetune.py``,
  read directly, so these tests do not depend on the unit being registered; ``record`` validates that every
  catalogued mistake is named), which the reference passes, the release's stubs fail, and independently written
  wrong implementations fail, with the classic mistake named where there is one.
"""

import copy
import hashlib
import json
import pickle
import shutil

import numpy as np
import pytest

from conftest import (SOLUTIONS, assert_stub_fails_with_its_own_error, assert_wrong_and_named, released,
                      solution_lines, submodule)


@pytest.fixture(scope="module")
def ft(ref):
    return submodule(ref, "finetune")


@pytest.fixture(scope="module")
def nn(ref):
    return submodule(ref, "nn")


@pytest.fixture(scope="module")
def optim(ref):
    return submodule(ref, "optim")


@pytest.fixture(scope="module")
def check(ref):
    return submodule(ref, "check")


@pytest.fixture(scope="module")
def digits(nn):
    return nn.load_digits(0)


PRETRAINED = SOLUTIONS / "optimlab" / "pretrained"
NAMES = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]


def _snapshot(model):
    return {k: v.copy() for k, v in model.parameters().items()}


def _same_values(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a)


def _shares_any(a, b) -> bool:
    return any(np.shares_memory(x, y) for x in a.parameters().values() for y in b.parameters().values())


# ====================================================================================== the pretrained network


def test_the_shipped_weights_have_the_recorded_hash_and_the_documented_arrays(ft):
    npz = PRETRAINED / "mnist8x8_mlp.npz"
    info = json.loads((PRETRAINED / "mnist8x8_mlp.json").read_text(encoding="utf-8"))
    assert hashlib.sha256(npz.read_bytes()).hexdigest() == info["sha256"] == ft.PRETRAINED_INFO["sha256"]
    with np.load(npz) as arrays:
        assert arrays.files == NAMES
        assert all(arrays[k].dtype == np.float32 for k in NAMES)
    assert ft.PRETRAINED_INFO["licence"] == "CC BY-SA 3.0" and "LeCun" in ft.PRETRAINED_INFO["attribution"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_load_pretrained_builds_the_documented_network_with_the_shipped_weights(ft, nn, dtype):
    model = ft.load_pretrained(dtype=dtype)
    assert isinstance(model, nn.Sequential) and [type(layer).__name__ for layer in model] == [
        "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [(layer.in_features, layer.out_features) for layer in model.layers[::2]] == [(64, 128), (128, 64),
                                                                                         (64, 10)]
    params = model.parameters()
    assert list(params) == NAMES
    with np.load(PRETRAINED / "mnist8x8_mlp.npz") as arrays:
        for name in NAMES:
            assert params[name].dtype == dtype and np.array_equal(params[name], arrays[name].astype(dtype))
    assert not _shares_any(model, ft.load_pretrained(dtype=dtype))  # a new network at every call


def test_the_zero_shot_accuracy_on_the_digits_is_the_recorded_one(ft, nn, digits):
    accuracy = nn.accuracy(ft.load_pretrained()(digits.X_test), digits.y_test)
    recorded = ft.PRETRAINED_INFO["accuracy"]["zero_shot_digits_test"]
    assert accuracy > 0.7 and abs(accuracy - recorded) < 1e-5


def _weights_file(tmp_path, arrays: dict, *, sha256=None):
    path = tmp_path / "net.npz"
    np.savez(path, **arrays)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if sha256 is None else sha256
    path.with_suffix(".json").write_text(json.dumps({"sha256": digest}), encoding="utf-8")
    return path


def test_load_pretrained_loads_another_file_and_refuses_a_damaged_or_missing_one(ft, nn, tmp_path):
    rng = np.random.default_rng(3)
    arrays = {k: v.astype(np.float32) for k, v in nn.mlp([64, 128, 64, 10], rng=rng).parameters().items()}
    path = _weights_file(tmp_path, arrays)
    assert _same_values({k: v.astype(np.float64) for k, v in arrays.items()}, ft.load_pretrained(path=path)
                        .parameters())
    damaged = tmp_path / "damaged.npz"
    shutil.copy(path, damaged)
    shutil.copy(path.with_suffix(".json"), damaged.with_suffix(".json"))
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))
    with pytest.raises(ValueError, match="damaged.*sha256"):
        ft.load_pretrained(path=damaged)
    with pytest.raises(FileNotFoundError, match="missing"):
        ft.load_pretrained(path=tmp_path / "nothing.npz")
    wrong = _weights_file(tmp_path, {"0.weight": arrays["0.weight"]})
    with pytest.raises(ValueError, match="holds the arrays"):
        ft.load_pretrained(path=wrong)


def test_from_scratch_is_the_same_architecture_with_fresh_weights(ft, nn):
    model = ft.from_scratch(7, rng=np.random.default_rng(4))
    expected = nn.mlp([64, 128, 64, 7], rng=np.random.default_rng(4))
    assert _same_values(model.parameters(), expected.parameters())


def test_few_shot_draws_per_class_examples_of_each_class_as_documented(ft):
    y = np.random.default_rng(0).integers(0, 4, size=200)
    picked = ft.few_shot(y, 5, np.random.default_rng(9))
    assert picked.dtype == np.int64 and len(picked) == 20 and len(set(picked.tolist())) == 20
    assert np.array_equal(np.bincount(y[picked], minlength=4), [5, 5, 5, 5])
    rng = np.random.default_rng(9)
    chosen = [rng.permutation(np.flatnonzero(y == c))[:5] for c in range(4)]
    assert np.array_equal(picked, rng.permutation(np.concatenate(chosen)))
    assert not np.array_equal(y[picked], np.sort(y[picked]))  # the classes are mixed
    with pytest.raises(ValueError, match="fewer than per_class"):
        ft.few_shot(y, 100, np.random.default_rng(0))
    with pytest.raises(ValueError, match="per_class"):
        ft.few_shot(y, 0, np.random.default_rng(0))


# ================================================================================================ replace_head


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_replace_head_copies_the_body_and_draws_a_new_head_from_rng(ft, nn, dtype):
    model = ft.load_pretrained(dtype=dtype)
    before = _snapshot(model)
    layers_before = list(model.layers)
    new = ft.replace_head(model, 3, rng=np.random.default_rng(7))
    assert _same_values(model.parameters(), before) and model.layers == layers_before  # the input is unchanged
    assert isinstance(new, nn.Sequential) and len(new) == 5 and not _shares_any(new, model)
    assert all(a is not b for a, b in zip(new.layers, model.layers))
    params = new.parameters()
    assert _same_values({k: params[k] for k in NAMES[:4]}, {k: before[k] for k in NAMES[:4]})
    head = nn.Linear(64, 3, rng=np.random.default_rng(7), dtype=dtype)
    assert isinstance(new[-1], nn.Linear) and (new[-1].in_features, new[-1].out_features) == (64, 3)
    assert _same_values({"4.weight": params["4.weight"], "4.bias": params["4.bias"]},
                        {"4.weight": head.weight, "4.bias": head.bias})
    x = np.random.default_rng(1).uniform(size=(6, 64))
    assert new(x).shape == (6, 3) and new(x).dtype == dtype
    features = model[:-1](x)  # the body computes what the pretrained body computes
    assert np.array_equal(new[:-1](x), features)
    new[0].weight += 1.0  # training the new network leaves the pretrained one alone
    assert _same_values(model.parameters(), before)


def test_replace_head_refuses_a_network_without_a_linear_head(ft, nn):
    rng = np.random.default_rng(0)
    with pytest.raises(TypeError, match="last layer"):
        ft.replace_head(nn.Sequential(nn.Linear(3, 2, rng=rng), nn.ReLU()), 2, rng=rng)
    with pytest.raises(TypeError, match="Sequential"):
        ft.replace_head(nn.Linear(3, 2, rng=rng), 2, rng=rng)
    with pytest.raises(TypeError, match="at least one layer"):
        ft.replace_head(nn.Sequential(), 2, rng=rng)


# ========================================================================================== finetune_optimizer


def test_full_is_one_optimizer_over_the_models_own_arrays(ft, optim):
    model = ft.load_pretrained()
    (opt,) = ft.finetune_optimizer(model, strategy="full", lr=0.01)
    params = model.parameters()
    assert type(opt) is optim.Adam and opt.lr == 0.01 and list(opt.params) == NAMES
    assert all(opt.params[k] is params[k] for k in NAMES)


def test_probe_is_one_optimizer_over_the_head_weight_and_bias(ft, optim):
    model = ft.load_pretrained()
    (opt,) = ft.finetune_optimizer(model, strategy="probe", lr=0.1, optimizer=optim.SGD)
    assert type(opt) is optim.SGD and opt.lr == 0.1 and list(opt.params) == ["4.weight", "4.bias"]
    assert all(opt.params[k] is model.parameters()[k] for k in opt.params)


@pytest.mark.parametrize("decay", [2.6, 2.0, 1.0])
def test_discriminative_divides_the_rate_by_decay_per_layer_below_the_head(ft, optim, decay):
    model = ft.load_pretrained()
    kwargs = {} if decay == 2.6 else {"decay": decay}
    opts = ft.finetune_optimizer(model, strategy="discriminative", lr=0.02, optimizer=optim.RMSprop, **kwargs)
    assert [list(o.params) for o in opts] == [NAMES[0:2], NAMES[2:4], NAMES[4:6]]
    assert all(type(o) is optim.RMSprop for o in opts)
    assert np.allclose([o.lr for o in opts], [0.02 / decay**2, 0.02 / decay, 0.02], rtol=1e-12)
    assert all(o.params[k] is model.parameters()[k] for o in opts for k in o.params)


def test_discriminative_counts_only_the_layers_with_parameters_on_a_deep_network(ft, nn, optim):
    model = nn.mlp([2] * 12, rng=np.random.default_rng(0))  # layers "0" to "20": "2" is a prefix of "20.weight"
    opts = ft.finetune_optimizer(model, strategy="discriminative", lr=1.0, decay=2.0, optimizer=optim.SGD)
    assert [list(o.params) for o in opts] == [[f"{2 * i}.weight", f"{2 * i}.bias"] for i in range(11)]
    assert [o.lr for o in opts] == [2.0 ** -(10 - i) for i in range(11)]


@pytest.mark.parametrize("strategy", ["Full", "linear", "", None])
def test_an_unknown_strategy_is_refused_naming_the_three(ft, strategy):
    with pytest.raises(ValueError, match="'full', 'probe', 'discriminative'"):
        ft.finetune_optimizer(ft.load_pretrained(), strategy=strategy, lr=0.1)


def test_bad_decay_and_models_are_refused(ft, nn):
    model = ft.load_pretrained()
    with pytest.raises(ValueError, match="decay"):
        ft.finetune_optimizer(model, strategy="discriminative", lr=0.1, decay=0.0)
    with pytest.raises(TypeError, match="decay"):
        ft.finetune_optimizer(model, strategy="discriminative", lr=0.1, decay="2.6")
    with pytest.raises(ValueError, match="no parameters"):
        ft.finetune_optimizer(nn.Sequential(*model.layers, nn.ReLU()), strategy="probe", lr=0.1)


# ---------------------------------------------------------------------------------- training with nn.fit


def _finetune(ft, nn, digits, strategy, *, lr=0.01, optimizer=None, epochs=3, seed=0):
    model = ft.replace_head(ft.load_pretrained(), 10, rng=np.random.default_rng(seed))
    before = _snapshot(model)
    kwargs = {"optimizer": optimizer} if optimizer else {}
    opts = ft.Optimizers(ft.finetune_optimizer(model, strategy=strategy, lr=lr, **kwargs))
    nn.fit(model, opts, digits.X_train[:200], digits.y_train[:200], epochs=epochs, batch_size=50,
           rng=np.random.default_rng(seed))
    return model, before, opts


def _moved(model, before):
    return [k for k, v in model.parameters().items() if not np.array_equal(v, before[k])]


def test_a_probe_trained_with_fit_moves_the_head_only(ft, nn, digits):
    pretrained = _snapshot(ft.load_pretrained())
    model, before, opts = _finetune(ft, nn, digits, "probe")
    assert _moved(model, before) == ["4.weight", "4.bias"]
    assert opts.frozen == NAMES[:4]
    assert _same_values(_snapshot(ft.load_pretrained()), pretrained)


@pytest.mark.parametrize("strategy", ["full", "discriminative"])
def test_full_and_discriminative_trained_with_fit_move_every_parameter(ft, nn, digits, strategy):
    model, before, opts = _finetune(ft, nn, digits, strategy)
    assert _moved(model, before) == NAMES and opts.frozen == []


def test_one_sgd_step_of_discriminative_moves_each_layer_by_its_own_rate(ft, nn, optim, digits):
    model = ft.replace_head(ft.load_pretrained(), 10, rng=np.random.default_rng(1))
    loss = nn.CrossEntropyLoss()
    loss(model(digits.X_train[:64]), digits.y_train[:64])
    model.backward(loss.backward())
    grads = {k: g.copy() for k, g in model.grads().items()}
    before = _snapshot(model)
    opts = ft.Optimizers(ft.finetune_optimizer(model, strategy="discriminative", lr=0.5, decay=3.0,
                                               optimizer=optim.SGD))
    opts.step(grads)
    rates = {"0": 0.5 / 9, "2": 0.5 / 3, "4": 0.5}
    for name, value in model.parameters().items():
        assert np.allclose(value, before[name] - rates[name[0]] * grads[name], rtol=0, atol=1e-15), name


@pytest.mark.parametrize("per_class, lr, margins", [(1, 0.01, (0.05, 0.01)), (5, 0.003, (0.005, 0.01))])
def test_fine_tuning_beats_training_from_scratch_with_few_examples(ft, nn, digits, per_class, lr, margins):
    """The notebook's claim, in small: with 1 and 5 examples per class, averaged over 3 seeds, the linear probe and
    full fine-tuning of the pretrained network reach a better test accuracy than the same network from scratch
    (measured with the weights of 1 December: 0.65 / 0.76 / 0.68 at 1 per class, 0.85 / 0.86 / 0.87 at 5;
    scratch / probe / full)."""
    accuracy = {"scratch": [], "probe": [], "full": []}
    for seed in range(3):
        picked = ft.few_shot(digits.y_train, per_class, np.random.default_rng(seed))
        X, y = digits.X_train[picked], digits.y_train[picked]
        for strategy in accuracy:
            if strategy == "scratch":
                model = ft.from_scratch(10, rng=np.random.default_rng(seed))
                opts = ft.Optimizers(ft.finetune_optimizer(model, strategy="full", lr=lr))
            else:
                model = ft.replace_head(ft.load_pretrained(), 10, rng=np.random.default_rng(seed))
                opts = ft.Optimizers(ft.finetune_optimizer(model, strategy=strategy, lr=lr))
            nn.fit(model, opts, X, y, epochs=60, batch_size=10, rng=np.random.default_rng(seed))
            accuracy[strategy].append(nn.accuracy(model(digits.X_test), digits.y_test))
    mean = {k: float(np.mean(v)) for k, v in accuracy.items()}
    assert mean["probe"] > mean["scratch"] + margins[0] and mean["full"] > mean["scratch"] + margins[1], mean


# --------------------------------------------------------------------------------------------- Optimizers


def test_optimizers_step_each_with_its_own_gradients_and_ignore_the_frozen(ft, optim):
    a, b, frozen = np.ones(3), np.ones(2), np.ones(4)
    opts = ft.Optimizers([optim.SGD({"a": a}, lr=0.1), optim.SGD({"b": b}, lr=1.0)])
    opts.step({"a": np.ones(3), "b": np.ones(2), "frozen": np.ones(4)})
    assert np.allclose(a, 0.9) and np.allclose(b, 0.0) and np.array_equal(frozen, np.ones(4))
    assert opts.frozen == ["frozen"] and opts.lr == 1.0
    text = repr(opts)
    assert "SGD(lr=0.1" in text and "SGD(lr=1.0" in text and "frozen: frozen" in text


def test_setting_the_lr_of_optimizers_keeps_the_ratios(ft, optim):
    opts = ft.Optimizers([optim.SGD({"a": np.ones(1)}, lr=0.25), optim.SGD({"b": np.ones(1)}, lr=1.0)])
    opts.lr = 0.1
    assert [o.lr for o in opts.optimizers] == [0.025, 0.1] and opts.lr == 0.1


def test_optimizers_refuse_an_empty_list_and_a_parameter_in_two_optimizers(ft, optim):
    with pytest.raises(ValueError, match="empty"):
        ft.Optimizers([])
    w = np.ones(2)
    with pytest.raises(ValueError, match="one optimizer at most"):
        ft.Optimizers([optim.SGD({"w": w}, lr=0.1), optim.Adam({"v": w}, lr=0.1)])
    with pytest.raises(ValueError, match="'w'"):
        ft.Optimizers([optim.SGD({"w": w}, lr=0.1), optim.Adam({"w": np.ones(2)}, lr=0.1)])
    with pytest.raises(TypeError, match="optimizer"):
        ft.Optimizers([{"w": w}])


# ==================================================================================== the engine's new cases


def test_a_network_case_is_a_fresh_mlp_of_the_package_for_every_call(check, nn):
    encoded = {"function": "mlp", "kwargs": {"sizes": {"tuple": [4, 3, 2]}, "seed": 5, "layout": "F"}}
    first, second = check.decode(encoded), check.decode(encoded)
    expected = nn.mlp([4, 3, 2], rng=np.random.default_rng(5))
    assert isinstance(first, nn.Sequential) and first is not second and not _shares_any(first, second)
    assert _same_values({k: np.ascontiguousarray(v) for k, v in first.parameters().items()}, expected.parameters())
    assert first[0].weight.flags.f_contiguous and not first[0].weight.flags.c_contiguous
    f32 = check.decode({"function": "mlp", "kwargs": {"sizes": {"tuple": [3, 2]}, "seed": 0, "dtype": "float32",
                                                      "end_with_relu": True}})
    assert f32[0].weight.dtype == np.float32 and type(f32[-1]).__name__ == "ReLU"


def test_an_optimizer_class_case_is_the_class_itself(check, optim):
    assert check.decode({"function": "SGD"}) is optim.SGD and check.decode({"function": "Adam"}) is optim.Adam


def test_networks_and_optimizers_are_observed_as_layers_and_arrays(check, nn, optim):
    model = nn.mlp([3, 4, 2], rng=np.random.default_rng(0))
    encoded = check.encode(model)["module"]
    assert encoded["class"] == "Sequential"
    assert encoded["layers"] == [["0", "Linear(3, 4)"], ["1", "ReLU"], ["2", "Linear(4, 2)"]]
    assert list(encoded["parameters"]["dict"]) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    opt = check.encode([optim.SGD(model.parameters(), lr=0.5)])["tuple"][0]["optimizer"]
    assert opt["class"] == "SGD" and opt["lr"] == 0.5 and list(opt["params"]["dict"]) == list(model.parameters())
    nested = check.encode(nn.Sequential(model, nn.Linear(2, 2, bias=False, rng=np.random.default_rng(0))))
    assert nested["module"]["layers"][0][1] == "Sequential(Linear(3, 4), ReLU, Linear(4, 2))"
    assert nested["module"]["layers"][1][1] == "Linear(2, 2, bias=False)"


def test_a_network_argument_changed_in_place_is_an_input_modified(check, nn):
    case = {"label": "x", "args": {"model": {"function": "mlp", "kwargs": {"sizes": {"tuple": [3, 2]}, "seed": 0}}}}

    def append_layer(model):
        model.layers.append(nn.ReLU())
        model.names.append("1")
        return 0

    def scale(model):
        model[0].weight *= 2
        return 0

    def leave(model):
        return 0

    assert check.collect(append_layer, case)["modified"] == ["model"]
    assert check.collect(scale, case)["modified"] == ["model"]
    assert check.collect(leave, case)["modified"] == []


# ================================================================================================ the checks


def _record(*, hidden_seed=None, draws=12):
    """Check data recorded from the catalogue as ``conftest.recorded`` records it, without the unit being
    registered."""
    from autograder.checkdata import record
    from autograder.exercises.unit08_finetune import FINETUNE

    if hidden_seed is None:
        return {e.name: record(e, e.public()) for e in FINETUNE}
    rng = np.random.default_rng(hidden_seed)
    return {e.name: record(e, [c for _ in range(draws) for c in e.hidden(rng)], validate=False) for e in FINETUNE}


@pytest.fixture(scope="module")
def catalogue():
    from autograder.exercises.unit08_finetune import FINETUNE

    return {e.name: e for e in FINETUNE}


@pytest.fixture(scope="module")
def specs(ref):
    return _record()


@pytest.fixture(scope="module")
def hidden_specs(ref):
    return _record(hidden_seed=88)


def test_the_catalogue_covers_every_exercise_of_the_module(catalogue, ft):
    from optimlab._exercise import EXERCISES

    ours = {n for n, e in EXERCISES.items() if e.module == "finetune"}
    assert ours == set(catalogue) == {"replace_head", "finetune_optimizer"}
    assert all(EXERCISES[n].unit == "08_training" and EXERCISES[n].section == "5. Fine-tuning a pretrained network"
               for n in ours)


def test_the_spec_carries_the_memory_rules_of_each_exercise(specs):
    assert specs["finetune_optimizer"]["shares_inputs"] is True
    assert "shares_inputs" not in specs["replace_head"]
    assert specs["replace_head"]["shares_memory_title"] == "the body shared with the pretrained network"


def test_the_reference_passes_the_public_and_hidden_checks(check, ft, specs, hidden_specs):
    for name in specs:
        for spec in (specs[name], hidden_specs[name]):
            assert check.run_check(spec, getattr(ft, name)) == (len(spec["cases"]), None)


def test_every_catalogued_mistake_is_named_with_its_explanation(check, catalogue, specs):
    for name, exercise in catalogue.items():
        assert len(exercise.mistakes) >= 7
        for mistake in exercise.mistakes:
            _, failure = check.run_check(specs[name], mistake.impl)
            assert failure is not None and f"classic mistake: {mistake.title}." in failure, (name, mistake.id)
            assert mistake.explain in failure


def test_the_hidden_cases_cover_every_strategy_layouts_dtypes_and_deep_networks(check, catalogue):
    rng = np.random.default_rng(5)
    cases = [c for _ in range(12) for c in catalogue["finetune_optimizer"].hidden(rng)]
    strategies = {c["args"]["strategy"] for c in cases}
    assert {"full", "probe", "discriminative"} < strategies and any("expect_error" in c for c in cases)
    assert {c["args"]["optimizer"]["function"] for c in cases} == {"SGD", "Adam", "RMSprop"}
    nets = [c["args"]["model"]["kwargs"] for c in cases]
    assert any(len(n["sizes"]["tuple"]) == 12 for n in nets) and any(n.get("dtype") == "float32" for n in nets)
    assert any(check._has_layouts(c["args"]) for c in cases)
    heads = [c for _ in range(12) for c in catalogue["replace_head"].hidden(rng)]
    assert any(check._has_layouts(c["args"]) for c in heads)


def test_the_generic_memory_rule_still_holds_without_shares_inputs(check, ft, specs):
    """An exercise that does not declare shares_inputs is told that an output sharing memory with an input is a
    mistake, so the exception really is the spec key's doing."""
    spec = {k: v for k, v in specs["finetune_optimizer"].items() if k != "shares_inputs"}
    _, failure = check.run_check(spec, ft.finetune_optimizer)
    assert "classic mistake: an output that shares memory with an input." in failure


def test_a_failure_shows_the_network_as_a_student_builds_it(check, specs):
    def swapped(model, num_classes, *, rng):
        nn = __import__("optimlab.nn", fromlist=["Linear"])
        last = model.layers[-1]
        return nn.Sequential(*[copy.deepcopy(layer) for layer in model.layers[:-1]],
                             nn.Linear(num_classes, last.in_features, rng=rng, dtype=last.weight.dtype))

    _, failure = check.run_check(specs["replace_head"], swapped)
    assert "layer '4' of the new network is Linear(2, 5), expected Linear(5, 2)" in failure
    assert "model       = nn.mlp([4, 6, 5, 3], rng=np.random.default_rng(1))" in failure
    assert "rng         = np.random.default_rng(11)" in failure


@pytest.fixture(scope="module")
def stub(stubs):
    """The release's finetune.py (``course/optimlab``), as a student first gets it."""
    return submodule(stubs, "finetune")


@pytest.mark.parametrize("name", ["replace_head", "finetune_optimizer"])
def test_the_stubs_fail_every_case_with_their_own_error(check, specs, stub, name):
    assert_stub_fails_with_its_own_error(check, specs[name], getattr(stub, name), "08_training")


def test_the_stub_keeps_the_given_code_and_no_solution_line(stub):
    secret, text = solution_lines("finetune"), released("finetune")
    assert len(secret) >= 8
    assert not [line for line in secret if line in text]
    model = stub.load_pretrained()
    assert list(model.parameters()) == NAMES and len(stub.few_shot(np.arange(10) % 2, 2, np.random.default_rng(0))) == 4


# ------------------------------------------------------------------------- independently written wrong code


def _ref_nn():
    return __import__("optimlab.nn", fromlist=["Linear"])


def _ref_optim():
    return __import__("optimlab.optim", fromlist=["Adam"])


def _rh_shallow_copies(model, num_classes, *, rng):
    nn = _ref_nn()
    last = model.layers[-1]
    return nn.Sequential(*map(copy.copy, model.layers[:-1]),
                         nn.Linear(last.in_features, num_classes, rng=rng, dtype=last.weight.dtype))


def _rh_explicit_float64(model, num_classes, *, rng):
    nn = _ref_nn()
    body = copy.deepcopy(model.layers[:-1])
    return nn.Sequential(*body, nn.Linear(model.layers[-1].weight.shape[1], num_classes, rng=rng, dtype=np.float64))


def _rh_in_out_swapped(model, num_classes, *, rng):
    nn = _ref_nn()
    last = model.layers[-1]
    head = nn.Linear(num_classes, last.in_features, rng=rng, dtype=last.weight.dtype)
    return nn.Sequential(*copy.deepcopy(model.layers[:-1]), head)


def _rh_slice_then_append(model, num_classes, *, rng):
    nn = _ref_nn()
    new = model[:-1]
    new.layers.append(nn.Linear(model[-1].in_features, num_classes, rng=rng, dtype=model[-1].weight.dtype))
    new.names = [str(i) for i in range(len(new.layers))]
    return new


def _rh_pop_and_append(model, num_classes, *, rng):
    nn = _ref_nn()
    old = model.layers.pop()
    model.layers.append(nn.Linear(old.in_features, num_classes, rng=rng, dtype=old.weight.dtype))
    return model


def _rh_seeded_head(model, num_classes, *, rng):
    nn = _ref_nn()
    last = model.layers[-1]
    head = nn.Linear(last.in_features, num_classes, rng=np.random.default_rng(0), dtype=last.weight.dtype)
    return nn.Sequential(*copy.deepcopy(model.layers[:-1]), head)


def _rh_global_state_head(model, num_classes, *, rng):
    nn = _ref_nn()
    last = model.layers[-1]
    head = nn.Linear(last.in_features, num_classes, rng=rng, dtype=last.weight.dtype)
    head.weight = np.random.uniform(-1, 1, size=head.weight.shape).astype(head.weight.dtype)
    return nn.Sequential(*copy.deepcopy(model.layers[:-1]), head)


def _rh_head_reads_old_outputs(model, num_classes, *, rng):
    nn = _ref_nn()
    last = model.layers[-1]
    return nn.Sequential(*copy.deepcopy(model.layers[:-1]),
                         nn.Linear(last.out_features, num_classes, rng=rng, dtype=last.weight.dtype))


def _rh_whole_copy_plus_head(model, num_classes, *, rng):
    nn = _ref_nn()
    new = copy.deepcopy(model)
    new.layers.append(nn.Linear(model[-1].out_features, num_classes, rng=rng, dtype=model[-1].weight.dtype))
    new.names.append(str(len(new.names)))
    return new


def _rh_mlp_head(model, num_classes, *, rng):
    nn = _ref_nn()
    last = model.layers[-1]
    head = nn.mlp([last.in_features, num_classes], rng=rng, dtype=last.weight.dtype)
    return nn.Sequential(*copy.deepcopy(model.layers[:-1]), head)


def _rh_no_type_check(model, num_classes, *, rng):
    nn = _ref_nn()
    body = [copy.deepcopy(layer) for layer in model.layers if isinstance(layer, nn.Linear)][:-1]
    layers = []
    for layer in body:
        layers += [layer, nn.ReLU()]
    last = [layer for layer in model.layers if isinstance(layer, nn.Linear)][-1]
    return nn.Sequential(*layers, nn.Linear(last.in_features, num_classes, rng=rng, dtype=last.weight.dtype))


def _rh_correct_whole_copy(model, num_classes, *, rng):
    nn = _ref_nn()
    if not isinstance(model[-1], nn.Linear):
        raise TypeError("no head")
    new = copy.deepcopy(model)
    new.layers[-1] = nn.Linear(model[-1].in_features, num_classes, rng=rng, dtype=model[-1].weight.dtype)
    return new


def _rh_correct_pickle(model, num_classes, *, rng):
    nn = _ref_nn()
    if not isinstance(model.layers[-1], nn.Linear):
        raise TypeError("no head")
    body = pickle.loads(pickle.dumps(model.layers[:-1]))
    old = model.layers[-1]
    return nn.Sequential(*body, nn.Linear(old.weight.shape[1], num_classes, rng=rng, dtype=old.bias.dtype))


def _ft_groups(model):
    return [({f"{name}.{k}": v for k, v in layer.parameters().items()}) for name, layer in
            zip(model.names, model.layers) if layer.parameters()]


def _ft_shell(groups_of=_ft_groups, *, probe=None, full=None, rate=None, make=None, strict=True):
    def impl(model, *, strategy, lr, decay=2.6, optimizer=None):
        optimizer = make or optimizer or _ref_optim().Adam
        if strict and strategy not in ("full", "probe", "discriminative"):
            raise ValueError("strategy must be 'full', 'probe' or 'discriminative'")
        if strategy == "probe":
            return [optimizer(probe(model) if probe else groups_of(model)[-1], lr=lr)]
        if strategy == "discriminative":
            groups = groups_of(model)
            k = len(groups)
            return [optimizer(g, lr=(rate or (lambda lr, decay, k, i: lr * decay ** -(k - 1 - i)))(lr, decay, k, i))
                    for i, g in enumerate(groups)]
        return [optimizer(full(model) if full else dict(model.parameters()), lr=lr)]
    return impl


def _ft_prefix_groups(model):
    params = model.parameters()
    return [{k: v for k, v in params.items() if k.startswith(name)} for name, layer in
            zip(model.names, model.layers) if layer.parameters()]


def _ft_sorted_groups(model):
    return sorted(_ft_groups(model), key=lambda g: next(iter(g)))


def _ft_relu_groups(model):
    return [{f"{name}.{k}": v for k, v in layer.parameters().items()} for name, layer in
            zip(model.names, model.layers)]


_ft_suffix_probe = _ft_shell(probe=lambda model: {k: v for k, v in model.parameters().items()
                                                  if k.endswith("weight")})
_ft_suffix_probe.__name__ = "_ft_suffix_probe"
_ft_prefix = _ft_shell(_ft_prefix_groups)
_ft_prefix.__name__ = "_ft_prefix"
_ft_sorted = _ft_shell(_ft_sorted_groups)
_ft_sorted.__name__ = "_ft_sorted"
_ft_relus = _ft_shell(_ft_relu_groups)
_ft_relus.__name__ = "_ft_relus"
_ft_decay_times_depth = _ft_shell(rate=lambda lr, decay, k, i: lr / (decay * (k - 1 - i)) if i < k - 1 else lr)
_ft_decay_times_depth.__name__ = "_ft_decay_times_depth"
_ft_np_copies = _ft_shell(_ft_groups, full=lambda model: {k: np.copy(v) for k, v in model.parameters().items()})
_ft_np_copies.__name__ = "_ft_np_copies"
_ft_forced_adam = _ft_shell(make=lambda params, lr: _ref_optim().Adam(params, lr=lr))
_ft_forced_adam.__name__ = "_ft_forced_adam"
_ft_lenient = _ft_shell(strict=False)
_ft_lenient.__name__ = "_ft_lenient"
_ft_head_index = _ft_shell(probe=lambda model: {k: v for k, v in model.parameters().items() if k.startswith("4.")})
_ft_head_index.__name__ = "_ft_head_index"
_ft_reversed = _ft_shell(rate=lambda lr, decay, k, i: lr / decay**i)
_ft_reversed.__name__ = "_ft_reversed"
_ft_correct = _ft_shell()
_ft_correct.__name__ = "_ft_correct"


def _ft_array_copies_list(model, *, strategy, lr, decay=2.6, optimizer=None):
    optimizer = optimizer or _ref_optim().Adam
    if strategy not in ("full", "probe", "discriminative"):
        raise ValueError("unknown strategy")
    names = list(model.parameters())
    arrays = [np.array(a) for a in model.parameters().values()]
    if strategy == "full":
        return [optimizer(dict(zip(names, arrays)), lr=lr)]
    head = model.names[-1] + "."
    picked = {n: a for n, a in zip(names, arrays) if n.startswith(head)}
    return [optimizer(picked, lr=lr)] if strategy == "probe" else _ft_correct(model, strategy=strategy, lr=lr,
                                                                              decay=decay, optimizer=optimizer)


def _ft_correct_slice(model, *, strategy, lr, decay=2.6, optimizer=None):
    optimizer = optimizer or _ref_optim().Adam
    if strategy == "probe":
        return [optimizer(model[-1:].parameters(), lr)]
    return _ft_correct(model, strategy=strategy, lr=lr, decay=decay, optimizer=optimizer)


TITLES = {"shared": "the body shared with the pretrained network",
                       "float64": "the new head in float64 on a float32 network",
                       "in_place": "modifying an input in place", "on_top": "a new head appended on top of the old one",
                       "not_linear": "no TypeError when the last layer is not a Linear",
                       "copies": "copies of the parameters instead of the model's own arrays",
                       "adam": "the optimizer argument ignored (always Adam)",
                       "unknown": "an unknown strategy silently treated as 'full'",
                       "reversed": "discriminative rates the wrong way round (the largest at the input)",
                       "swapped": "the head's sizes the wrong way round: Linear(num_classes, in_features)",
                       "rng": "not using the given rng", "global": "drawing the head with NumPy's global random state"}

INDEPENDENT_MISTAKES = [
    ("replace_head", _rh_shallow_copies, TITLES["shared"]),
    ("replace_head", _rh_explicit_float64, TITLES["float64"]),
    ("replace_head", _rh_in_out_swapped, TITLES["swapped"]),
    ("replace_head", _rh_slice_then_append, TITLES["shared"]),
    ("replace_head", _rh_pop_and_append, TITLES["in_place"]),
    ("replace_head", _rh_seeded_head, TITLES["rng"]),
    ("replace_head", _rh_global_state_head, TITLES["global"]),
    ("replace_head", _rh_head_reads_old_outputs, None),
    ("replace_head", _rh_whole_copy_plus_head, TITLES["on_top"]),
    ("replace_head", _rh_mlp_head, None),
    ("replace_head", _rh_no_type_check, TITLES["not_linear"]),
    ("finetune_optimizer", _ft_suffix_probe, None),
    ("finetune_optimizer", _ft_prefix, None),
    ("finetune_optimizer", _ft_sorted, None),
    ("finetune_optimizer", _ft_relus, None),
    ("finetune_optimizer", _ft_decay_times_depth, None),
    ("finetune_optimizer", _ft_np_copies, TITLES["copies"]),
    ("finetune_optimizer", _ft_array_copies_list, TITLES["copies"]),
    ("finetune_optimizer", _ft_forced_adam, TITLES["adam"]),
    ("finetune_optimizer", _ft_lenient, TITLES["unknown"]),
    ("finetune_optimizer", _ft_head_index, None),
    ("finetune_optimizer", _ft_reversed, TITLES["reversed"]),
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
    ("replace_head", _rh_correct_whole_copy),
    ("replace_head", _rh_correct_pickle),
    ("finetune_optimizer", _ft_correct),
    ("finetune_optimizer", _ft_correct_slice),
], ids=lambda v: getattr(v, "__name__", v))
def test_correct_implementations_in_another_style_pass(check, specs, hidden_specs, name, correct):
    for spec in (specs[name], hidden_specs[name]):
        assert check.run_check(spec, correct) == (len(spec["cases"]), None)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_hostile_outputs_and_observations_never_crash_these_checks(check, specs):
    """test_checks.py's hostile outputs and observations, on these exercises' networks and optimizers (before
    the unit is registered there), and a few more that imitate the new observations."""
    from test_checks import HOSTILE, HOSTILE_OBSERVATIONS

    more = [{"output": {"module": "x"}}, {"output": {"module": {"class": "Sequential", "layers": 3}}},
            {"output": {"tuple": [{"optimizer": {"class": "SGD", "lr": "x", "params": 5}}]}},
            {"output": {"optimizer": None}, "unshared": [[0, ".params['a']"]]}, {"output": 1, "unshared": "abc"}]
    for name, spec in specs.items():
        for fn in HOSTILE:
            passed, failure = check.run_check(spec, fn)
            assert passed < len(spec["cases"]) and isinstance(failure, str) and failure.startswith(name)
        for case in spec["cases"]:
            for observation in HOSTILE_OBSERVATIONS + more:
                error = observation.get("error") if isinstance(observation, dict) else None
                if "expect_error" in case and isinstance(error, dict) and (
                        error.get("type") == case["expect_error"]["type"]):
                    continue
                verdict = check.judge(spec, case, observation)
                assert isinstance(verdict, check.Verdict) and not verdict.passed and verdict.message
                assert isinstance(check.explain(spec, case, observation, verdict), str)
