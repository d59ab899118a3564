r"""Learning-rate schedules (unit 05), in the conventions of ``torch.optim.lr_scheduler``.

A schedule is a function of the step: each one here is a *pure* function that takes the step :math:`t` and the
schedule's settings and returns the learning rate for that step, a Python float. Reduce-on-plateau is the
exception, since it reacts to a metric: :func:`plateau_step` is one call of a state machine, ``(new_lr,
new_state)``, like the optimizers' update functions. The learning-rate range test, :func:`lr_range_test`, runs a
short training with a growing learning rate and suggests one.

The classes are thin shells with ``torch.optim.lr_scheduler``'s names and defaults: they hold an optimizer of
:mod:`optimlab.optim`, call the pure function in ``step()`` and write the result into ``optimizer.lr``.

======================  =================  ===========================================
function                class              notebook section
======================  =================  ===========================================
step_lr                 StepLR             1. A schedule is a function of the step
multistep_lr            MultiStepLR        1. A schedule is a function of the step
exponential_lr          ExponentialLR      1. A schedule is a function of the step
cosine_annealing_lr     CosineAnnealingLR  3. Cosine annealing and warmup
linear_lr               LinearLR           3. Cosine annealing and warmup
warmup_cosine_lr        SequentialLR       3. Cosine annealing and warmup
cyclic_lr               CyclicLR           4. Cyclical schedules and one cycle
one_cycle_lr            OneCycleLR         4. Cyclical schedules and one cycle
plateau_step            ReduceLROnPlateau  6. Reduce on plateau
lr_range_test           (none)             7. The learning-rate range test
======================  =================  ===========================================

Conventions, as torch's:

- The step :math:`t` counts from 0: :math:`t = 0` is the learning rate of the first optimizer step. Creating a
  scheduler already takes its first step (``last_epoch`` goes from -1 to 0) and writes the :math:`t = 0` learning
  rate into the optimizer; each ``scheduler.step()`` after an ``optimizer.step()`` moves to the next :math:`t`.
- The base learning rate :math:`\eta_0` (``base_lr``) is the optimizer's learning rate when the first scheduler
  was attached to it; it is kept as ``optimizer.initial_lr`` (torch's ``group["initial_lr"]``), so a second
  scheduler on the same optimizer starts from the same base.
- Most of torch's classes compute the next learning rate from the current one (a recursive form); these
  functions and classes compute it from :math:`t` and the base (the closed form). The two agree to rounding
  (about 1e-16 relative) as long as the scheduler alone sets the learning rate; they differ when something else
  changes it between steps.

Arguments are checked before anything is computed: a value out of range raises ``ValueError`` naming the
argument, a value that is not a number ``TypeError``.
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

import numpy as np

from ._exercise import exercise

__all__ = [
    "step_lr", "multistep_lr", "exponential_lr", "cosine_annealing_lr", "linear_lr", "warmup_cosine_lr",
    "cyclic_lr", "one_cycle_lr", "plateau_step", "lr_range_test",
    "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "SequentialLR",
    "CyclicLR", "OneCycleLR", "ReduceLROnPlateau",
]

# --------------------------------------------------------------------------------------------------------------
# Checking arguments (given; the functions and the classes share these).

#: For each real-valued setting: (what its values must be, in words; the test).
_RULES = {
    "base_lr": ("at least 0", lambda x: x >= 0),
    "max_lr": ("at least 0", lambda x: x >= 0),
    "lr": ("at least 0", lambda x: x >= 0),
    "gamma": ("greater than 0 (the learning rate is multiplied by it)", lambda x: x > 0),
    "eta_min": ("at least 0 (it is the lowest learning rate of the cosine)", lambda x: x >= 0),
    "start_factor": ("in (0, 1] (torch's LinearLR refuses 0: it divides by the starting factor)",
                     lambda x: 0 < x <= 1),
    "end_factor": ("in [0, 1]", lambda x: 0 <= x <= 1),
    "step_size_up": ("greater than 0", lambda x: x > 0),
    "step_size_down": ("greater than 0 (or None: the same as step_size_up)", lambda x: x > 0),
    "pct_start": ("in [0, 1] (the fraction of the steps spent warming up)", lambda x: 0 <= x <= 1),
    "div_factor": ("greater than 0 (the first learning rate is max_lr / div_factor)", lambda x: x > 0),
    "final_div_factor": ("greater than 0", lambda x: x > 0),
    "factor": ("in [0, 1) (the learning rate is multiplied by it; 1 would never reduce it)",
               lambda x: 0 <= x < 1),
    "threshold": ("at least 0", lambda x: x >= 0),
    "min_lr": ("at least 0", lambda x: x >= 0),
    "eps": ("at least 0", lambda x: x >= 0),
    "start_lr": ("greater than 0 (the sweep is geometric)", lambda x: x > 0),
    "end_lr": ("greater than 0", lambda x: x > 0),
    "beta": ("in [0, 1) (the weight of the old average in the moving average)", lambda x: 0 <= x < 1),
    "diverge_threshold": ("greater than 1 (the test stops when the loss exceeds this many times its best)",
                          lambda x: x > 1),
}

#: For each whole-number setting: the smallest value allowed, and why.
_INT_RULES = {
    "t": (0, "the first step is t = 0"),
    "step_size": (1, "the number of steps between two decays"),
    "T_max": (1, "the number of steps from base_lr down to eta_min"),
    "total_iters": (1, "the number of steps of the linear ramp"),
    "warmup_iters": (1, "the number of warm-up steps"),
    "total_steps": (1, "the number of steps of the whole cycle"),
    "patience": (0, "the number of bad epochs tolerated"),
    "cooldown": (0, "the number of epochs to wait after a reduction"),
    "num_iter": (2, "the number of learning rates tried"),
}


def _check(**values) -> None:
    """Raise ``ValueError`` (``TypeError`` for a non-number) naming the first argument out of range."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name} must be a number, got {value!r}")
        if name in _INT_RULES:
            low, meaning = _INT_RULES[name]
            if value != value or value != math.floor(value):  # NaN, or not a whole number
                raise ValueError(f"{name} must be a whole number ({meaning}), got {value!r}")
            if value < low:
                raise ValueError(f"{name} must be at least {low} ({meaning}), got {value!r}")
            continue
        rule, test = _RULES[name]
        if not test(value):
            raise ValueError(f"{name} must be {rule}, got {value!r}")


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def _check_milestones(milestones) -> None:
    if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
        raise TypeError(f"milestones must be a list of steps, got {milestones!r}")
    for i, m in enumerate(milestones):
        if isinstance(m, bool) or not isinstance(m, numbers.Integral):
            raise ValueError(f"milestones[{i}] must be a whole number, got {m!r}")
        if m < 0:
            raise ValueError(f"milestones[{i}] must be at least 0 (a step t >= 0), got {m!r}")


# --------------------------------------------------------------------------------------------------------------
# 1. A schedule is a function of the step.


@exercise(unit="05_schedules", section="1. A schedule is a function of the step")
def step_lr(t: int, *, base_lr: float, step_size: int, gamma: float = 0.1) -> float:
    r"""The learning rate of step decay at step ``t``, as ``torch.optim.lr_scheduler.StepLR`` sets it.

    .. math::

        \eta_t = \eta_0 \, \gamma^{\lfloor t / s \rfloor}

    where :math:`t` is ``t``, :math:`\eta_0` is ``base_lr``, :math:`s` is ``step_size`` and :math:`\gamma` is
    ``gamma``. The rate stays at :math:`\eta_0` for steps :math:`0, \dots, s - 1`, drops to :math:`\eta_0\gamma`
    at :math:`t = s`, and so on: a staircase.

    Args:
        t: the step, a whole number :math:`\ge 0`.
        base_lr: :math:`\eta_0 \ge 0`, the learning rate at :math:`t = 0`.
        step_size: :math:`s \ge 1`, the number of steps between two decays.
        gamma: :math:`\gamma > 0`, the factor of each decay.

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, base_lr=base_lr, step_size=step_size, gamma=gamma)
    # The number of decays so far is the whole part of t / step_size (integer division, t // step_size): the
    # first decay happens at t = step_size, not one step earlier or later.
    raise NotImplementedError(
        "step_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '1. A schedule is a function of the step')."
    )


@exercise(unit="05_schedules", section="1. A schedule is a function of the step")
def multistep_lr(t: int, *, base_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> float:
    r"""The learning rate at step ``t`` with decays at given steps, as ``MultiStepLR`` sets it.

    .. math::

        \eta_t = \eta_0 \, \gamma^{\#\{i \,:\, m_i \le t\}}

    where :math:`t` is ``t``, :math:`\eta_0` is ``base_lr``, :math:`m_1, m_2, \dots` are the ``milestones`` and
    :math:`\gamma` is ``gamma``: one decay for each milestone reached, the milestone's own step included.

    torch counts the milestones with a ``collections.Counter``, so a milestone listed twice decays twice at that
    step (:math:`\gamma^2`), and the order of the list does not matter.

    Args:
        t: the step, a whole number :math:`\ge 0`.
        base_lr: :math:`\eta_0 \ge 0`.
        milestones: the steps at which the rate decays, whole numbers :math:`\ge 0`, in any order, repeats
            allowed. Not modified.
        gamma: :math:`\gamma > 0`, the factor of each decay.

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, base_lr=base_lr, gamma=gamma)
    _check_milestones(milestones)
    # Count the milestones m with m <= t, each as many times as it is listed (no set(), which would merge
    # repeats), and decay once per milestone counted.
    raise NotImplementedError(
        "multistep_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '1. A schedule is a function of the step')."
    )


@exercise(unit="05_schedules", section="1. A schedule is a function of the step")
def exponential_lr(t: int, *, base_lr: float, gamma: float) -> float:
    r"""The learning rate of exponential decay at step ``t``, as ``ExponentialLR`` sets it.

    .. math::

        \eta_t = \eta_0 \, \gamma^{t}

    where :math:`t` is ``t``, :math:`\eta_0` is ``base_lr`` and :math:`\gamma` is ``gamma``. At :math:`t = 0`
    the rate is :math:`\eta_0` itself: the first decay comes with the first ``scheduler.step()``.

    Args:
        t: the step, a whole number :math:`\ge 0`.
        base_lr: :math:`\eta_0 \ge 0`.
        gamma: :math:`\gamma > 0`, the factor applied at every step (torch gives it no default).

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, base_lr=base_lr, gamma=gamma)
    # One line: gamma to the power t (not t + 1: step 0 has the base rate).
    raise NotImplementedError(
        "exponential_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '1. A schedule is a function of the step')."
    )


# --------------------------------------------------------------------------------------------------------------
# 3. Cosine annealing and warmup.


@exercise(unit="05_schedules", section="3. Cosine annealing and warmup")
def cosine_annealing_lr(t: int, *, base_lr: float, T_max: int, eta_min: float = 0.0) -> float:
    r"""The learning rate of cosine annealing at step ``t``, as ``CosineAnnealingLR`` sets it.

    .. math::

        \eta_t = \eta_\text{min} + \frac{\eta_0 - \eta_\text{min}}{2}
                 \left(1 + \cos\left(\pi \, \frac{t}{T}\right)\right)

    where :math:`t` is ``t``, :math:`\eta_0` is ``base_lr``, :math:`T` is ``T_max`` and :math:`\eta_\text{min}`
    is ``eta_min``. The rate falls from :math:`\eta_0` at :math:`t = 0` to :math:`\eta_\text{min}` at
    :math:`t = T` along half a cosine.

    What torch does past :math:`T` surprises: the formula is *not* clamped. The cosine goes on, so the rate
    climbs back to :math:`\eta_0` at :math:`t = 2T` and falls again: a period of :math:`2T` steps. (Warm
    restarts, which jump back to :math:`\eta_0` at once, are ``CosineAnnealingWarmRestarts``.) Choose
    :math:`T` as the length of the training to get a single decay.

    torch's class computes the rate recursively, from the previous rate; that recursion agrees with this closed
    form (to about 1e-14) while the scheduler alone sets the learning rate, and differs when something else
    changes it between steps.

    Args:
        t: the step, a whole number :math:`\ge 0`.
        base_lr: :math:`\eta_0 \ge 0`, the highest rate.
        T_max: :math:`T \ge 1`, the number of steps from :math:`\eta_0` down to :math:`\eta_\text{min}`.
        eta_min: :math:`\eta_\text{min} \ge 0`, the lowest rate.

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, base_lr=base_lr, T_max=T_max, eta_min=eta_min)
    # The formula as written, with math.cos and math.pi, for every t: past T_max the cosine simply goes on
    # (no min(t, T_max), no special case at the end).
    raise NotImplementedError(
        "cosine_annealing_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '3. Cosine annealing and warmup')."
    )


@exercise(unit="05_schedules", section="3. Cosine annealing and warmup")
def linear_lr(t: int, *, base_lr: float, start_factor: float = 1 / 3, end_factor: float = 1.0,
              total_iters: int = 5) -> float:
    r"""The learning rate of a linear ramp at step ``t``, as ``LinearLR`` sets it (used for warmup).

    .. math::

        \eta_t = \eta_0 \left(f_0 + (f_1 - f_0) \, \frac{\min(t, N)}{N}\right)

    where :math:`t` is ``t``, :math:`\eta_0` is ``base_lr``, :math:`f_0` is ``start_factor``, :math:`f_1` is
    ``end_factor`` and :math:`N` is ``total_iters``. The factor moves linearly from :math:`f_0` at
    :math:`t = 0` to :math:`f_1` at :math:`t = N` and stays there. With torch's defaults this is a 5-step
    warmup from a third of the base rate to the base rate.

    The warmup starts at :math:`f_0 \eta_0`, not at 0: torch refuses ``start_factor=0`` (``ValueError``),
    because its recursive form divides by it.

    Args:
        t: the step, a whole number :math:`\ge 0`.
        base_lr: :math:`\eta_0 \ge 0`.
        start_factor: :math:`f_0 \in (0, 1]`.
        end_factor: :math:`f_1 \in [0, 1]`.
        total_iters: :math:`N \ge 1`, the number of steps of the ramp.

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, base_lr=base_lr, start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)
    # The fraction of the ramp done is min(t, total_iters) / total_iters: 0 at t = 0, 1 from t = total_iters on.
    raise NotImplementedError(
        "linear_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '3. Cosine annealing and warmup')."
    )


@exercise(unit="05_schedules", section="3. Cosine annealing and warmup")
def warmup_cosine_lr(t: int, *, base_lr: float, warmup_iters: int, T_max: int, start_factor: float = 1 / 3,
                     eta_min: float = 0.0) -> float:
    r"""A linear warmup followed by cosine annealing, as torch's ``SequentialLR`` of the two sets it.

    .. math::

        \eta_t = \begin{cases}
            \eta_0 \left(f_0 + (1 - f_0) \, \dfrac{t}{W}\right) & t < W \\[1ex]
            \eta_\text{min} + \dfrac{\eta_0 - \eta_\text{min}}{2}
                \left(1 + \cos\left(\pi \, \dfrac{t - W}{T}\right)\right) & t \ge W
        \end{cases}

    where :math:`t` is ``t``, :math:`\eta_0` is ``base_lr``, :math:`W` is ``warmup_iters``, :math:`f_0` is
    ``start_factor``, :math:`T` is ``T_max`` and :math:`\eta_\text{min}` is ``eta_min``. This is what torch
    gives for

    .. code-block:: python

        SequentialLR(opt, [LinearLR(opt, start_factor, total_iters=W),
                           CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)], milestones=[W])

    The warmup is :func:`linear_lr` up to :math:`t = W - 1`; at the milestone :math:`t = W` the cosine starts at
    *its* step 0, so the rate is :math:`\eta_0` there and reaches :math:`\eta_\text{min}` at :math:`t = W + T`
    (use :math:`T` = total steps :math:`- W` to end the training there). Past that, the cosine goes on as in
    :func:`cosine_annealing_lr`. For example :math:`\eta_0 = 0.1`, :math:`f_0 = 0.1`, :math:`W = 5`,
    :math:`T = 15` gives 0.01, 0.028, 0.046, 0.064, 0.082, 0.1, 0.0989, ...

    Args:
        t: the step, a whole number :math:`\ge 0`.
        base_lr: :math:`\eta_0 \ge 0`, the peak rate.
        warmup_iters: :math:`W \ge 1`, the number of warm-up steps.
        T_max: :math:`T \ge 1`, the length of the cosine's descent.
        start_factor: :math:`f_0 \in (0, 1]`: the first rate is :math:`f_0 \eta_0`.
        eta_min: :math:`\eta_\text{min} \ge 0`.

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, base_lr=base_lr, warmup_iters=warmup_iters, T_max=T_max, start_factor=start_factor,
           eta_min=eta_min)
    # Before the milestone (t < warmup_iters): the linear ramp from start_factor towards 1, with t / warmup_iters
    # (t, not t + 1: the first rate is start_factor * base_lr). From the milestone on: the cosine of the steps
    # since the milestone, t - warmup_iters. linear_lr and cosine_annealing_lr compute both parts.
    raise NotImplementedError(
        "warmup_cosine_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '3. Cosine annealing and warmup')."
    )


# --------------------------------------------------------------------------------------------------------------
# 4. Cyclical schedules and one cycle.


@exercise(unit="05_schedules", section="4. Cyclical schedules and one cycle")
def cyclic_lr(t: int, *, base_lr: float, max_lr: float, step_size_up: float = 2000, step_size_down: float | None = None,
              mode: str = "triangular", gamma: float = 1.0) -> float:
    r"""The cyclical learning rate of Smith (2017) at step ``t``, as ``CyclicLR`` sets it.

    .. math::

        c &= \left\lfloor 1 + \frac{t}{u + d} \right\rfloor, \qquad
        x = 1 + \frac{t}{u + d} - c, \qquad r = \frac{u}{u + d} \\
        s &= \begin{cases} x / r & x \le r \\ (x - 1) / (r - 1) & x > r \end{cases} \\
        \eta_t &= \eta_\text{base} + (\eta_\text{max} - \eta_\text{base}) \, s \, f

    where :math:`t` is ``t``, :math:`\eta_\text{base}` is ``base_lr``, :math:`\eta_\text{max}` is ``max_lr``,
    :math:`u` is ``step_size_up`` and :math:`d` is ``step_size_down`` (``None``: the same as :math:`u`). A cycle
    is :math:`u + d` steps: :math:`u` steps up from :math:`\eta_\text{base}` to :math:`\eta_\text{max}`, then
    :math:`d` steps down. :math:`c = 1, 2, \dots` numbers the cycles, :math:`x \in [0, 1)` is the position in the
    current one, and :math:`s \in [0, 1]` is the height of the triangle there. The amplitude factor :math:`f`
    depends on ``mode``:

    - ``"triangular"``: :math:`f = 1`, every cycle the same;
    - ``"triangular2"``: :math:`f = 1 / 2^{c - 1}`, the amplitude halves from one *cycle* to the next;
    - ``"exp_range"``: :math:`f = \gamma^{t}` with :math:`\gamma` = ``gamma``, shrinking at every *step*.

    Smith's paper and torch call :math:`u` the *step size*: it is half a cycle (with :math:`d = u`), not a
    whole one. torch's class also cycles the optimizer's momentum by default (see :class:`CyclicLR`).

    Args:
        t: the step, a whole number :math:`\ge 0`.
        base_lr: :math:`\eta_\text{base} \ge 0`, the rate at the bottom of each cycle.
        max_lr: :math:`\eta_\text{max} \ge 0`, the rate at the top of the first cycle.
        step_size_up: :math:`u > 0`, the number of steps going up (torch's default 2000 is for a long training).
        step_size_down: :math:`d > 0`, the number of steps going down, or ``None`` for :math:`u`.
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: :math:`\gamma > 0`, used by ``"exp_range"`` only.

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, base_lr=base_lr, max_lr=max_lr, step_size_up=step_size_up, gamma=gamma)
    if step_size_down is not None:
        _check(step_size_down=step_size_down)
    _check_choice("mode", mode, ("triangular", "triangular2", "exp_range"))
    # The cycle is up + down steps (down defaults to up). The cycle number c = floor(1 + t / cycle) starts at 1;
    # x = 1 + t / cycle - c is the position in the cycle, in [0, 1). Up to the top (x <= up / cycle) the height
    # s grows linearly from 0 to 1, then falls back to 0 at the end of the cycle. Scale the amplitude by
    # 1 / 2**(c - 1) for "triangular2" (per cycle) or gamma**t for "exp_range" (per step).
    raise NotImplementedError(
        "cyclic_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '4. Cyclical schedules and one cycle')."
    )


@exercise(unit="05_schedules", section="4. Cyclical schedules and one cycle")
def one_cycle_lr(t: int, *, max_lr: float, total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False) -> float:
    r"""The learning rate of the one-cycle policy (Smith & Topin, 2018) at step ``t``, as ``OneCycleLR`` sets it.

    The rate moves between three values,

    .. math::

        \eta_\text{initial} = \frac{\eta_\text{max}}{\delta}, \qquad
        \eta_\text{final} = \frac{\eta_\text{initial}}{\delta_\text{final}}
                          = \frac{\eta_\text{max}}{\delta \, \delta_\text{final}},

    in phases. Each phase :math:`k` runs from step :math:`e_{k-1}` to step :math:`e_k` (with :math:`e_0 = 0`)
    and goes from its start value :math:`a` to its end value :math:`b` as

    .. math::

        p = \frac{t - e_{k-1}}{e_k - e_{k-1}}, \qquad
        \eta_t = \begin{cases}
            b + \dfrac{a - b}{2} \left(1 + \cos(\pi p)\right) & \text{cos} \\[1ex]
            a + (b - a) \, p & \text{linear}
        \end{cases}

    where :math:`t` is ``t``, :math:`\eta_\text{max}` is ``max_lr``, :math:`\delta` is ``div_factor``,
    :math:`\delta_\text{final}` is ``final_div_factor``, :math:`n` is ``total_steps``, :math:`q` is
    ``pct_start``, and the anneal is ``anneal_strategy``. Two phases (the default): :math:`\eta_\text{initial}
    \to \eta_\text{max}` up to :math:`e_1 = qn - 1`, then :math:`\eta_\text{max} \to \eta_\text{final}` up to
    :math:`e_2 = n - 1`. With ``three_phase=True``: :math:`\eta_\text{initial} \to \eta_\text{max}` up to
    :math:`qn - 1`, back to :math:`\eta_\text{initial}` up to :math:`2qn - 2`, then down to
    :math:`\eta_\text{final}` up to :math:`n - 1`. A step belongs to the first phase whose end
    :math:`e_k \ge t`; steps past the last end belong to the last phase.

    Where torch surprises:

    - The peak is at :math:`t = qn - 1`, one step *before* :math:`qn`, and the end values need not fall on whole
      steps (:math:`qn - 1` is a float): the formula above is evaluated with them as they are.
    - :math:`\eta_\text{final}` divides by *both* factors: with the defaults it is :math:`\eta_\text{max}
      / (25 \cdot 10^4)`. fastai's ``fit_one_cycle`` ends at :math:`\eta_\text{max} / \delta_\text{final}`
      instead (and its ``div_final`` is 1e5).
    - Steps :math:`t = 0, \dots, n - 1` are the :math:`n` training steps, and :math:`t = n` is allowed too: it is
      the rate torch computes after the last ``optimizer.step()``, the last phase continued one step past its
      end (it is not used for training). torch raises at :math:`t > n` (``scheduler.step()`` called once too
      often, pytorch#38170); so does this function, with ``ValueError``.

    Args:
        t: the step, a whole number in :math:`[0, n]`.
        max_lr: :math:`\eta_\text{max} \ge 0`, the peak rate.
        total_steps: :math:`n \ge 1`, the number of training steps.
        pct_start: :math:`q \in [0, 1]`, the fraction of the steps spent going up.
        anneal_strategy: ``"cos"`` or ``"linear"``.
        div_factor: :math:`\delta > 0`.
        final_div_factor: :math:`\delta_\text{final} > 0`.
        three_phase: ``True`` for the three phases above.

    Returns:
        :math:`\eta_t`, a Python float.
    """
    _check(t=t, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start, div_factor=div_factor,
           final_div_factor=final_div_factor)
    _check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
    if not isinstance(three_phase, bool):
        raise TypeError(f"three_phase must be True or False, got {three_phase!r}")
    if t > total_steps:
        raise ValueError(f"t must be at most total_steps = {total_steps} (the rate after the last of the "
                         f"total_steps steps), got {t!r}: torch raises when the scheduler is stepped once more")
    ends = _one_cycle_ends(total_steps, pct_start, three_phase)
    # `ends` holds the phase ends e_1, e_2 (, e_3), floats (see the docstring). The phases go through the initial
    # rate (max_lr over div_factor), max_lr and the final rate (the initial one over final_div_factor), in the
    # order the docstring gives. Find the phase of t (the first whose end is >= t, else the last), its start (the
    # previous end, 0.0 for the first), the fraction p of the phase done at t, and anneal from the phase's start
    # value to its end value.
    raise NotImplementedError(
        "one_cycle_lr is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '4. Cyclical schedules and one cycle')."
    )


def _one_cycle_ends(total_steps: int, pct_start: float, three_phase: bool) -> list[float]:
    """The steps at which the phases of one cycle end (given): torch's ``end_step`` of each phase.

    Raises ``ValueError`` naming ``pct_start`` when a phase would have no length (torch divides by zero then).
    """
    up = float(pct_start * total_steps) - 1
    ends = [up, float(2 * pct_start * total_steps) - 2, total_steps - 1] if three_phase else [up, total_steps - 1]
    starts = [0.0] + ends[:-1]
    if any(end == start for start, end in zip(starts, ends)):
        raise ValueError(f"pct_start = {pct_start!r} with total_steps = {total_steps!r} gives a phase of length 0 "
                         "(pct_start * total_steps must not be 1, nor equal total_steps)")
    return ends


# --------------------------------------------------------------------------------------------------------------
# 6. Reduce on plateau.


@exercise(unit="05_schedules", section="6. Reduce on plateau")
def plateau_step(metric: float, lr: float, state: dict, *, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> tuple[float, dict]:
    r"""One call of reduce-on-plateau, as ``ReduceLROnPlateau.step(metric)`` makes it: once per epoch.

    The state holds the best metric so far :math:`m^*` (``state["best"]``), the number of bad epochs
    :math:`k` since the last improvement (``state["num_bad_epochs"]``) and the cooldown counter :math:`c`
    (``state["cooldown_counter"]``); before the first call it is ``{}``, meaning :math:`m^* = +\infty`
    (``-inf`` in ``"max"`` mode), :math:`k = 0`, :math:`c = 0`. With the new metric :math:`m` (``metric``),
    in this order:

    1. *Better?* In ``"min"`` mode with ``"rel"`` thresholds, :math:`m` is better when
       :math:`m < m^* (1 - \tau)`; with ``"abs"``, when :math:`m < m^* - \tau`. In ``"max"`` mode: :math:`m >
       m^* (1 + \tau)`, or :math:`m > m^* + \tau`. If better, :math:`m^* \leftarrow m` and :math:`k \leftarrow
       0`; otherwise :math:`k \leftarrow k + 1`.
    2. *Cooldown:* if :math:`c > 0`, then :math:`c \leftarrow c - 1` and :math:`k \leftarrow 0` (bad epochs
       right after a reduction do not count).
    3. *Reduce:* if :math:`k > P`, the new rate is :math:`\eta' = \max(\eta \rho, \eta_\text{min})`, applied only
       if :math:`\eta - \eta' > \epsilon` (so a cut too small to matter is skipped); then, applied or not,
       :math:`c \leftarrow C` and :math:`k \leftarrow 0`.

    Here :math:`\eta` is ``lr``, :math:`\tau` is ``threshold``, :math:`P` is ``patience``, :math:`\rho` is
    ``factor``, :math:`C` is ``cooldown``, :math:`\eta_\text{min}` is ``min_lr`` and :math:`\epsilon` is
    ``eps``.

    Where conventions differ, and where torch surprises:

    - The rate is cut on the call where :math:`k` *exceeds* the patience: a constant metric with patience 2 is
      cut on the 4th call (1 improvement from :math:`+\infty`, then 3 bad epochs). Keras' ``ReduceLROnPlateau``
      cuts one call earlier (its ``wait >= patience``) and its ``min_delta`` is absolute.
    - The comparison is with the *best* metric so far, not the previous one, and an improvement smaller than the
      threshold does not count (relative by default: 1e-4 of the best).
    - With ``"rel"`` thresholds and negative metrics, :math:`m^* (1 - \tau)` lies *above* :math:`m^*`, so a
      slightly worse metric still counts as better and the rate may never be cut (pytorch#38622): use
      ``threshold_mode="abs"`` for metrics that can be negative.

    Args:
        metric: :math:`m`, this epoch's metric (a validation loss, say), a number.
        lr: :math:`\eta \ge 0`, the current learning rate.
        state: ``{}`` before the first call, then ``{"best": m*, "num_bad_epochs": k, "cooldown_counter": c}``
            as the previous call returned it. Not modified.
        mode: ``"min"`` (the metric should go down) or ``"max"``.
        factor: :math:`\rho \in [0, 1)`.
        patience: :math:`P \ge 0`, the number of bad epochs tolerated.
        threshold: :math:`\tau \ge 0`.
        threshold_mode: ``"rel"`` or ``"abs"``.
        cooldown: :math:`C \ge 0`, the number of calls after a reduction whose bad epochs are ignored.
        min_lr: :math:`\eta_\text{min} \ge 0`.
        eps: :math:`\epsilon \ge 0`.

    Returns:
        ``(new_lr, new_state)``: the learning rate for the next epoch, a Python float, and a new dict with the
        keys ``"best"`` (a float), ``"num_bad_epochs"`` and ``"cooldown_counter"`` (ints).
    """
    _check_plateau(mode=mode, factor=factor, patience=patience, threshold=threshold, threshold_mode=threshold_mode,
                   cooldown=cooldown, min_lr=min_lr, eps=eps)
    _check(lr=lr)
    if isinstance(metric, bool) or not isinstance(metric, numbers.Real):
        raise TypeError(f"metric must be a number, got {metric!r}")
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict ({{}} before the first call), got {type(state).__name__}")
    if state and set(state) != set(PLATEAU_STATE_KEYS):
        raise ValueError(f"state must be {{}} or have the keys {', '.join(map(repr, PLATEAU_STATE_KEYS))}, "
                         f"got the keys {', '.join(map(repr, state)) or '(none)'}")
    metric, lr = float(metric), float(lr)
    # Read best, num_bad_epochs and cooldown_counter from state (for {}: math.inf in "min" mode, -math.inf in
    # "max" mode, 0 and 0). Then the three steps of the docstring, in that order, on local variables; return the
    # learning rate and a new dict (never change the caller's state).
    raise NotImplementedError(
        "plateau_step is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '6. Reduce on plateau')."
    )


#: The keys of :func:`plateau_step`'s state: torch's attribute names.
PLATEAU_STATE_KEYS = ("best", "num_bad_epochs", "cooldown_counter")


def _check_plateau(*, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps) -> None:
    _check_choice("mode", mode, ("min", "max"))
    _check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
    _check(factor=factor, patience=patience, threshold=threshold, cooldown=cooldown, min_lr=min_lr, eps=eps)


# --------------------------------------------------------------------------------------------------------------
# 7. The learning-rate range test.


@exercise(unit="05_schedules", section="7. The learning-rate range test")
def lr_range_test(step_loss: Callable[[float], float], *, start_lr: float = 1e-7, end_lr: float = 10.0,
                  num_iter: int = 100, beta: float = 0.98, diverge_threshold: float = 4.0,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    r"""The learning-rate range test (Smith, 2017; fastai's ``lr_find``): train with a growing learning rate,
    watch the loss, suggest a rate.

    Step :math:`i = 0, 1, \dots, N - 1` trains one mini-batch, ``step_loss(lr)``, at the learning rate

    .. math::

        \eta_i = \eta_\text{start} \left(\frac{\eta_\text{end}}{\eta_\text{start}}\right)^{i / (N - 1)}

    (a geometric sweep: the same number of steps per decade), and smooths the batch losses :math:`\ell_i` it
    returns with a bias-corrected exponential moving average, as Adam corrects its moments:

    .. math::

        a_i = \beta \, a_{i-1} + (1 - \beta) \, \ell_i, \quad a_{-1} = 0, \qquad
        \bar\ell_i = \frac{a_i}{1 - \beta^{i + 1}}.

    Each step records :math:`\eta_i`, :math:`\ell_i` and :math:`\bar\ell_i`. The test stops after recording a
    point whose smoothed loss is not finite, or (for :math:`i > 0`) exceeds :math:`\kappa` times the best
    smoothed loss before it, :math:`\bar\ell_i > \kappa \min_{j < i} \bar\ell_j`: training has diverged, and
    the rest of the sweep would only blow up. The suggestion is an order of magnitude below the rate of the
    lowest (finite) smoothed loss, :math:`\eta_{i^*} / 10` with :math:`i^* = \arg\min_i \bar\ell_i`.

    Here ``step_loss`` is a function that takes one training step at the learning rate it is given and returns
    that batch's loss (``optimlab.nn.training_steps(...)`` makes one); :math:`\eta_\text{start}` is
    ``start_lr``, :math:`\eta_\text{end}` is ``end_lr``, :math:`N` is ``num_iter``, :math:`\beta` is ``beta`` and
    :math:`\kappa` is ``diverge_threshold``. The training is real: each call changes the model, so the loss at
    step :math:`i` depends on every step before it.

    The trap: a moving average lags. The smoothed curve reaches its minimum several steps (a large factor in
    learning rate, with :math:`\beta = 0.98`) after the raw losses do, and the raw minimum itself sits close to
    where training starts to diverge. "A tenth of the minimum" is a rule of thumb that builds in a margin; check
    the suggestion with a few short trainings at fixed learning rates around it.

    Args:
        step_loss: ``step_loss(lr) -> loss``: one training step at learning rate ``lr``, returning the batch's
            loss (a number).
        start_lr: :math:`\eta_\text{start} > 0`, the first rate tried.
        end_lr: :math:`\eta_\text{end} > \eta_\text{start}`, the last one.
        num_iter: :math:`N \ge 2`, the number of rates (and training steps) if the test does not stop early.
        beta: :math:`\beta \in [0, 1)`, the smoothing of the moving average.
        diverge_threshold: :math:`\kappa > 1`.

    Returns:
        ``(lrs, losses, smoothed, suggested_lr)``: the rates tried, the raw losses and the smoothed losses
        (float64 arrays, one entry per step taken, the same length), and the suggested rate, a Python float.
    """
    if not callable(step_loss):
        raise TypeError(f"step_loss must be a function lr -> loss, got {type(step_loss).__name__}")
    _check(start_lr=start_lr, end_lr=end_lr, num_iter=num_iter, beta=beta, diverge_threshold=diverge_threshold)
    if not end_lr > start_lr:
        raise ValueError(f"end_lr must be greater than start_lr = {start_lr!r}, got {end_lr!r}")
    start_lr, end_lr, num_iter, beta = float(start_lr), float(end_lr), int(num_iter), float(beta)
    # For i = 0 .. num_iter - 1: the rate, one call step_loss(lr) (call it once per step, in order: each call
    # trains), float(loss), the moving average and its bias correction (1 - beta**(i + 1)); record the three.
    # Then stop if the smoothed loss is not finite (math.isfinite) or exceeds diverge_threshold times the best
    # smoothed loss *before* this step. The suggestion: the rate at the smallest finite smoothed loss, over 10.
    raise NotImplementedError(
        "lr_range_test is not implemented yet: write it in optimlab/schedules.py (explained in notebook 05_schedules, section '7. The learning-rate range test')."
    )


# --------------------------------------------------------------------------------------------------------------
# The torch-shaped classes (given): they hold an optimizer and call the schedule functions.


class LRScheduler:
    """What every scheduler here shares: an optimizer, the step counter ``last_epoch``, and ``step()``.

    Creating a scheduler takes its first step, as torch's do: ``last_epoch`` goes from -1 to 0 and the
    :math:`t = 0` learning rate is written into ``optimizer.lr``. Call ``scheduler.step()`` after each
    ``optimizer.step()`` (torch warns when the order is reversed: the first rate would be skipped).

    Args:
        optimizer: an optimizer of :mod:`optimlab.optim` (anything with an ``lr`` attribute). The first scheduler
            attached to it records ``optimizer.initial_lr = optimizer.lr`` (torch's ``group["initial_lr"]``);
            later ones find it there and use the same base.

    Attributes:
        optimizer: the optimizer.
        base_lrs: ``[optimizer.initial_lr]``, the base learning rate (a list, as torch has one per group).
        last_epoch: the step :math:`t` whose learning rate the optimizer holds.
    """

    #: Whether ``step`` needs the epoch's metric (``optimlab.nn.fit`` calls ``step(val_loss)`` then).
    needs_metric = False

    def __init__(self, optimizer):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"optimizer must have a learning rate attribute lr, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        if not hasattr(optimizer, "initial_lr"):
            optimizer.initial_lr = optimizer.lr
        self.base_lrs = [optimizer.initial_lr]
        self.last_epoch = -1
        self._last_lr: list[float] = []
        self.step()

    def lr_at(self, t: int) -> float:
        """The learning rate at step ``t`` (the closed form; ``SequentialLR`` uses it)."""
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next step and write its learning rate into the optimizer."""
        self._apply(self.last_epoch + 1)

    def _apply(self, t: int) -> None:
        """Set the optimizer to step ``t`` of this schedule."""
        lr = self.lr_at(t)
        self.last_epoch = t
        self.optimizer.lr = lr
        self._last_lr = [lr]

    def get_last_lr(self) -> list[float]:
        """The learning rate last written, as a list (one entry per parameter group in torch; here one)."""
        return list(self._last_lr)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr[0] if self._last_lr else None})"


class StepLR(LRScheduler):
    """Step decay: ``torch.optim.lr_scheduler.StepLR``. Calls :func:`step_lr`."""

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1):
        _check(step_size=step_size, gamma=gamma)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, t):
        return step_lr(t, base_lr=self.base_lrs[0], step_size=self.step_size, gamma=self.gamma)


class MultiStepLR(LRScheduler):
    """Decay at given steps: ``torch.optim.lr_scheduler.MultiStepLR``. Calls :func:`multistep_lr`."""

    def __init__(self, optimizer, milestones: Sequence[int], gamma: float = 0.1):
        _check_milestones(milestones)
        _check(gamma=gamma)
        self.milestones, self.gamma = list(milestones), gamma
        super().__init__(optimizer)

    def lr_at(self, t):
        return multistep_lr(t, base_lr=self.base_lrs[0], milestones=self.milestones, gamma=self.gamma)


class ExponentialLR(LRScheduler):
    """Exponential decay: ``torch.optim.lr_scheduler.ExponentialLR``. Calls :func:`exponential_lr`."""

    def __init__(self, optimizer, gamma: float):
        _check(gamma=gamma)
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, t):
        return exponential_lr(t, base_lr=self.base_lrs[0], gamma=self.gamma)


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing: ``torch.optim.lr_scheduler.CosineAnnealingLR``. Calls :func:`cosine_annealing_lr`.

    Not clamped after ``T_max``: the rate climbs back up (a period of ``2 * T_max`` steps), as torch's does.
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0):
        _check(T_max=T_max, eta_min=eta_min)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer)

    def lr_at(self, t):
        return cosine_annealing_lr(t, base_lr=self.base_lrs[0], T_max=self.T_max, eta_min=self.eta_min)


class LinearLR(LRScheduler):
    """A linear ramp of the rate's factor: ``torch.optim.lr_scheduler.LinearLR``. Calls :func:`linear_lr`."""

    def __init__(self, optimizer, start_factor: float = 1 / 3, end_factor: float = 1.0, total_iters: int = 5):
        _check(start_factor=start_factor, end_factor=end_factor, total_iters=total_iters)
        self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(optimizer)

    def lr_at(self, t):
        return linear_lr(t, base_lr=self.base_lrs[0], start_factor=self.start_factor, end_factor=self.end_factor,
                         total_iters=self.total_iters)


class SequentialLR(LRScheduler):
    """Schedules one after the other: ``torch.optim.lr_scheduler.SequentialLR``.

    ``schedulers[0]`` runs until ``milestones[0]``, where ``schedulers[1]`` starts at *its* step 0, and so on:
    the rate at step ``t`` is ``schedulers[i].lr_at(t - milestones[i - 1])`` for the last milestone
    ``milestones[i - 1] <= t``. ``SequentialLR([LinearLR(opt, f0, total_iters=W), CosineAnnealingLR(opt, T)],
    milestones=[W])`` is :func:`warmup_cosine_lr`. The schedulers must drive this optimizer; creating them has
    already changed its ``lr``, which this class sets again. ``ReduceLROnPlateau`` cannot be part of a sequence
    (torch refuses it too: it needs a metric).
    """

    def __init__(self, optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]):
        if len(schedulers) < 1:
            raise ValueError("schedulers must hold at least one scheduler")
        for i, scheduler in enumerate(schedulers):
            if isinstance(scheduler, ReduceLROnPlateau):
                raise ValueError(f"schedulers[{i}] is a ReduceLROnPlateau, which SequentialLR cannot run (its "
                                 "step needs a metric)")
            if not isinstance(scheduler, LRScheduler):
                raise TypeError(f"schedulers[{i}] must be a scheduler, got {type(scheduler).__name__}")
            if scheduler.optimizer is not optimizer:
                raise ValueError(f"schedulers[{i}] drives another optimizer than this SequentialLR")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"milestones must have one entry fewer than schedulers ({len(schedulers) - 1}), got "
                             f"{len(milestones)}")
        _check_milestones(milestones)
        self.schedulers, self.milestones = list(schedulers), list(milestones)
        super().__init__(optimizer)

    def _current(self, t: int) -> tuple[LRScheduler, int]:
        """The scheduler in charge at step ``t``, and ``t`` counted from its milestone."""
        i = bisect_right(self.milestones, t)
        return self.schedulers[i], t - (self.milestones[i - 1] if i > 0 else 0)

    def lr_at(self, t):
        scheduler, local = self._current(t)
        return scheduler.lr_at(local)

    def _apply(self, t):
        scheduler, local = self._current(t)
        scheduler._apply(local)            # as torch, the scheduler in charge sets the rate (and its momentum)
        self.last_epoch = t
        self._last_lr = scheduler.get_last_lr()


def _momentum_of(optimizer) -> str:
    """The optimizer's attribute that CyclicLR and OneCycleLR cycle: ``"momentum"`` (SGD) or ``"betas"`` (Adam)."""
    if hasattr(optimizer, "betas"):
        return "betas"
    if hasattr(optimizer, "momentum"):
        return "momentum"
    raise ValueError(f"cycle_momentum=True needs an optimizer with momentum (SGD) or betas (Adam, AdamW), got "
                     f"{type(optimizer).__name__}; pass cycle_momentum=False to cycle the learning rate alone")


class _CyclesMomentum(LRScheduler):
    """A scheduler that may also set the optimizer's momentum (or Adam's beta1) at every step."""

    cycle_momentum = False

    def momentum_at(self, t: int) -> float:
        raise NotImplementedError

    def _apply(self, t):
        super()._apply(t)
        if self.cycle_momentum:
            momentum = self.momentum_at(t)
            if self._momentum_attribute == "betas":
                self.optimizer.betas = (momentum, *tuple(self.optimizer.betas)[1:])
            else:
                self.optimizer.momentum = momentum


class CyclicLR(_CyclesMomentum):
    """The cyclical learning rate: ``torch.optim.lr_scheduler.CyclicLR``. Calls :func:`cyclic_lr`.

    Creating it sets ``optimizer.lr`` to ``base_lr``. Step it after every mini-batch, not every epoch.

    torch's surprise, reproduced here: ``cycle_momentum=True`` is the default, and then the scheduler also sets
    the optimizer's momentum at every step (Adam's and AdamW's ``beta1``), cycling it inversely to the rate,
    from ``max_momentum`` at the bottom of a cycle to ``base_momentum`` at the top:
    ``momentum = max_momentum - (max_momentum - base_momentum) * s * f`` with the height ``s`` and amplitude
    ``f`` of :func:`cyclic_lr`. So a plain ``SGD(params, lr)``, whose momentum is 0, silently becomes SGD with
    momentum 0.8 to 0.9; and an optimizer without momentum (Adagrad, RMSprop here) raises ``ValueError``
    (pytorch#73910, #19003). Pass ``cycle_momentum=False`` to cycle the learning rate alone.
    """

    def __init__(self, optimizer, base_lr: float, max_lr: float, step_size_up: float = 2000,
                 step_size_down: float | None = None, mode: str = "triangular", gamma: float = 1.0,
                 cycle_momentum: bool = True, base_momentum: float = 0.8, max_momentum: float = 0.9):
        cyclic_lr(0, base_lr=base_lr, max_lr=max_lr, step_size_up=step_size_up, step_size_down=step_size_down,
                  mode=mode, gamma=gamma)  # checks the arguments
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"optimizer must have a learning rate attribute lr, got {type(optimizer).__name__}")
        self.base_lr, self.max_lr = base_lr, max_lr
        self.step_size_up, self.step_size_down, self.mode, self.gamma = step_size_up, step_size_down, mode, gamma
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self._momentum_attribute = _momentum_of(optimizer)
            self.base_momentum, self.max_momentum = base_momentum, max_momentum
        optimizer.lr = base_lr
        super().__init__(optimizer)
        self.base_lrs = [base_lr]

    def lr_at(self, t):
        return cyclic_lr(t, base_lr=self.base_lr, max_lr=self.max_lr, step_size_up=self.step_size_up,
                         step_size_down=self.step_size_down, mode=self.mode, gamma=self.gamma)

    def momentum_at(self, t):
        # The same triangle, from max_momentum (where the rate is lowest) towards base_momentum.
        return cyclic_lr(t, base_lr=self.max_momentum, max_lr=self.base_momentum, step_size_up=self.step_size_up,
                         step_size_down=self.step_size_down, mode=self.mode, gamma=self.gamma)


class OneCycleLR(_CyclesMomentum):
    """The one-cycle policy: ``torch.optim.lr_scheduler.OneCycleLR``. Calls :func:`one_cycle_lr`.

    Creating it sets ``optimizer.initial_lr = max_lr / div_factor`` (overwriting it, as torch does). Step it after
    every mini-batch; ``total_steps`` steps are allowed after the one made on creation, and the next raises
    ``ValueError`` (torch's behaviour, pytorch#38170).

    As :class:`CyclicLR`, it cycles the optimizer's momentum (Adam's ``beta1``) by default, inversely to the rate:
    from ``max_momentum`` down to ``base_momentum`` while the rate goes up, and back (three phases: back to
    ``max_momentum`` in the second phase, and it stays there), with the same annealing; an optimizer without
    momentum raises ``ValueError`` unless ``cycle_momentum=False``.
    """

    def __init__(self, optimizer, max_lr: float, total_steps: int, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95):
        self.settings = dict(max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                             anneal_strategy=anneal_strategy, div_factor=div_factor,
                             final_div_factor=final_div_factor, three_phase=three_phase)
        one_cycle_lr(0, **self.settings)  # checks the arguments
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"optimizer must have a learning rate attribute lr, got {type(optimizer).__name__}")
        self.total_steps = total_steps
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            self._momentum_attribute = _momentum_of(optimizer)
            self.base_momentum, self.max_momentum = base_momentum, max_momentum
        optimizer.initial_lr = max_lr / div_factor
        super().__init__(optimizer)

    def lr_at(self, t):
        return one_cycle_lr(t, **self.settings)

    def momentum_at(self, t):
        """The momentum at step ``t``: through the phases of the learning rate, from max_momentum down to
        base_momentum while the rate climbs, and back up while it falls."""
        s = self.settings
        ends = _one_cycle_ends(s["total_steps"], s["pct_start"], s["three_phase"])
        high, low = self.max_momentum, self.base_momentum
        targets = [high, low, high, high] if s["three_phase"] else [high, low, high]
        phase = min(bisect_left(ends, t), len(ends) - 1)       # the first phase that ends at or after t
        begin = ends[phase - 1] if phase else 0.0
        fraction = (t - begin) / (ends[phase] - begin)
        first, last = targets[phase], targets[phase + 1]
        if s["anneal_strategy"] == "cos":
            return last + (first - last) * (1 + math.cos(math.pi * fraction)) / 2
        return first + (last - first) * fraction


class ReduceLROnPlateau:
    """Reduce the rate when a metric stops improving: ``torch.optim.lr_scheduler.ReduceLROnPlateau``.

    Call ``step(metric)`` once per epoch, with the epoch's validation loss, say; it calls :func:`plateau_step`
    with ``optimizer.lr`` and writes the result back. Unlike the other schedulers, creating it changes nothing.

    Attributes:
        best, num_bad_epochs, cooldown_counter: torch's state, as :func:`plateau_step` returned it (``inf``
            (``-inf`` in ``"max"`` mode), 0 and 0 before the first call).
        last_epoch: the number of calls to ``step`` so far.
        needs_metric: ``True``: ``optimlab.nn.fit`` calls ``step(val_loss)`` on such a scheduler.
    """

    needs_metric = True

    def __init__(self, optimizer, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0, min_lr: float = 0.0,
                 eps: float = 1e-8):
        if not hasattr(optimizer, "lr"):
            raise TypeError(f"optimizer must have a learning rate attribute lr, got {type(optimizer).__name__}")
        self.settings = dict(mode=mode, factor=factor, patience=patience, threshold=threshold,
                             threshold_mode=threshold_mode, cooldown=cooldown, min_lr=min_lr, eps=eps)
        _check_plateau(**self.settings)
        self.optimizer = optimizer
        self.state: dict = {}
        self.last_epoch = 0

    @property
    def best(self) -> float:
        return self.state.get("best", math.inf if self.settings["mode"] == "min" else -math.inf)

    @property
    def num_bad_epochs(self) -> int:
        return self.state.get("num_bad_epochs", 0)

    @property
    def cooldown_counter(self) -> int:
        return self.state.get("cooldown_counter", 0)

    def step(self, metric: float) -> None:
        """One epoch's metric: update the state and, after too many bad epochs, cut ``optimizer.lr``."""
        lr, self.state = plateau_step(metric, self.optimizer.lr, self.state, **self.settings)
        self.optimizer.lr = lr
        self.last_epoch += 1

    def get_last_lr(self) -> list[float]:
        return [self.optimizer.lr]

    def __repr__(self) -> str:
        return (f"ReduceLROnPlateau(last_epoch={self.last_epoch}, lr={self.optimizer.lr}, best={self.best}, "
                f"num_bad_epochs={self.num_bad_epochs}, cooldown_counter={self.cooldown_counter})")
