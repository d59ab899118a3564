"""The learning-rate schedules of unit 05 (optimlab.schedules): torch's numbers, and the contracts.

- exact values: every class against ``torch.optim.lr_scheduler``, step for step in float64, the optimizer's
  momentum too where torch cycles it, and ReduceLROnPlateau's state call by call (torch is an optional test
  dependency: those tests are skipped without it);
- the pure functions agree with the classes, return Python floats and modify nothing; the range test's numbers
  against a direct formula;
- invalid arguments raise ``ValueError`` naming the argument; the classes drive ``opt.lr`` of the course's
  optimizers.
"""

import math
import warnings

import numpy as np
import pytest

from conftest import submodule

TOL = 1e-12


@pytest.fixture(scope="module")
def schedules(ref):
    return submodule(ref, "schedules")


@pytest.fixture(scope="module")
def optim(ref):
    return submodule(ref, "optim")


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _ours(optim, kind="SGD", lr=0.1, **kwargs):
    return getattr(optim, kind)({"w": np.zeros(3)}, lr=lr, **kwargs)


def _theirs(torch, kind="SGD", lr=0.1, **kwargs):
    param = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    return getattr(torch.optim, kind)([param], lr=lr, **kwargs)


def _momentum(opt):
    """SGD's momentum or Adam's beta1, ours or torch's; None when the optimizer has neither."""
    if hasattr(opt, "param_groups"):
        group = opt.param_groups[0]
        return group["betas"][0] if "betas" in group else group.get("momentum")
    return opt.betas[0] if hasattr(opt, "betas") else getattr(opt, "momentum", None)


def _side_by_side(ours, theirs, steps):
    """Step both schedulers ``steps - 1`` times after construction; the largest difference in lr, get_last_lr,
    momentum, and whether last_epoch always agreed."""
    (sched, opt), (tsched, topt) = ours, theirs
    worst, epochs_agree = 0.0, True
    for k in range(steps):
        if k:
            topt.step()  # no gradients: nothing moves, but torch sees the usual order of calls
            tsched.step()
            sched.step()
        worst = max(worst, abs(opt.lr - topt.param_groups[0]["lr"]),
                    abs(sched.get_last_lr()[0] - tsched.get_last_lr()[0]))
        if _momentum(opt) is not None:  # (torch's RMSprop has a momentum, the course's has none)
            worst = max(worst, abs(_momentum(opt) - _momentum(topt)))
        epochs_agree &= sched.last_epoch == tsched.last_epoch == k
    return worst, epochs_agree


#: (class, keyword arguments, steps to compare, optimizer and its options): the same for ours and torch's.
SCHEDULERS_UNDER_TEST = [
    ("StepLR", dict(step_size=5, gamma=0.5), 40, ("SGD", {})),
    ("StepLR", dict(step_size=1), 20, ("SGD", {})),
    ("MultiStepLR", dict(milestones=[3, 10, 10, 25], gamma=0.5), 40, ("SGD", {})),
    ("MultiStepLR", dict(milestones=[12, 0, 5]), 20, ("SGD", {})),
    ("ExponentialLR", dict(gamma=0.9), 40, ("SGD", {})),
    ("CosineAnnealingLR", dict(T_max=10), 31, ("SGD", {})),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.01), 50, ("SGD", {})),
    ("CosineAnnealingLR", dict(T_max=1), 8, ("SGD", {})),
    ("LinearLR", dict(), 12, ("SGD", {})),
    ("LinearLR", dict(start_factor=0.1, total_iters=10), 25, ("SGD", {})),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.2, total_iters=8), 15, ("SGD", {})),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4), 40, ("SGD", dict(momentum=0.9))),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=3, step_size_down=5, mode="triangular2"), 50,
     ("SGD", {})),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.5, step_size_up=5, mode="exp_range", gamma=0.97,
                      base_momentum=0.7, max_momentum=0.95), 45, ("SGD", dict(momentum=0.5))),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=2.5, cycle_momentum=False), 20, ("Adagrad", {})),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4), 25, ("Adam", {})),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=30), 31, ("SGD", dict(momentum=0.9))),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=40, pct_start=0.25, anneal_strategy="linear", div_factor=10.0,
                        final_div_factor=100.0), 41, ("SGD", dict(momentum=0.9))),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=37, pct_start=0.27, three_phase=True), 38, ("Adam", {})),
    ("OneCycleLR", dict(max_lr=0.1, total_steps=33, pct_start=0.4, three_phase=True, anneal_strategy="linear",
                        base_momentum=0.8, max_momentum=0.9), 34, ("AdamW", {})),
    ("OneCycleLR", dict(max_lr=0.2, total_steps=20, cycle_momentum=False), 21, ("RMSprop", {})),
]
IDS = [f"{name}({', '.join(f'{k}={v}' for k, v in kw.items())})-{opt[0]}" for name, kw, _, opt in
       SCHEDULERS_UNDER_TEST]


@pytest.mark.parametrize("name, kwargs, steps, optimizer", SCHEDULERS_UNDER_TEST, ids=IDS)
def test_every_scheduler_gives_torchs_learning_rates_step_for_step(torch, optim, schedules, name, kwargs, steps,
                                                                    optimizer):
    kind, options = optimizer
    opt, topt = _ours(optim, kind, **options), _theirs(torch, kind, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    ours = getattr(schedules, name)(opt, **kwargs)
    worst, epochs_agree = _side_by_side((ours, opt), (theirs, topt), steps)
    assert worst <= TOL and epochs_agree


def test_cosine_goes_on_past_T_max_for_three_periods_like_torch(torch, optim, schedules):
    opt, topt = _ours(optim), _theirs(torch)
    ours, theirs = schedules.CosineAnnealingLR(opt, T_max=8), torch.optim.lr_scheduler.CosineAnnealingLR(topt, 8)
    lrs = []
    for k in range(3 * 2 * 8 + 1):
        if k:
            topt.step()
            theirs.step()
            ours.step()
        assert abs(opt.lr - topt.param_groups[0]["lr"]) <= TOL
        lrs.append(opt.lr)
    assert lrs[8] == pytest.approx(0.0, abs=1e-15) and lrs[16] == pytest.approx(0.1) and lrs[24] < 1e-15
    assert lrs[12] == pytest.approx(lrs[4]) and lrs[40] == pytest.approx(lrs[8])


def test_torchs_recursive_cosine_leaves_the_closed_form_when_something_else_sets_lr(torch, optim, schedules):
    """What the docstring says: the two agree while the scheduler alone sets lr, not after a manual change."""
    opt, topt = _ours(optim), _theirs(torch)
    ours, theirs = schedules.CosineAnnealingLR(opt, T_max=10), torch.optim.lr_scheduler.CosineAnnealingLR(topt, 10)
    for _ in range(3):
        topt.step()
        theirs.step()
        ours.step()
    opt.lr = topt.param_groups[0]["lr"] = 0.5
    topt.step()
    theirs.step()
    ours.step()
    closed = schedules.cosine_annealing_lr(4, base_lr=0.1, T_max=10)
    assert opt.lr == closed and abs(topt.param_groups[0]["lr"] - closed) > 0.1


def test_sequential_warmup_then_cosine_is_torchs_and_warmup_cosine_lr(torch, optim, schedules):
    opt, topt = _ours(optim), _theirs(torch)
    s, ts = schedules, torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ts.SequentialLR(topt, [ts.LinearLR(topt, 0.1, total_iters=5), ts.CosineAnnealingLR(topt, 15)],
                                 milestones=[5])
    ours = s.SequentialLR(opt, [s.LinearLR(opt, 0.1, total_iters=5), s.CosineAnnealingLR(opt, 15)], milestones=[5])
    worst, epochs_agree = _side_by_side((ours, opt), (theirs, topt), 50)
    assert worst <= TOL and epochs_agree
    pure = [s.warmup_cosine_lr(t, base_lr=0.1, warmup_iters=5, T_max=15, start_factor=0.1) for t in range(50)]
    assert pure == [ours.lr_at(t) for t in range(50)]
    # torch's published example (its SequentialLR documentation and test_lrscheduler.py)
    assert pure[:6] == pytest.approx([0.01, 0.028, 0.046, 0.064, 0.082, 0.1], abs=1e-15)
    assert pure[6] == pytest.approx(0.0989, abs=1e-4)


def test_sequential_of_three_with_a_step_decay_at_the_end(torch, optim, schedules):
    opt, topt = _ours(optim, lr=0.2), _theirs(torch, lr=0.2)
    s, ts = schedules, torch.optim.lr_scheduler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = ts.SequentialLR(topt, [ts.LinearLR(topt, 0.25, total_iters=4), ts.ExponentialLR(topt, 0.9),
                                        ts.StepLR(topt, 3, 0.5)], milestones=[4, 12])
    ours = s.SequentialLR(opt, [s.LinearLR(opt, 0.25, total_iters=4), s.ExponentialLR(opt, 0.9),
                                s.StepLR(opt, 3, 0.5)], milestones=[4, 12])
    worst, epochs_agree = _side_by_side((ours, opt), (theirs, topt), 30)
    assert worst <= TOL and epochs_agree


def test_construction_takes_the_first_step_and_records_the_base_once(torch, optim, schedules):
    opt, topt = _ours(optim), _theirs(torch)
    first, tfirst = schedules.LinearLR(opt, start_factor=0.25), torch.optim.lr_scheduler.LinearLR(topt, 0.25)
    assert first.last_epoch == tfirst.last_epoch == 0 and opt.lr == topt.param_groups[0]["lr"] == 0.025
    assert opt.initial_lr == topt.param_groups[0]["initial_lr"] == 0.1
    second, tsecond = schedules.ExponentialLR(opt, 0.5), torch.optim.lr_scheduler.ExponentialLR(topt, 0.5)
    assert second.base_lrs == tsecond.base_lrs == [0.1]  # the recorded base, not the lr the first one wrote


def test_cyclic_lr_silently_turns_plain_sgd_into_momentum_sgd_as_torch_does(torch, optim, schedules):
    opt, topt = _ours(optim), _theirs(torch)  # momentum 0
    schedules.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=5)
    torch.optim.lr_scheduler.CyclicLR(topt, base_lr=0.01, max_lr=0.1, step_size_up=5)
    assert opt.momentum == topt.param_groups[0]["momentum"] == 0.9
    opt.step({"w": np.ones(3)})
    assert "momentum_buffer" in opt.state["w"]  # the next steps really use momentum
    plain = _ours(optim)
    schedules.CyclicLR(plain, base_lr=0.01, max_lr=0.1, step_size_up=5, cycle_momentum=False)
    assert plain.momentum == 0.0


@pytest.mark.parametrize("name, kwargs", [("CyclicLR", dict(base_lr=0.01, max_lr=0.1)),
                                          ("OneCycleLR", dict(max_lr=0.1, total_steps=10))])
def test_cycling_momentum_on_an_optimizer_without_momentum_raises_as_in_torch(torch, optim, schedules, name, kwargs):
    with pytest.raises(ValueError, match="momentum"):
        getattr(torch.optim.lr_scheduler, name)(_theirs(torch, "Adagrad"), **kwargs)
    for kind in ("Adagrad", "RMSprop"):
        with pytest.raises(ValueError, match="cycle_momentum"):
            getattr(schedules, name)(_ours(optim, kind), **kwargs)


def test_one_cycle_allows_total_steps_steps_and_the_next_raises(torch, optim, schedules):
    opt, topt = _ours(optim, momentum=0.9), _theirs(torch, momentum=0.9)
    ours = schedules.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    theirs = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.1, total_steps=10)
    for _ in range(10):
        topt.step()
        theirs.step()
        ours.step()
    assert abs(opt.lr - topt.param_groups[0]["lr"]) <= TOL and ours.last_epoch == 10
    topt.step()
    with pytest.raises(ValueError):
        theirs.step()
    with pytest.raises(ValueError, match="total_steps"):
        ours.step()
    with pytest.raises(ValueError, match="t must be at most total_steps"):
        schedules.one_cycle_lr(11, max_lr=0.1, total_steps=10)


# ---------------------------------------------------------------------------------------- reduce on plateau

_rng = np.random.default_rng(505)

#: Metric sequences: flat, improving, noisy, improving by less than the thresholds, negative, with a spike.
METRICS = {
    "constant": [1.0] * 20,
    "improving then flat": [1.0, 0.8, 0.6, 0.5, 0.45] + [0.45] * 15,
    "tiny improvements": [1.0 - 3e-5 * k for k in range(25)],
    "noisy descent": list(np.round(np.exp(-0.05 * np.arange(40)) * (1 + 0.05 * _rng.standard_normal(40)), 4)),
    "random walk": list(np.round(np.cumsum(0.1 * _rng.standard_normal(40)), 3)),
    "negative, slowly worse": [-1.0 + 4e-5 * k for k in range(25)],
    "negative, improving": [-0.1 * k for k in range(10)] + [-0.9] * 15,
    "rising (an accuracy)": [0.5, 0.6, 0.7, 0.72, 0.725, 0.73, 0.73, 0.731, 0.8, 0.8, 0.8, 0.8, 0.801, 0.8] * 2,
}

PLATEAU_SETTINGS = [
    dict(),
    dict(factor=0.5, patience=2),
    dict(factor=0.5, patience=0, cooldown=2),
    dict(factor=0.3, patience=1, cooldown=1, min_lr=0.005),
    dict(factor=0.5, patience=0, min_lr=0.01, eps=0.005),
    dict(factor=0.5, patience=2, threshold=0.01, threshold_mode="abs"),
    dict(mode="max", factor=0.5, patience=2),
    dict(mode="max", factor=0.2, patience=1, threshold=0.005, threshold_mode="abs", cooldown=2),
    dict(factor=0.1, patience=0, eps=1e-3),
]


@pytest.mark.parametrize("settings", PLATEAU_SETTINGS, ids=[str(s) or "defaults" for s in PLATEAU_SETTINGS])
@pytest.mark.parametrize("sequence", list(METRICS))
def test_reduce_on_plateau_is_torchs_call_by_call(torch, optim, schedules, settings, sequence):
    opt, topt = _ours(optim), _theirs(torch)
    ours = schedules.ReduceLROnPlateau(opt, **settings)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **settings)
    assert (ours.best, ours.num_bad_epochs, ours.cooldown_counter) == (theirs.best, 0, 0)
    for metric in METRICS[sequence]:
        topt.step()
        theirs.step(metric)
        ours.step(metric)
        assert abs(opt.lr - topt.param_groups[0]["lr"]) <= TOL
        assert ours.best == theirs.best
        assert (ours.num_bad_epochs, ours.cooldown_counter) == (theirs.num_bad_epochs, theirs.cooldown_counter)
        assert ours.last_epoch == theirs.last_epoch and ours.get_last_lr() == [opt.lr]


def test_reduce_on_plateau_cuts_a_constant_metric_on_the_fourth_call_with_patience_2(schedules):
    lr, state, cuts = 0.1, {}, []
    for call in range(1, 11):
        new_lr, state = schedules.plateau_step(1.0, lr, state, factor=0.5, patience=2)
        if new_lr != lr:
            cuts.append(call)
        lr = new_lr
    assert cuts == [4, 7, 10]


def test_negative_metrics_with_relative_thresholds_never_cut(schedules):
    lr, state = 0.1, {}
    for k in range(30):
        lr, state = schedules.plateau_step(-1.0 + 4e-5 * k, lr, state, factor=0.5, patience=2)
    assert lr == 0.1 and state["best"] > -1.0  # "better" every call, though every call is worse


def test_plateau_step_returns_a_new_state_and_never_changes_the_given_one(schedules):
    state = {"best": 0.5, "num_bad_epochs": 2, "cooldown_counter": 0}
    before = dict(state)
    lr, new_state = schedules.plateau_step(0.6, 0.1, state, patience=2)
    assert state == before and new_state is not state and type(lr) is float
    assert new_state == {"best": 0.5, "num_bad_epochs": 0, "cooldown_counter": 0} and lr == pytest.approx(0.01)


# ---------------------------------------------------------------------------------------- the pure functions

#: (function, settings, steps): what the classes compute, as pure functions of t.
PURE = [
    ("step_lr", "StepLR", dict(step_size=4, gamma=0.3), 30),
    ("multistep_lr", "MultiStepLR", dict(milestones=[2, 9, 9, 20], gamma=0.5), 30),
    ("exponential_lr", "ExponentialLR", dict(gamma=0.8), 30),
    ("cosine_annealing_lr", "CosineAnnealingLR", dict(T_max=6, eta_min=0.02), 40),
    ("linear_lr", "LinearLR", dict(start_factor=0.2, end_factor=0.9, total_iters=7), 20),
]


@pytest.mark.parametrize("function, cls, settings, steps", PURE, ids=[p[0] for p in PURE])
def test_the_pure_functions_are_the_classes_learning_rates(optim, schedules, function, cls, settings, steps):
    opt = _ours(optim, lr=0.3)
    scheduler = getattr(schedules, cls)(opt, **settings)
    values = []
    for t in range(steps):
        if t:
            scheduler.step()
        values.append(opt.lr)
    pure = [getattr(schedules, function)(t, base_lr=0.3, **settings) for t in range(steps)]
    assert pure == values and all(type(v) is float for v in pure)


def test_cyclic_and_one_cycle_functions_are_their_classes(optim, schedules):
    opt = _ours(optim)
    cyclic = schedules.CyclicLR(opt, base_lr=0.01, max_lr=0.2, step_size_up=3, step_size_down=4, mode="triangular2",
                                cycle_momentum=False)
    for t in range(1, 30):
        cyclic.step()
        assert opt.lr == schedules.cyclic_lr(t, base_lr=0.01, max_lr=0.2, step_size_up=3, step_size_down=4,
                                             mode="triangular2")
    opt = _ours(optim)
    one = schedules.OneCycleLR(opt, max_lr=0.3, total_steps=25, three_phase=True, cycle_momentum=False)
    for t in range(1, 26):
        one.step()
        assert opt.lr == schedules.one_cycle_lr(t, max_lr=0.3, total_steps=25, three_phase=True)


def test_the_schedules_match_their_formulas_at_landmark_steps(schedules):
    s = schedules
    assert s.step_lr(9, base_lr=0.1, step_size=10, gamma=0.5) == 0.1
    assert s.step_lr(10, base_lr=0.1, step_size=10, gamma=0.5) == 0.05
    assert s.multistep_lr(30, base_lr=0.1, milestones=[30, 30], gamma=0.5) == pytest.approx(0.025)
    assert s.multistep_lr(29, base_lr=0.1, milestones=[30, 30], gamma=0.5) == 0.1
    assert s.cosine_annealing_lr(20, base_lr=0.1, T_max=20, eta_min=0.01) == pytest.approx(0.01)
    assert s.cosine_annealing_lr(40, base_lr=0.1, T_max=20, eta_min=0.01) == pytest.approx(0.1)
    assert s.linear_lr(0, base_lr=0.3) == pytest.approx(0.1) and s.linear_lr(99, base_lr=0.3) == pytest.approx(0.3)
    assert s.cyclic_lr(5, base_lr=0.01, max_lr=0.1, step_size_up=5) == pytest.approx(0.1)
    assert s.cyclic_lr(10, base_lr=0.01, max_lr=0.1, step_size_up=5) == pytest.approx(0.01)
    assert s.cyclic_lr(15, base_lr=0.0, max_lr=0.1, step_size_up=5, mode="triangular2") == pytest.approx(0.05)
    assert s.one_cycle_lr(0, max_lr=0.1, total_steps=100) == pytest.approx(0.1 / 25)
    assert s.one_cycle_lr(29, max_lr=0.1, total_steps=100) == pytest.approx(0.1)   # peak at 0.3 * 100 - 1
    assert s.one_cycle_lr(99, max_lr=0.1, total_steps=100) == pytest.approx(0.1 / 25 / 1e4)


def test_multistep_does_not_change_or_need_sorted_milestones(schedules):
    milestones = [9, 2, 9]
    assert [schedules.multistep_lr(t, base_lr=1.0, milestones=milestones, gamma=0.5) for t in (1, 2, 8, 9)] == \
        [1.0, 0.5, 0.5, 0.125]
    assert milestones == [9, 2, 9]


# --------------------------------------------------------------------------------------- the range test


def _smoothed_directly(losses, beta):
    """The bias-corrected moving average written as a weighted mean: sum_j (1 - beta) beta^(i - j) l_j /
    (1 - beta^(i + 1))."""
    out = []
    for i in range(len(losses)):
        weights = (1 - beta) * beta ** (i - np.arange(i + 1))
        out.append(float(np.dot(weights, losses[:i + 1]) / (1 - beta ** (i + 1))))
    return np.array(out)


def test_the_range_test_sweeps_geometrically_and_smooths_with_bias_correction(schedules, check):
    called = []

    def step_loss(lr):
        called.append(lr)
        return 1.0 + math.sin(len(called))  # bounded: never diverges

    lrs, losses, smoothed, suggested = schedules.lr_range_test(step_loss, start_lr=1e-4, end_lr=1.0, num_iter=41,
                                                               beta=0.9)
    assert lrs.dtype == losses.dtype == smoothed.dtype == np.float64 and len(lrs) == len(losses) == 41
    assert np.allclose(lrs, np.logspace(-4, 0, 41), rtol=1e-12) and list(lrs) == called
    assert np.allclose(np.diff(np.log10(lrs)), 0.1, rtol=1e-9)       # ten steps per decade
    assert np.allclose(smoothed, _smoothed_directly(losses, 0.9), rtol=1e-12)
    assert type(suggested) is float and suggested == lrs[np.argmin(smoothed)] / 10


def test_the_range_test_stops_after_the_first_point_past_the_divergence_threshold(schedules):
    def step_loss(lr):
        return 1.0 if lr < 1e-3 else 50.0

    lrs, losses, smoothed, _ = schedules.lr_range_test(step_loss, beta=0.9)
    assert losses[-1] == 50.0 and smoothed[-1] > 4 * smoothed[:-1].min()
    assert all(smoothed[i] <= 4 * smoothed[:i].min() for i in range(1, len(smoothed) - 1))
    assert len(lrs) < 100


def test_the_range_test_stops_on_nan_and_suggests_from_the_finite_points(schedules):
    def step_loss(lr):
        return 1.0 - lr if lr < 0.1 else float("nan")

    with np.errstate(invalid="ignore"):
        lrs, losses, smoothed, suggested = schedules.lr_range_test(step_loss)
    assert math.isnan(smoothed[-1]) and np.all(np.isfinite(smoothed[:-1])) and lrs[-2] < 0.1 <= lrs[-1]
    assert suggested == lrs[-2] / 10


def test_the_smoothed_minimum_lags_the_raw_one_on_a_noisy_training(schedules, check):
    """The trap the docstring warns of, on the check's simulated training."""
    step_loss = check.simulated_training(curvatures=(4.0, 0.5, 0.05), start=(0.5, 1.0, 1.0), noise=0.2, seed=3)
    lrs, losses, smoothed, suggested = schedules.lr_range_test(step_loss)
    assert np.argmin(smoothed) > np.argmin(losses) and lrs[np.argmin(smoothed)] > 1.3 * lrs[np.argmin(losses)]
    assert len(lrs) < 100 and suggested < 2 / 4.0  # below the rate where this training diverges


@pytest.fixture(scope="module")
def check(ref):
    return submodule(ref, "check")


# ------------------------------------------------------------------------------------------- argument errors

#: (function, arguments, the argument the error must name).
INVALID = [
    ("step_lr", dict(t=-1, base_lr=0.1, step_size=5), "t"),
    ("step_lr", dict(t=2.5, base_lr=0.1, step_size=5), "t"),
    ("step_lr", dict(t=0, base_lr=-0.1, step_size=5), "base_lr"),
    ("step_lr", dict(t=0, base_lr=0.1, step_size=0), "step_size"),
    ("step_lr", dict(t=0, base_lr=0.1, step_size=5, gamma=0.0), "gamma"),
    ("multistep_lr", dict(t=0, base_lr=0.1, milestones=[3, -1]), "milestones"),
    ("multistep_lr", dict(t=0, base_lr=0.1, milestones=[3, 4.5]), "milestones"),
    ("exponential_lr", dict(t=0, base_lr=0.1, gamma=-0.5), "gamma"),
    ("cosine_annealing_lr", dict(t=0, base_lr=0.1, T_max=0), "T_max"),
    ("cosine_annealing_lr", dict(t=0, base_lr=0.1, T_max=10, eta_min=-0.01), "eta_min"),
    ("linear_lr", dict(t=0, base_lr=0.1, start_factor=0.0), "start_factor"),
    ("linear_lr", dict(t=0, base_lr=0.1, start_factor=1.5), "start_factor"),
    ("linear_lr", dict(t=0, base_lr=0.1, end_factor=1.5), "end_factor"),
    ("linear_lr", dict(t=0, base_lr=0.1, total_iters=0), "total_iters"),
    ("warmup_cosine_lr", dict(t=0, base_lr=0.1, warmup_iters=0, T_max=10), "warmup_iters"),
    ("warmup_cosine_lr", dict(t=0, base_lr=0.1, warmup_iters=5, T_max=10, start_factor=0.0), "start_factor"),
    ("warmup_cosine_lr", dict(t=0, base_lr=0.1, warmup_iters=5, T_max=0), "T_max"),
    ("cyclic_lr", dict(t=0, base_lr=0.01, max_lr=0.1, step_size_up=0), "step_size_up"),
    ("cyclic_lr", dict(t=0, base_lr=0.01, max_lr=0.1, step_size_down=-2), "step_size_down"),
    ("cyclic_lr", dict(t=0, base_lr=0.01, max_lr=0.1, mode="triangle"), "mode"),
    ("cyclic_lr", dict(t=0, base_lr=0.01, max_lr=-0.1), "max_lr"),
    ("one_cycle_lr", dict(t=0, max_lr=0.1, total_steps=0), "total_steps"),
    ("one_cycle_lr", dict(t=11, max_lr=0.1, total_steps=10), "t"),
    ("one_cycle_lr", dict(t=0, max_lr=0.1, total_steps=10, pct_start=1.5), "pct_start"),
    ("one_cycle_lr", dict(t=0, max_lr=0.1, total_steps=10, pct_start=0.1), "pct_start"),   # a phase of length 0
    ("one_cycle_lr", dict(t=0, max_lr=0.1, total_steps=10, anneal_strategy="cosine"), "anneal_strategy"),
    ("one_cycle_lr", dict(t=0, max_lr=0.1, total_steps=10, div_factor=0.0), "div_factor"),
    ("plateau_step", dict(metric=1.0, lr=0.1, state={}, factor=1.0), "factor"),
    ("plateau_step", dict(metric=1.0, lr=0.1, state={}, mode="minimum"), "mode"),
    ("plateau_step", dict(metric=1.0, lr=0.1, state={}, threshold_mode="relative"), "threshold_mode"),
    ("plateau_step", dict(metric=1.0, lr=0.1, state={}, patience=-1), "patience"),
    ("plateau_step", dict(metric=1.0, lr=0.1, state={}, cooldown=1.5), "cooldown"),
    ("plateau_step", dict(metric=1.0, lr=-0.1, state={}), "lr"),
    ("plateau_step", dict(metric=1.0, lr=0.1, state={"best": 1.0}), "state"),
    ("lr_range_test", dict(step_loss=lambda lr: 1.0, start_lr=0.0), "start_lr"),
    ("lr_range_test", dict(step_loss=lambda lr: 1.0, start_lr=1.0, end_lr=0.1), "end_lr"),
    ("lr_range_test", dict(step_loss=lambda lr: 1.0, num_iter=1), "num_iter"),
    ("lr_range_test", dict(step_loss=lambda lr: 1.0, beta=1.0), "beta"),
    ("lr_range_test", dict(step_loss=lambda lr: 1.0, diverge_threshold=1.0), "diverge_threshold"),
]


@pytest.mark.parametrize("function, arguments, name", INVALID,
                         ids=[f"{f}-{n}-{i}" for i, (f, _, n) in enumerate(INVALID)])
def test_invalid_arguments_raise_value_error_naming_the_argument(schedules, function, arguments, name):
    arguments = dict(arguments)
    positional = [arguments.pop(k) for k in ("t", "metric", "lr", "state", "step_loss") if k in arguments]
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        getattr(schedules, function)(*positional, **arguments)


@pytest.mark.parametrize("call", [
    lambda s: s.step_lr("3", base_lr=0.1, step_size=5),
    lambda s: s.exponential_lr(0, base_lr=None, gamma=0.9),
    lambda s: s.plateau_step("0.5", 0.1, {}),
    lambda s: s.plateau_step(0.5, 0.1, None),
    lambda s: s.lr_range_test(3.0),
    lambda s: s.one_cycle_lr(0, max_lr=0.1, total_steps=10, three_phase="yes"),
])
def test_arguments_of_the_wrong_type_raise_type_error(schedules, call):
    with pytest.raises(TypeError):
        call(schedules)


def test_the_classes_check_their_arguments_when_created(optim, schedules):
    opt = _ours(optim)
    with pytest.raises(ValueError, match="step_size"):
        schedules.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="factor"):
        schedules.ReduceLROnPlateau(opt, factor=1.5)
    with pytest.raises(ValueError, match="milestones"):
        schedules.SequentialLR(opt, [schedules.StepLR(opt, 3), schedules.ExponentialLR(opt, 0.9)], milestones=[])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        schedules.SequentialLR(opt, [schedules.StepLR(opt, 3), schedules.ReduceLROnPlateau(opt)], milestones=[4])
    with pytest.raises(ValueError, match="another optimizer"):
        schedules.SequentialLR(opt, [schedules.StepLR(opt, 3), schedules.StepLR(_ours(optim), 3)], milestones=[4])
    with pytest.raises(TypeError, match="lr"):
        schedules.StepLR(object(), step_size=3)


# ------------------------------------------------------------------------ the classes drive the optimizers


@pytest.mark.parametrize("kind", ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"])
def test_a_scheduler_sets_the_learning_rate_each_step_of_the_course_optimizers_uses(optim, schedules, kind):
    params = {"w": np.array([1.0, -2.0])}
    opt = getattr(optim, kind)(params, lr=0.1)
    scheduler = schedules.StepLR(opt, step_size=2, gamma=0.5)
    twin = getattr(optim, kind)({"w": params["w"].copy()}, lr=0.1)
    for t in range(6):
        grads = {"w": np.array([0.3, -0.1]) * (t + 1)}
        twin.lr = 0.1 * 0.5 ** (t // 2)     # the same schedule, set by hand
        opt.step(grads)
        twin.step(grads)
        scheduler.step()
        assert np.array_equal(params["w"], twin.params["w"])
    assert opt.lr == 0.1 * 0.5**3 and scheduler.get_last_lr() == [opt.lr]


def test_the_metric_scheduler_says_so(optim, schedules):
    opt = _ours(optim)
    assert schedules.ReduceLROnPlateau(opt).needs_metric is True
    assert schedules.StepLR(opt, 3).needs_metric is False and schedules.OneCycleLR(
        opt, 0.1, 10).needs_metric is False


def test_every_function_has_its_section_and_the_module_table_lists_it(ref, schedules):
    registered = submodule(ref, "_exercise").EXERCISES
    functions = ["step_lr", "multistep_lr", "exponential_lr", "cosine_annealing_lr", "linear_lr",
                 "warmup_cosine_lr", "cyclic_lr", "one_cycle_lr", "plateau_step", "lr_range_test"]
    for name in functions:
        assert registered[name].unit == "05_schedules" and registered[name].module == "schedules"
        assert name in schedules.__doc__ and registered[name].section in schedules.__doc__
