"""Unit 05, learning-rate schedules: whole schedules as cases, and the classic mistakes.

A schedule is checked over a whole run of steps, ``t = 0, 1, ..., N - 1`` for one setting (one case), so a
mistake at a single step (the first decay one step early, the cosine clamped after ``T_max``) shows. The calls are
independent (nothing is carried), and messages name the step: "the learning rate at t = 4". Reduce-on-plateau is
a run that carries the learning rate and the state from one call to the next, one metric per call. The range test
is one call that drives a simulated training (``optimlab.check.simulated_training``, fresh for every call).

The sizes quoted in the titles' settings are at base_lr 0.1 (see the settings of each case).
"""

import math

import numpy as np

from . import CaseFunction, Exercise, Mistake, case, run_case

RETURNS = "the learning rate"
PLATEAU_PARTS = ("the learning rate", "state")
RANGE_PARTS = ("the learning rates", "the losses", "the smoothed losses", "the suggested learning rate")


def schedule_case(label: str, steps: int, **settings) -> dict:
    """A case that evaluates a schedule at every step t = 0, ..., steps - 1 with the same settings."""
    return run_case(label, steps={"t": list(range(steps))}, carry=(), step_name="at t = {t}", **settings)


def _r(x: float, digits: int = 3) -> float:
    """A random setting rounded so that a failing case prints readably."""
    return float(round(x, digits))


# ------------------------------------------------------------------------------------------------------ step_lr


def _step_public():
    return [
        schedule_case("base_lr = 0.1, step_size = 5, gamma = 0.5, for 30 steps", 30,
                      base_lr=0.1, step_size=5, gamma=0.5),
        schedule_case("a decay at every step: step_size = 1, gamma = 0.9", 20, base_lr=0.1, step_size=1, gamma=0.9),
        schedule_case("torch's default gamma = 0.1, step_size = 7, base_lr = 1.0", 40,
                      base_lr=1.0, step_size=7, gamma=0.1),
    ]


def _step_hidden(rng):
    step_size = int(rng.integers(2, 12))
    return [schedule_case("a random step decay", int(rng.integers(3, 6)) * step_size + int(rng.integers(0, 3)),
                          base_lr=_r(rng.uniform(0.01, 1.0)), step_size=step_size,
                          gamma=_r(rng.uniform(0.1, 0.9), 2))]


def _step_early(t, *, base_lr, step_size, gamma=0.1):
    return base_lr * gamma ** ((t + 1) // step_size)


def _step_no_floor(t, *, base_lr, step_size, gamma=0.1):
    return base_lr * gamma ** (t / step_size)


STEP_LR = Exercise(
    name="step_lr", module="schedules", returns=RETURNS, public=_step_public, hidden=_step_hidden,
    mistakes=[
        Mistake("early", "decaying one step early: (t + 1) // step_size",
                "The first decay is at t = step_size: the steps t = 0, ..., step_size - 1 all have base_lr. The "
                "number of decays so far is t // step_size.", _step_early),
        Mistake("no_floor", "no floor: gamma ** (t / step_size)",
                "t / step_size is a float, so the rate shrinks a little at every step (that is exponential decay). "
                "Step decay counts whole periods: gamma ** (t // step_size).", _step_no_floor),
    ],
)

# ------------------------------------------------------------------------------------------------- multistep_lr


def _multistep_public():
    return [
        schedule_case("milestones = [10, 20, 30], gamma = 0.5", 40, base_lr=0.1, milestones=[10, 20, 30], gamma=0.5),
        schedule_case("a milestone listed twice: milestones = [15, 30, 30, 45], gamma = 0.5", 60,
                      base_lr=0.1, milestones=[15, 30, 30, 45], gamma=0.5),
        schedule_case("milestones out of order, one at t = 0: milestones = [25, 0, 8], gamma = 0.1", 35,
                      base_lr=1.0, milestones=[25, 0, 8], gamma=0.1),
    ]


def _multistep_hidden(rng):
    n = int(rng.integers(25, 50))
    milestones = sorted(int(m) for m in rng.choice(np.arange(1, n - 1), size=int(rng.integers(2, 4)), replace=False))
    milestones.insert(int(rng.integers(0, len(milestones))), milestones[int(rng.integers(0, len(milestones)))])
    return [schedule_case("random milestones, one of them listed twice", n, base_lr=_r(rng.uniform(0.01, 1.0)),
                          milestones=milestones, gamma=_r(rng.uniform(0.1, 0.9), 2))]


def _multistep_set(t, *, base_lr, milestones, gamma=0.1):
    return base_lr * gamma ** len([m for m in set(milestones) if m <= t])


def _multistep_late(t, *, base_lr, milestones, gamma=0.1):
    return base_lr * gamma ** len([m for m in milestones if m < t])


MULTISTEP_LR = Exercise(
    name="multistep_lr", module="schedules", returns=RETURNS, public=_multistep_public, hidden=_multistep_hidden,
    mistakes=[
        Mistake("set", "a repeated milestone counted once",
                "torch counts the milestones with a collections.Counter: a milestone listed twice decays the rate "
                "twice at that step. Count every entry of the list (no set()).", _multistep_set),
        Mistake("late", "decaying one step late: milestones < t",
                "The rate decays at the milestone's own step: at t = m the milestone m counts. Count m <= t.",
                _multistep_late),
    ],
)

# ----------------------------------------------------------------------------------------------- exponential_lr


def _exponential_public():
    return [
        schedule_case("base_lr = 0.1, gamma = 0.9", 30, base_lr=0.1, gamma=0.9),
        schedule_case("a fast decay: base_lr = 1.0, gamma = 0.5", 20, base_lr=1.0, gamma=0.5),
    ]


def _exponential_hidden(rng):
    return [schedule_case("a random exponential decay", int(rng.integers(20, 50)),
                          base_lr=_r(rng.uniform(0.01, 1.0)), gamma=_r(rng.uniform(0.8, 0.99)))]


def _exponential_plus_one(t, *, base_lr, gamma):
    return base_lr * gamma ** (t + 1)


EXPONENTIAL_LR = Exercise(
    name="exponential_lr", module="schedules", returns=RETURNS, public=_exponential_public,
    hidden=_exponential_hidden,
    mistakes=[
        Mistake("plus_one", "one decay too many: gamma ** (t + 1)",
                "At t = 0 the rate is base_lr itself: the first decay comes with the first scheduler.step(). Use "
                "gamma ** t.", _exponential_plus_one),
    ],
)

# ------------------------------------------------------------------------------------------ cosine_annealing_lr


def _cosine_public():
    return [
        schedule_case("T_max = 20, three half-periods (60 steps): past T_max the cosine climbs back", 60,
                      base_lr=0.1, T_max=20, eta_min=0.0),
        schedule_case("T_max = 10, eta_min = 0.01, for 30 steps", 30, base_lr=0.1, T_max=10, eta_min=0.01),
        schedule_case("a short period: T_max = 3, base_lr = 1.0", 15, base_lr=1.0, T_max=3, eta_min=0.0),
    ]


def _cosine_hidden(rng):
    T_max = int(rng.integers(4, 20))
    return [schedule_case("a random cosine over more than one half-period", int(T_max * rng.uniform(2.0, 3.0)),
                          base_lr=_r(rng.uniform(0.05, 1.0)), T_max=T_max,
                          eta_min=float(rng.choice([0.0, 0.001, 0.01])))]


def _cosine(t, base_lr, T, eta_min):
    return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / T)) / 2


def _cosine_T_minus_one(t, *, base_lr, T_max, eta_min=0.0):
    return _cosine(t, base_lr, T_max - 1, eta_min)


def _cosine_from_one(t, *, base_lr, T_max, eta_min=0.0):
    return _cosine(t + 1, base_lr, T_max, eta_min)


def _cosine_clamped(t, *, base_lr, T_max, eta_min=0.0):
    return _cosine(min(t, T_max), base_lr, T_max, eta_min)


COSINE_ANNEALING_LR = Exercise(
    name="cosine_annealing_lr", module="schedules", returns=RETURNS, public=_cosine_public, hidden=_cosine_hidden,
    mistakes=[
        Mistake("T_minus_one", "T_max - 1 in the cosine",
                "The cosine reaches eta_min at t = T_max: use pi * t / T_max, not pi * t / (T_max - 1).",
                _cosine_T_minus_one),
        Mistake("from_one", "counting the steps from 1",
                "The first step is t = 0, where the rate is base_lr: use t in the cosine, not t + 1.",
                _cosine_from_one),
        Mistake("clamped", "the cosine clamped after T_max",
                "torch's cosine is not clamped: past T_max the rate climbs back to base_lr at t = 2 * T_max (a "
                "period of 2 * T_max). Use the formula for every t, without min(t, T_max).", _cosine_clamped),
    ],
)

# ----------------------------------------------------------------------------------------------------- linear_lr


def _linear_public():
    return [
        schedule_case("torch's defaults: start_factor = 1/3, end_factor = 1, total_iters = 5", 15,
                      base_lr=0.1, start_factor=1 / 3, end_factor=1.0, total_iters=5),
        schedule_case("a warmup from a tenth: start_factor = 0.1, total_iters = 10", 25,
                      base_lr=0.1, start_factor=0.1, end_factor=1.0, total_iters=10),
        schedule_case("a linear decay: start_factor = 1, end_factor = 0.1, total_iters = 20", 30,
                      base_lr=1.0, start_factor=1.0, end_factor=0.1, total_iters=20),
    ]


def _linear_hidden(rng):
    total_iters = int(rng.integers(3, 20))
    if rng.random() < 0.7:
        start, end = _r(rng.uniform(0.05, 0.6)), 1.0
    else:
        start, end = 1.0, _r(rng.uniform(0.05, 0.6))
    return [schedule_case("a random linear ramp", total_iters + int(rng.integers(5, 15)),
                          base_lr=_r(rng.uniform(0.01, 1.0)), start_factor=start, end_factor=end,
                          total_iters=total_iters)]


def _linear_from_zero(t, *, base_lr, start_factor=1 / 3, end_factor=1.0, total_iters=5):
    return base_lr * end_factor * min(t, total_iters) / total_iters


def _linear_plus_one(t, *, base_lr, start_factor=1 / 3, end_factor=1.0, total_iters=5):
    return base_lr * (start_factor + (end_factor - start_factor) * min(t + 1, total_iters) / total_iters)


def _linear_no_end(t, *, base_lr, start_factor=1 / 3, end_factor=1.0, total_iters=5):
    return base_lr * (start_factor + (end_factor - start_factor) * t / total_iters)


LINEAR_LR = Exercise(
    name="linear_lr", module="schedules", returns=RETURNS, public=_linear_public, hidden=_linear_hidden,
    mistakes=[
        Mistake("from_zero", "a ramp from 0 (start_factor ignored)",
                "The ramp starts at start_factor * base_lr, not at 0: the factor is start_factor + (end_factor - "
                "start_factor) * min(t, total_iters) / total_iters.", _linear_from_zero),
        Mistake("plus_one", "(t + 1) / total_iters in the ramp",
                "At t = 0 the factor is start_factor, and it reaches end_factor at t = total_iters: the fraction of "
                "the ramp done is min(t, total_iters) / total_iters.", _linear_plus_one),
        Mistake("no_end", "the ramp not stopped at total_iters",
                "From t = total_iters on the factor stays at end_factor: use min(t, total_iters).", _linear_no_end),
    ],
)

# ---------------------------------------------------------------------------------------------- warmup_cosine_lr


def _warmup_public():
    return [
        schedule_case("warmup_iters = 5, start_factor = 0.1, T_max = 15: torch gives 0.01, 0.028, ..., 0.1, 0.0989",
                      30, base_lr=0.1, warmup_iters=5, T_max=15, start_factor=0.1, eta_min=0.0),
        schedule_case("warmup_iters = 10, torch's start_factor = 1/3, T_max = 30, eta_min = 0.001", 50,
                      base_lr=0.1, warmup_iters=10, T_max=30, start_factor=1 / 3, eta_min=0.001),
        schedule_case("a one-step warmup: warmup_iters = 1, start_factor = 0.5, T_max = 8", 20,
                      base_lr=1.0, warmup_iters=1, T_max=8, start_factor=0.5, eta_min=0.0),
    ]


def _warmup_hidden(rng):
    warmup, T_max = int(rng.integers(2, 12)), int(rng.integers(5, 30))
    return [schedule_case("a random warmup and cosine", warmup + int(T_max * rng.uniform(1.2, 2.2)),
                          base_lr=_r(rng.uniform(0.05, 1.0)), warmup_iters=warmup, T_max=T_max,
                          start_factor=_r(rng.uniform(0.05, 0.5)), eta_min=float(rng.choice([0.0, 0.001])))]


def _warmup(ramp):
    def impl(t, *, base_lr, warmup_iters, T_max, start_factor=1 / 3, eta_min=0.0):
        if t < warmup_iters:
            return base_lr * ramp(t, warmup_iters, start_factor)
        return _cosine(t - warmup_iters, base_lr, T_max, eta_min)
    return impl


def _warmup_unshifted(t, *, base_lr, warmup_iters, T_max, start_factor=1 / 3, eta_min=0.0):
    if t < warmup_iters:
        return base_lr * (start_factor + (1 - start_factor) * t / warmup_iters)
    return _cosine(t, base_lr, T_max, eta_min)


WARMUP_COSINE_LR = Exercise(
    name="warmup_cosine_lr", module="schedules", returns=RETURNS, public=_warmup_public, hidden=_warmup_hidden,
    mistakes=[
        Mistake("from_zero", "a warmup from 0 (start_factor ignored)",
                "torch's LinearLR warmup starts at start_factor * base_lr (it refuses 0): the factor is "
                "start_factor + (1 - start_factor) * t / warmup_iters.",
                _warmup(lambda t, w, f: t / w)),
        Mistake("plus_one", "a warmup with (t + 1) / warmup_iters",
                "The first rate (t = 0) is start_factor * base_lr: the warmup's fraction is t / warmup_iters, and the "
                "cosine takes over at t = warmup_iters.", _warmup(lambda t, w, f: f + (1 - f) * (t + 1) / w)),
        Mistake("unshifted", "the cosine not restarted at the milestone",
                "At the milestone SequentialLR starts the cosine at its own step 0: its step is t - warmup_iters, "
                "so the rate is base_lr at t = warmup_iters.", _warmup_unshifted),
    ],
)

# ------------------------------------------------------------------------------------------------------ cyclic_lr


def _cyclic_public():
    return [
        schedule_case("triangular: base_lr = 0.01, max_lr = 0.1, step_size_up = 5 (a cycle is 10 steps)", 40,
                      base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=None, mode="triangular", gamma=1.0),
        schedule_case("triangular2: the amplitude halves every cycle; step_size_up = 4, step_size_down = 6", 50,
                      base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=6, mode="triangular2", gamma=1.0),
        schedule_case("exp_range: gamma = 0.95, step_size_up = 5", 40,
                      base_lr=0.01, max_lr=0.1, step_size_up=5, step_size_down=None, mode="exp_range", gamma=0.95),
        schedule_case("triangular, asymmetric: 3 steps up, 7 down, base_lr = 0.1, max_lr = 1.0", 30,
                      base_lr=0.1, max_lr=1.0, step_size_up=3, step_size_down=7, mode="triangular", gamma=1.0),
    ]


def _cyclic_hidden(rng):
    up = int(rng.integers(2, 9))
    down = None if rng.random() < 0.5 else int(rng.integers(2, 9))
    mode = str(rng.choice(["triangular", "triangular2", "exp_range"]))
    base = _r(rng.uniform(0.001, 0.05), 4)
    return [schedule_case(f"a random {mode} cycle", int(rng.integers(3, 5)) * (up + (down or up)),
                          base_lr=base, max_lr=_r(base + rng.uniform(0.05, 1.0)), step_size_up=up,
                          step_size_down=down, mode=mode, gamma=_r(rng.uniform(0.9, 0.99)))]


def _cyclic(t, base_lr, max_lr, up, down, mode, gamma, *, halves=False, per_cycle=False):
    """Smith's triangle written directly, with switches for the mistakes."""
    down = up if down is None else down
    cycle = math.floor(1 + t / (up + down))
    into = t - (cycle - 1) * (up + down)                 # steps into the current cycle
    height = into / up if into <= up else 1 - (into - up) / down
    if mode == "triangular2":
        halvings = 2 * (cycle - 1) + (into > up) if halves else cycle - 1
        scale = 0.5**halvings
    elif mode == "exp_range":
        scale = gamma**cycle if per_cycle else gamma**t
    else:
        scale = 1.0
    return base_lr + (max_lr - base_lr) * height * scale


def _cyclic_variant(**switches):
    def impl(t, *, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular", gamma=1.0):
        return _cyclic(t, base_lr, max_lr, step_size_up, step_size_down, mode, gamma, **switches)
    return impl


def _cyclic_whole_cycle(t, *, base_lr, max_lr, step_size_up=2000, step_size_down=None, mode="triangular",
                        gamma=1.0):
    """A cycle of step_size_up steps: half of them up, half down."""
    return _cyclic(t, base_lr, max_lr, step_size_up / 2, step_size_up / 2, mode, gamma)


CYCLIC_LR = Exercise(
    name="cyclic_lr", module="schedules", returns=RETURNS, public=_cyclic_public, hidden=_cyclic_hidden,
    mistakes=[
        Mistake("whole_cycle", "step_size_up taken as the whole cycle",
                "In Smith's paper and in torch the step size is half a cycle: the rate goes up for step_size_up "
                "steps, then down for step_size_down (by default as many), so a cycle is step_size_up + "
                "step_size_down steps.", _cyclic_whole_cycle),
        Mistake("half_cycles", "triangular2 halving every half cycle",
                "triangular2 halves the amplitude once per cycle, after the rate has gone up and down: the factor is "
                "1 / 2**(cycle - 1), with cycle = floor(1 + t / (step_size_up + step_size_down)).",
                _cyclic_variant(halves=True)),
        Mistake("exp_per_cycle", "exp_range scaled per cycle instead of per step",
                "exp_range multiplies the amplitude by gamma**t, t the step (torch's scale_mode 'iterations'), not "
                "by a power of the cycle number.", _cyclic_variant(per_cycle=True)),
    ],
)

# --------------------------------------------------------------------------------------------------- one_cycle_lr


def _one_cycle_public():
    return [
        schedule_case("max_lr = 0.1, total_steps = 50, torch's defaults (pct_start = 0.3, cos), t up to 50 (the "
                      "rate after the last step)", 51, max_lr=0.1, total_steps=50, pct_start=0.3,
                      anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4, three_phase=False),
        schedule_case("linear annealing: total_steps = 40, pct_start = 0.25, div_factor = 10, final_div_factor = 100",
                      40, max_lr=1.0, total_steps=40, pct_start=0.25, anneal_strategy="linear", div_factor=10.0,
                      final_div_factor=100.0, three_phase=False),
        schedule_case("three phases: total_steps = 60, pct_start = 0.3, div_factor = 5, final_div_factor = 50", 60,
                      max_lr=0.1, total_steps=60, pct_start=0.3, anneal_strategy="cos", div_factor=5.0,
                      final_div_factor=50.0, three_phase=True),
    ]


def _one_cycle_hidden(rng):
    total = int(rng.integers(20, 60))
    return [schedule_case("a random one-cycle schedule", total, max_lr=_r(rng.uniform(0.05, 1.0)),
                          total_steps=total, pct_start=_r(rng.uniform(0.15, 0.45), 2),
                          anneal_strategy=str(rng.choice(["cos", "linear"])),
                          div_factor=float(rng.choice([5.0, 10.0, 25.0])),
                          final_div_factor=float(rng.choice([10.0, 100.0, 1e4])),
                          three_phase=bool(rng.random() < 0.3))]


def _one_cycle(t, max_lr, total, pct, strategy, div, final_div, three, *, peak_shift=1.0, end_shift=1.0,
               fastai_final=False):
    """The one-cycle rate written phase by phase, with switches for the mistakes."""
    initial = max_lr / div
    final = max_lr / final_div if fastai_final else initial / final_div
    up = pct * total - peak_shift
    if three:
        phases = [(0.0, up, initial, max_lr), (up, 2 * up, max_lr, initial),
                  (2 * up, total - end_shift, initial, final)]
    else:
        phases = [(0.0, up, initial, max_lr), (up, total - end_shift, max_lr, final)]
    for k, (start, end, a, b) in enumerate(phases):
        if t <= end or k == len(phases) - 1:
            p = (t - start) / (end - start)
            return a + (b - a) * p if strategy == "linear" else b + (a - b) * (1 + math.cos(math.pi * p)) / 2
    raise AssertionError


def _one_cycle_variant(**switches):
    def impl(t, *, max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
             final_div_factor=1e4, three_phase=False):
        return _one_cycle(t, max_lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor,
                          three_phase, **switches)
    return impl


ONE_CYCLE_LR = Exercise(
    name="one_cycle_lr", module="schedules", returns=RETURNS, public=_one_cycle_public, hidden=_one_cycle_hidden,
    mistakes=[
        Mistake("peak_at_pct", "the peak at pct_start * total_steps instead of one step before",
                "torch's first phase ends, at max_lr, at step pct_start * total_steps - 1 (and the second of three "
                "at 2 * pct_start * total_steps - 2).", _one_cycle_variant(peak_shift=0.0)),
        Mistake("end_at_total", "the last phase ending at total_steps instead of total_steps - 1",
                "The last of the total_steps training steps is t = total_steps - 1, and torch's last phase reaches "
                "its final rate there.", _one_cycle_variant(end_shift=0.0)),
        Mistake("final_div", "a final rate of max_lr / final_div_factor",
                "torch's final rate divides by both factors: initial_lr / final_div_factor = max_lr / (div_factor * "
                "final_div_factor). Ending at max_lr / final_div_factor is fastai's convention.",
                _one_cycle_variant(fastai_final=True)),
    ],
)

# --------------------------------------------------------------------------------------------------- plateau_step


def plateau_case(label: str, metrics: list[float], *, lr: float = 0.1, **settings) -> dict:
    """A run of reduce-on-plateau: one call per metric, the learning rate and the state carried."""
    return run_case(label, steps={"metric": [float(m) for m in metrics]}, carry=("lr", "state"),
                    step_name="after call {step} (metric {metric:g})", lr=lr, state={}, **settings)


_PLATEAU_DEFAULTS = dict(mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel", cooldown=0,
                         min_lr=0.0, eps=1e-8)


def _plateau_settings(**changes):
    return dict(_PLATEAU_DEFAULTS, **changes)


def _plateau_public():
    slow = [round(1.0 - 3e-5 * k, 6) for k in range(20)]
    return [
        plateau_case("a constant metric, patience = 2, factor = 0.5: torch cuts on the 4th call", [1.0] * 15,
                     **_plateau_settings(factor=0.5, patience=2)),
        plateau_case("improvements smaller than the threshold (3e-5 per call, threshold = 1e-4 relative)", slow,
                     **_plateau_settings(factor=0.5, patience=2)),
        plateau_case("a dip to 0.6, then a slow climb back (each call better than the last, not than the best)",
                     [1.0, 0.8, 0.6, 0.66, 0.65, 0.64, 0.63, 0.62, 0.615, 0.61, 0.605, 0.602, 0.601, 0.6005, 0.59,
                      0.595, 0.594, 0.593, 0.592, 0.591], **_plateau_settings(factor=0.5, patience=3)),
        plateau_case("cooldown = 2 after each cut, patience = 1", [1.0, 0.9, 0.9, 0.9, 0.9, 0.85, 0.9, 0.9, 0.9, 0.9,
                                                                     0.9, 0.9, 0.9, 0.9, 0.9, 0.9],
                     **_plateau_settings(factor=0.5, patience=1, cooldown=2)),
        plateau_case("min_lr = 0.01 and eps = 0.005: the last cut would be smaller than eps, so it is skipped",
                     [0.5] * 10, **_plateau_settings(factor=0.5, patience=0, min_lr=0.01, eps=0.005)),
        plateau_case("mode = 'max' with an absolute threshold of 0.01 (an accuracy)",
                     [0.5, 0.6, 0.7, 0.705, 0.71, 0.708, 0.72, 0.721, 0.722, 0.73, 0.74, 0.745, 0.748, 0.749, 0.75,
                      0.75], **_plateau_settings(mode="max", threshold=0.01, threshold_mode="abs", factor=0.2,
                                                  patience=2, cooldown=1)),
        plateau_case("negative metrics with a relative threshold: slowly worse, yet never a cut",
                     [round(-1.0 + 4e-5 * k, 6) for k in range(15)], **_plateau_settings(factor=0.5, patience=2)),
    ]


def _plateau_hidden(rng):
    n = int(rng.integers(20, 40))
    level, metrics = 1.0, []
    for _ in range(n):
        if rng.random() < 0.35:
            level *= float(rng.uniform(0.8, 0.99))
        metrics.append(round(level * float(1 + rng.choice([0.0, 0.0, rng.uniform(-2e-4, 0.02)])), 5))
    mode = "max" if rng.random() < 0.25 else "min"
    if mode == "max":
        metrics = [round(1.0 - m, 5) for m in metrics]
    lr = _r(rng.uniform(0.01, 0.5))
    # min_lr and eps on the scale of lr, so that some runs reach min_lr and skip a cut smaller than eps
    settings = _plateau_settings(mode=mode, factor=_r(rng.uniform(0.2, 0.8), 2), patience=int(rng.integers(0, 4)),
                                 threshold=float(rng.choice([1e-4, 1e-3, 0.01])),
                                 threshold_mode=str(rng.choice(["rel", "abs"])), cooldown=int(rng.integers(0, 3)),
                                 min_lr=float(rng.choice([0.0, _r(lr / 8, 5), _r(lr / 8, 5), _r(lr / 20, 5)])),
                                 eps=float(rng.choice([1e-8, _r(lr / 20, 5), _r(lr / 10, 5)])))
    return [plateau_case(f"a random {mode} metric sequence", metrics, lr=lr, **settings)]


def _plateau(metric, lr, state, *, mode="min", factor=0.1, patience=10, threshold=1e-4, threshold_mode="rel",
             cooldown=0, min_lr=0.0, eps=1e-8, keras=False, last=False, no_threshold=False, no_cooldown=False,
             no_eps=False, no_min_lr=False):
    """ReduceLROnPlateau written out, with switches for the mistakes."""
    best = state.get("best", math.inf if mode == "min" else -math.inf)
    bad, cool = state.get("num_bad_epochs", 0), state.get("cooldown_counter", 0)
    tau = 0.0 if no_threshold else threshold
    if mode == "min":
        better = metric < (best * (1 - tau) if threshold_mode == "rel" else best - tau)
    else:
        better = metric > (best * (1 + tau) if threshold_mode == "rel" else best + tau)
    if better:
        bad = 0
    else:
        bad += 1
    if better or last:
        best = metric
    if cool > 0 and not no_cooldown:
        cool, bad = cool - 1, 0
    if (bad >= patience) if keras else (bad > patience):
        new = lr * factor if no_min_lr else max(lr * factor, min_lr)
        if no_eps or lr - new > eps:
            lr = new
        cool, bad = (0 if no_cooldown else cooldown), 0
    return lr, {"best": best, "num_bad_epochs": bad, "cooldown_counter": cool}


def _plateau_variant(**switches):
    def impl(metric, lr, state, **settings):
        return _plateau(metric, lr, state, **settings, **switches)
    return impl


def _plateau_in_place(metric, lr, state, **settings):
    new_lr, new_state = _plateau(metric, lr, state, **settings)
    state.update(new_state)
    return new_lr, state


PLATEAU_STEP = Exercise(
    name="plateau_step", module="schedules", returns="the new learning rate and state", parts=PLATEAU_PARTS,
    public=_plateau_public, hidden=_plateau_hidden, points=2,
    mistakes=[
        Mistake("keras", "reducing one call early (Keras' rule, num_bad_epochs >= patience)",
                "torch cuts the rate when the number of bad epochs *exceeds* the patience (num_bad_epochs > "
                "patience): a constant metric with patience 2 is cut on the 4th call, not the 3rd.",
                _plateau_variant(keras=True)),
        Mistake("last", "comparing with the last metric instead of the best",
                "A metric is better only when it beats the best one so far (state['best']), by the threshold; a "
                "metric that is better than the previous one but not than the best is a bad epoch.",
                _plateau_variant(last=True)),
        Mistake("no_threshold", "an improvement smaller than the threshold counted",
                "In 'min' mode with threshold_mode 'rel', a metric is better only when metric < best * (1 - "
                "threshold) ('abs': best - threshold; 'max' mode: > best * (1 + threshold), > best + threshold).",
                _plateau_variant(no_threshold=True)),
        Mistake("no_cooldown", "no cooldown after a cut",
                "After a cut, cooldown_counter = cooldown; while it is > 0, each call decrements it and resets "
                "num_bad_epochs to 0, so the epochs right after a cut do not count.",
                _plateau_variant(no_cooldown=True)),
        Mistake("no_eps", "a cut smaller than eps applied",
                "The new rate max(lr * factor, min_lr) is applied only if lr - new_lr > eps: a cut too small to "
                "matter (at min_lr, say) is skipped. The counters are reset either way.",
                _plateau_variant(no_eps=True)),
        Mistake("no_min_lr", "min_lr ignored", "The rate never goes below min_lr: new_lr = max(lr * factor, min_lr).",
                _plateau_variant(no_min_lr=True)),
        Mistake("in_place", "modifying an input in place",
                "`state['num_bad_epochs'] += 1` changes the caller's state; build and return a new dict.",
                _plateau_in_place, detected_by="check"),
    ],
)

# -------------------------------------------------------------------------------------------------- lr_range_test


def _training(**kwargs) -> CaseFunction:
    return CaseFunction("simulated_training", kwargs)


def _range_case(label: str, training: dict, **settings) -> dict:
    return case(label, step_loss=_training(**training), **settings)


_RANGE_DEFAULTS = dict(start_lr=1e-7, end_lr=10.0, num_iter=100, beta=0.98, diverge_threshold=4.0)


def _range_public():
    return [
        _range_case("fastai's sweep (1e-7 to 10 in 100 steps, beta = 0.98) on a training without noise",
                    dict(curvatures=[4.0, 0.5, 0.05], start=[0.5, 1.0, 1.0], floor=0.1, noise=0.0, seed=0),
                    **_RANGE_DEFAULTS),
        _range_case("the same sweep on noisy batches (noise = 0.2)",
                    dict(curvatures=[4.0, 0.5, 0.05], start=[0.5, 1.0, 1.0], floor=0.1, noise=0.2, seed=3),
                    **_RANGE_DEFAULTS),
        _range_case("a short sweep: 1e-4 to 10 in 60 steps, beta = 0.9, diverge_threshold = 3",
                    dict(curvatures=[2.0, 0.3], start=[1.0, 1.0], floor=0.1, noise=0.1, seed=0),
                    start_lr=1e-4, end_lr=10.0, num_iter=60, beta=0.9, diverge_threshold=3.0),
    ]


def _range_hidden(rng):
    curvatures = sorted((_r(float(h), 3) for h in 10 ** rng.uniform(-1.5, 1.0, size=int(rng.integers(2, 4)))),
                        reverse=True)
    training = dict(curvatures=curvatures, start=[_r(float(w), 2) for w in rng.uniform(0.3, 1.5, len(curvatures))],
                    floor=_r(rng.uniform(0.05, 0.3), 2), noise=float(rng.choice([0.0, 0.05, 0.1, 0.2])),
                    seed=int(rng.integers(0, 1000)))
    return [_range_case("a random simulated training", training, start_lr=float(rng.choice([1e-7, 1e-6, 1e-5, 1e-4])),
                        end_lr=float(rng.choice([10.0, 30.0])), num_iter=int(rng.integers(50, 101)),
                        beta=float(rng.choice([0.9, 0.95, 0.98])),
                        diverge_threshold=float(rng.choice([3.0, 4.0, 5.0])))]


def _range(step_loss, *, start_lr=1e-7, end_lr=10.0, num_iter=100, beta=0.98, diverge_threshold=4.0,
           correct=True, linear=False, stop=True, stop_raw=False, divide=10.0, suggest_raw=False):
    """The range test written out, with switches for the mistakes."""
    lrs, losses, smoothed = [], [], []
    average = 0.0
    for i in range(num_iter):
        fraction = i / (num_iter - 1)
        lr = start_lr + (end_lr - start_lr) * fraction if linear else start_lr * (end_lr / start_lr) ** fraction
        loss = float(step_loss(lr))
        average = beta * average + (1 - beta) * loss
        lrs.append(lr)
        losses.append(loss)
        smoothed.append(average / (1 - beta ** (i + 1)) if correct else average)
        watched = losses if stop_raw else smoothed
        if stop and i > 0 and (not math.isfinite(watched[-1]) or watched[-1] > diverge_threshold * min(watched[:-1])):
            break
    pick = losses if suggest_raw else smoothed
    return (np.array(lrs), np.array(losses), np.array(smoothed), float(lrs[int(np.argmin(pick))] / divide))


def _range_variant(**switches):
    def impl(step_loss, *, start_lr=1e-7, end_lr=10.0, num_iter=100, beta=0.98, diverge_threshold=4.0):
        return _range(step_loss, start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, beta=beta,
                      diverge_threshold=diverge_threshold, **switches)
    return impl


LR_RANGE_TEST = Exercise(
    name="lr_range_test", module="schedules", returns="the sweep and the suggested learning rate",
    parts=RANGE_PARTS, public=_range_public, hidden=_range_hidden, points=2,
    mistakes=[
        Mistake("no_bias_correction", "a moving average without bias correction",
                "The average starts at 0, so its first values are far too small (about (1 - beta) * loss at the "
                "first step): divide it by 1 - beta**(i + 1), as Adam corrects its moments.",
                _range_variant(correct=False)),
        Mistake("linear", "a linear sweep instead of a geometric one",
                "The rates grow by the same factor at every step, start_lr * (end_lr / start_lr)**(i / (num_iter - "
                "1)), so each decade gets as many steps; a linear sweep spends almost all of them near end_lr.",
                _range_variant(linear=True)),
        Mistake("never_stops", "not stopping when the loss diverges",
                "Stop after recording the first point whose smoothed loss exceeds diverge_threshold times the best "
                "smoothed loss before it (or is not finite): past it the training has diverged.",
                _range_variant(stop=False)),
        Mistake("stop_raw", "stopping on the raw loss instead of the smoothed one",
                "The stopping rule watches the smoothed loss: one noisy batch should not end the test.",
                _range_variant(stop_raw=True)),
        Mistake("no_tenth", "suggesting the minimum itself",
                "The rate at the minimum of the smoothed loss is already close to where training diverges: the rule "
                "suggests a tenth of it (an order of magnitude lower).", _range_variant(divide=1.0)),
        Mistake("suggest_raw", "suggesting from the raw losses",
                "The suggestion is a tenth of the rate at the minimum of the *smoothed* loss; the raw losses are too "
                "noisy to pick a minimum from.", _range_variant(suggest_raw=True)),
    ],
)

EXERCISES = [STEP_LR, MULTISTEP_LR, EXPONENTIAL_LR, COSINE_ANNEALING_LR, LINEAR_LR, WARMUP_COSINE_LR, CYCLIC_LR,
             ONE_CYCLE_LR, PLATEAU_STEP, LR_RANGE_TEST]
