r"""Optimizers with momentum and adaptive learning rates (units 02 to 04), in the conventions of ``torch.optim``.

Each algorithm is one *pure* update function: it takes a parameter, its gradient and the optimizer's state for
that parameter, and returns the new parameter and the new state without modifying anything it was given. The
classes ``SGD``, ``Adagrad``, ``RMSprop``, ``Adam`` and ``AdamW`` are thin shells around these functions with
``torch.optim``'s names and defaults: they hold a dict of parameters, call the update function for each one in
``step(grads)`` and write the result back into the arrays in place.

===============  ==================  ==========================================  ===========
update function  class               state keys (torch's names)                  unit
===============  ==================  ==========================================  ===========
momentum_update  SGD                 ``momentum_buffer`` (only if momentum > 0)  02_momentum
nesterov_update  SGD(nesterov=True)  ``momentum_buffer``                         02_momentum
adagrad_update   Adagrad             ``step``, ``sum``                           03_adaptive
rmsprop_update   RMSprop             ``step``, ``square_avg``                    03_adaptive
adam_update      Adam                ``step``, ``exp_avg``, ``exp_avg_sq``       04_adam
adamw_update     AdamW               ``step``, ``exp_avg``, ``exp_avg_sq``       04_adam
===============  ==================  ==========================================  ===========

The state of a parameter is a dict: empty (``{}``) before the first step, then the keys above. ``step`` is an
int counting the steps taken, incremented *before* it is used: the first step has :math:`t = 1`. Arrays in the
state have the parameter's shape and dtype. (For a 0-d parameter, NumPy's arithmetic gives NumPy scalars such as
``np.float32(0.5)``: they have the shape ``()`` and the dtype too.)

The notebooks use the papers' names (Momentum, AdaGrad, RMSProp, Adam, AdamW) and symbols; each docstring below
says which argument each symbol is.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._exercise import exercise

__all__ = [
    "momentum_update", "nesterov_update", "adagrad_update", "rmsprop_update", "adam_update", "adamw_update",
    "Optimizer", "SGD", "Adagrad", "RMSprop", "Adam", "AdamW",
]

# --------------------------------------------------------------------------------------------------------------
# Checking arguments (given; the update functions and the classes share these).

#: For each hyperparameter: (what its values must be, in words, and why; the test).
_RULES = {
    "lr": ("at least 0 (a negative learning rate climbs the loss)", lambda x: 0.0 <= x),
    "momentum": ("at least 0 (it is the fraction of the previous step that is kept)", lambda x: 0.0 <= x),
    "dampening": ("between 0 and 1 (the gradient enters the buffer with weight 1 - dampening)",
                  lambda x: 0.0 <= x <= 1.0),
    "weight_decay": ("at least 0 (a negative decay pushes the weights away from 0)", lambda x: 0.0 <= x),
    "eps": ("at least 0 (it keeps the denominator away from 0)", lambda x: 0.0 <= x),
    "alpha": ("between 0 and 1 (it is the weight of the old average in the new one)", lambda x: 0.0 <= x <= 1.0),
    "initial_accumulator_value": ("at least 0 (it is where a sum of squares starts)", lambda x: 0.0 <= x),
}


def _check_hyperparameters(**values) -> None:
    """Raise ``ValueError`` (``TypeError`` for a non-number) naming the first hyperparameter out of range."""
    for name, value in values.items():
        if name == "betas":
            if not isinstance(value, (tuple, list)) or len(value) != 2:
                raise ValueError(f"betas must be a pair (beta1, beta2), got {value!r}")
            for i, beta in enumerate(value):
                _check_number(f"betas[{i}]", beta)
                if not 0.0 <= beta < 1.0:
                    raise ValueError(f"betas[{i}] must be in [0, 1) (a decay rate of 1 never forgets, and the "
                                     f"bias correction 1 - beta**t would be 0), got {beta!r}")
            continue
        _check_number(name, value)
        rule, test = _RULES[name]
        if not test(value):
            raise ValueError(f"{name} must be {rule}, got {value!r}")


def _check_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")


def _check_arrays(param, grad, state) -> None:
    """Raise a clear error when ``param``, ``grad`` or ``state`` cannot be what an update function expects."""
    if isinstance(param, np.floating):  # a 0-d parameter: arithmetic on 0-d arrays gives NumPy scalars
        pass
    elif not isinstance(param, np.ndarray) or param.dtype.kind != "f":
        got = f"an array of dtype {param.dtype}" if isinstance(param, np.ndarray) else type(param).__name__
        raise TypeError(f"param must be a floating-point NumPy array, got {got}")
    if np.shape(grad) != param.shape:
        raise ValueError(f"grad has shape {np.shape(grad)} but param has shape {param.shape}; they must match")
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict (empty before the first step), got {type(state).__name__}")


# --------------------------------------------------------------------------------------------------------------
# Unit 02: momentum and Nesterov.


@exercise(unit="02_momentum", section="2. The heavy ball")
def momentum_update(
    param: np.ndarray, grad: np.ndarray, state: dict, *,
    lr: float, momentum: float, dampening: float = 0.0, weight_decay: float = 0.0,
) -> tuple[np.ndarray, dict]:
    r"""One step of SGD with momentum (the heavy ball), as ``torch.optim.SGD`` takes it.

    .. math::

        g_t &= \nabla L(\theta_{t-1}) + \lambda \, \theta_{t-1} \\
        b_t &= \begin{cases} g_t & t = 1 \\ \mu \, b_{t-1} + (1 - \tau) \, g_t & t > 1 \end{cases} \\
        \theta_t &= \theta_{t-1} - \eta \, b_t

    where :math:`\theta_{t-1}` is ``param``, :math:`\nabla L(\theta_{t-1})` is ``grad``, :math:`b` is
    ``state["momentum_buffer"]``, :math:`\eta` is ``lr``, :math:`\mu` is ``momentum``, :math:`\tau` is
    ``dampening`` and :math:`\lambda` is ``weight_decay`` (an L2 penalty :math:`\frac{\lambda}{2}\lVert\theta
    \rVert^2` added to the loss). With :math:`\mu = 0` there is no buffer: this is plain gradient descent, and
    the state stays ``{}`` (torch stores no buffer then either).

    Conventions differ between texts:

    - The first step sets :math:`b_1 = g_1`, with no dampening (torch's rule); starting from :math:`b_0 = 0`
      gives :math:`b_1 = (1 - \tau) g_1` instead, the same only when ``dampening == 0``.
    - Sutskever et al. (2013) and many textbooks write a velocity :math:`v_t = \mu v_{t-1} - \eta g_t`,
      :math:`\theta_t = \theta_{t-1} + v_t`. With ``dampening == 0`` that is :math:`v = -\eta b`: the same
      trajectory while :math:`\eta` is constant, but not when a schedule changes ``lr`` (torch's form rescales
      the whole accumulated step at once, the velocity form only the new gradient).

    Args:
        param: the parameter :math:`\theta_{t-1}`, a floating-point array of any shape. Not modified.
        grad: the gradient of the loss at ``param``, same shape. Not modified.
        state: ``{}`` before the first step, then ``{"momentum_buffer": b}`` with ``b`` shaped like ``param``
            (when ``momentum > 0``). Not modified.
        lr: the learning rate :math:`\eta \ge 0`.
        momentum: the momentum factor :math:`\mu \ge 0`, typically 0.9.
        dampening: :math:`\tau \in [0, 1]`; the gradient enters the buffer with weight :math:`1 - \tau`.
        weight_decay: :math:`\lambda \ge 0`.

    Returns:
        ``(new_param, new_state)``: :math:`\theta_t` (a new array with the shape and dtype of ``param``) and a
        new dict with the new buffer.
    """
    _check_arrays(param, grad, state)
    _check_hyperparameters(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
    lr, momentum, dampening, weight_decay = float(lr), float(momentum), float(dampening), float(weight_decay)
    # The gradient is grad + weight_decay * param. If momentum is 0: no buffer, plain gradient descent. Otherwise
    # the buffer is the gradient itself on the first step (state has no "momentum_buffer" yet) and
    # momentum * buffer + (1 - dampening) * g after that; step by -lr * buffer. Build new arrays, never the
    # caller's: `buffer *= momentum` would change the caller's state, and a first buffer that *is* `grad` would
    # change when the caller refills its gradient array (torch clones it).
    g = grad + weight_decay * param                    # a new array, even when weight_decay is 0
    if momentum == 0:
        return param - lr * g, dict(state)
    if "momentum_buffer" not in state:
        buffer = g                                     # step 1: b_1 = g_1
    else:
        buffer = momentum * state["momentum_buffer"] + (1 - dampening) * g
    return param - lr * buffer, dict(state, momentum_buffer=buffer)


@exercise(unit="02_momentum", section="3. Nesterov's look-ahead")
def nesterov_update(
    param: np.ndarray, grad: np.ndarray, state: dict, *, lr: float, momentum: float, weight_decay: float = 0.0,
) -> tuple[np.ndarray, dict]:
    r"""One step of SGD with Nesterov momentum, as ``torch.optim.SGD(..., nesterov=True)`` takes it.

    .. math::

        g_t &= \nabla L(\theta_{t-1}) + \lambda \, \theta_{t-1} \\
        b_t &= \begin{cases} g_t & t = 1 \\ \mu \, b_{t-1} + g_t & t > 1 \end{cases} \\
        \theta_t &= \theta_{t-1} - \eta \, (g_t + \mu \, b_t)

    where :math:`\theta_{t-1}` is ``param``, :math:`\nabla L(\theta_{t-1})` is ``grad``, :math:`b` is
    ``state["momentum_buffer"]``, :math:`\eta` is ``lr``, :math:`\mu` is ``momentum`` and :math:`\lambda` is
    ``weight_decay``. The step uses the buffer *after* this step's update: it looks one step ahead.

    How this relates to Sutskever et al. (2013): they write Nesterov's method with a look-ahead gradient,

    .. math::

        v_t = \mu v_{t-1} - \eta \nabla L(x_{t-1} + \mu v_{t-1}), \qquad x_t = x_{t-1} + v_t,

    and keep :math:`x`. torch keeps the look-ahead point instead: with :math:`v = -\eta b`, its parameter is
    :math:`\theta_t = x_t + \mu v_t`, so the gradient is always taken at the stored parameter. Both produce the
    same points (to rounding) while ``lr`` is constant; compare :math:`\theta_t` with :math:`x_t + \mu v_t`,
    not with :math:`x_t`.

    torch only allows Nesterov with ``momentum > 0`` and ``dampening == 0``; this function has no dampening.

    Args:
        param: the parameter :math:`\theta_{t-1}`, a floating-point array of any shape. Not modified.
        grad: the gradient of the loss at ``param``, same shape. Not modified.
        state: ``{}`` before the first step, then ``{"momentum_buffer": b}``. Not modified.
        lr: the learning rate :math:`\eta \ge 0`.
        momentum: the momentum factor :math:`\mu > 0`.
        weight_decay: :math:`\lambda \ge 0`.

    Returns:
        ``(new_param, new_state)``: :math:`\theta_t` (a new array with the shape and dtype of ``param``) and a
        new dict with the new buffer.
    """
    _check_arrays(param, grad, state)
    _check_hyperparameters(lr=lr, momentum=momentum, weight_decay=weight_decay)
    if momentum <= 0:
        raise ValueError("momentum must be > 0 for Nesterov momentum, got 0 (use momentum_update for plain SGD)")
    lr, momentum, weight_decay = float(lr), float(momentum), float(weight_decay)
    # The buffer is updated exactly as in momentum_update (with dampening 0); the step then uses
    # g + momentum * (the new buffer) instead of the buffer alone.
    g = grad + weight_decay * param
    if "momentum_buffer" not in state:
        buffer = g
    else:
        buffer = momentum * state["momentum_buffer"] + g
    return param - lr * (g + momentum * buffer), dict(state, momentum_buffer=buffer)


# --------------------------------------------------------------------------------------------------------------
# Unit 03: adaptive learning rates.


@exercise(unit="03_adaptive", section="2. AdaGrad")
def adagrad_update(
    param: np.ndarray, grad: np.ndarray, state: dict, *,
    lr: float = 1e-2, weight_decay: float = 0.0, initial_accumulator_value: float = 0.0, eps: float = 1e-10,
) -> tuple[np.ndarray, dict]:
    r"""One step of AdaGrad, as ``torch.optim.Adagrad`` takes it (without its ``lr_decay``).

    .. math::

        g_t &= \nabla L(\theta_{t-1}) + \lambda \, \theta_{t-1} \\
        s_t &= s_{t-1} + g_t \odot g_t, \qquad s_0 = s_\text{init} \\
        \theta_t &= \theta_{t-1} - \eta \, \frac{g_t}{\sqrt{s_t} + \epsilon}

    elementwise, where :math:`\theta_{t-1}` is ``param``, :math:`\nabla L(\theta_{t-1})` is ``grad``, :math:`s`
    is ``state["sum"]``, :math:`s_\text{init}` is ``initial_accumulator_value`` (the same for every entry),
    :math:`\eta` is ``lr``, :math:`\epsilon` is ``eps``, :math:`\lambda` is ``weight_decay`` and ``state["step"]``
    counts the steps. Each entry gets its own step size :math:`\eta / \sqrt{s_t}`, which only shrinks.

    Conventions differ: torch (and this function) adds :math:`\epsilon` *outside* the square root and starts
    the sum at 0 with ``eps=1e-10``; Keras starts it at 0.1 with ``epsilon=1e-7``. Some texts write
    :math:`\sqrt{s_t + \epsilon}`. The difference only shows while :math:`s_t` is tiny.

    Args:
        param: the parameter :math:`\theta_{t-1}`, a floating-point array of any shape. Not modified.
        grad: the gradient of the loss at ``param``, same shape. Not modified.
        state: ``{}`` before the first step, then ``{"step": t - 1, "sum": s}``. Not modified.
        lr: the learning rate :math:`\eta \ge 0`.
        weight_decay: :math:`\lambda \ge 0`.
        initial_accumulator_value: :math:`s_\text{init} \ge 0`, where the sum starts.
        eps: :math:`\epsilon \ge 0`.

    Returns:
        ``(new_param, new_state)``: :math:`\theta_t` (a new array with the shape and dtype of ``param``) and
        ``{"step": t, "sum": s_t}``.
    """
    _check_arrays(param, grad, state)
    _check_hyperparameters(lr=lr, weight_decay=weight_decay, initial_accumulator_value=initial_accumulator_value,
                           eps=eps)
    lr, weight_decay, initial_accumulator_value, eps = (float(lr), float(weight_decay),
                                                       float(initial_accumulator_value), float(eps))
    # The gradient is grad + weight_decay * param (as in momentum_update). On the first step (state == {}) the
    # sum starts as an array full of initial_accumulator_value (np.full_like(param, ...) keeps param's dtype) and
    # the step counter at 0. Add the *squared* gradient to the sum, into a new array, then step by
    # -lr * g / (sqrt(sum) + eps).
    step = state.get("step", 0) + 1
    g = grad + weight_decay * param
    total = state.get("sum", np.full_like(param, initial_accumulator_value)) + g * g
    return param - lr * g / (np.sqrt(total) + eps), {"step": step, "sum": total}


@exercise(unit="03_adaptive", section="4. RMSProp")
def rmsprop_update(
    param: np.ndarray, grad: np.ndarray, state: dict, *,
    lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0.0,
) -> tuple[np.ndarray, dict]:
    r"""One step of RMSProp, as ``torch.optim.RMSprop`` takes it (without its ``momentum`` and ``centered``).

    .. math::

        g_t &= \nabla L(\theta_{t-1}) + \lambda \, \theta_{t-1} \\
        v_t &= \alpha \, v_{t-1} + (1 - \alpha) \, g_t \odot g_t, \qquad v_0 = 0 \\
        \theta_t &= \theta_{t-1} - \eta \, \frac{g_t}{\sqrt{v_t} + \epsilon}

    elementwise, where :math:`\theta_{t-1}` is ``param``, :math:`\nabla L(\theta_{t-1})` is ``grad``, :math:`v`
    is ``state["square_avg"]``, :math:`\alpha` is ``alpha`` (the decay rate that Hinton's lecture and Keras call
    :math:`\rho`), :math:`\eta` is ``lr``, :math:`\epsilon` is ``eps``, :math:`\lambda` is ``weight_decay`` and
    ``state["step"]`` counts the steps. Unlike AdaGrad's sum, :math:`v_t` is a moving *average*: old gradients
    fade, so the step size does not shrink to nothing.

    Conventions differ: torch (and this function) adds :math:`\epsilon` *outside* the square root, with
    ``alpha=0.99``; others (Chainer with ``eps_inside_sqrt=True``, TensorFlow 1) write
    :math:`\sqrt{v_t + \epsilon}`, and Keras defaults to :math:`\rho = 0.9`. There is no bias correction, so the
    first steps are larger than later ones: :math:`v_1 = (1 - \alpha) g_1^2` is small.

    Args:
        param: the parameter :math:`\theta_{t-1}`, a floating-point array of any shape. Not modified.
        grad: the gradient of the loss at ``param``, same shape. Not modified.
        state: ``{}`` before the first step, then ``{"step": t - 1, "square_avg": v}``. Not modified.
        lr: the learning rate :math:`\eta \ge 0`.
        alpha: the decay rate :math:`\alpha \in [0, 1]`, the weight of the old average.
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda \ge 0`.

    Returns:
        ``(new_param, new_state)``: :math:`\theta_t` (a new array with the shape and dtype of ``param``) and
        ``{"step": t, "square_avg": v_t}``.
    """
    _check_arrays(param, grad, state)
    _check_hyperparameters(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay)
    lr, alpha, eps, weight_decay = float(lr), float(alpha), float(eps), float(weight_decay)
    # Like adagrad_update, but the accumulator is a moving *average* that starts at zeros (np.zeros_like(param)):
    # alpha * (old average) + (1 - alpha) * g**2. Then step by -lr * g / (sqrt(average) + eps).
    step = state.get("step", 0) + 1
    g = grad + weight_decay * param
    square_avg = alpha * state.get("square_avg", np.zeros_like(param)) + (1 - alpha) * g * g
    return param - lr * g / (np.sqrt(square_avg) + eps), {"step": step, "square_avg": square_avg}


# --------------------------------------------------------------------------------------------------------------
# Unit 04: Adam and AdamW.

@exercise(unit="04_adam", section="2. Adam")
def adam_update(
    param: np.ndarray, grad: np.ndarray, state: dict, *,
    lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 0.0,
) -> tuple[np.ndarray, dict]:
    r"""One step of Adam, as ``torch.optim.Adam`` takes it (without ``amsgrad``).

    .. math::

        g_t &= \nabla L(\theta_{t-1}) + \lambda \, \theta_{t-1} \\
        m_t &= \beta_1 m_{t-1} + (1 - \beta_1) \, g_t, \qquad m_0 = 0 \\
        v_t &= \beta_2 v_{t-1} + (1 - \beta_2) \, g_t \odot g_t, \qquad v_0 = 0 \\
        \hat m_t &= \frac{m_t}{1 - \beta_1^t}, \qquad \hat v_t = \frac{v_t}{1 - \beta_2^t} \\
        \theta_t &= \theta_{t-1} - \eta \, \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}

    elementwise, where :math:`\theta_{t-1}` is ``param``, :math:`\nabla L(\theta_{t-1})` is ``grad``,
    :math:`(\beta_1, \beta_2)` is ``betas``, :math:`m` is ``state["exp_avg"]``, :math:`v` is
    ``state["exp_avg_sq"]``, :math:`t` is ``state["step"]`` after this step (the first step has :math:`t = 1`),
    :math:`\eta` is ``lr``, :math:`\epsilon` is ``eps`` and :math:`\lambda` is ``weight_decay``. The bias
    corrections undo the pull of :math:`m_0 = v_0 = 0` towards zero in the first steps.

    ``weight_decay`` here is an L2 penalty added to the gradient, so it is rescaled by :math:`\sqrt{\hat v_t}`
    like the rest of the gradient; decoupled weight decay is :func:`adamw_update`.

    Conventions differ: torch and this function add :math:`\epsilon` outside the square root, *after* the bias
    correction (Algorithm 1 of Kingma & Ba). Keras adds its ``epsilon`` ("epsilon hat", default 1e-7) to
    :math:`\sqrt{v_t}` before the correction. The results differ visibly only for a large ``eps`` (about 0.8
    after 100 steps at eps = 0.1, 2e-7 at eps = 1e-8, on a test quadratic).

    Args:
        param: the parameter :math:`\theta_{t-1}`, a floating-point array of any shape. Not modified.
        grad: the gradient of the loss at ``param``, same shape. Not modified.
        state: ``{}`` before the first step, then ``{"step": t - 1, "exp_avg": m, "exp_avg_sq": v}``. Not
            modified.
        lr: the learning rate :math:`\eta \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1): the decay rates of the two moving averages.
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda \ge 0`, an L2 penalty.

    Returns:
        ``(new_param, new_state)``: :math:`\theta_t` (a new array with the shape and dtype of ``param``) and
        ``{"step": t, "exp_avg": m_t, "exp_avg_sq": v_t}``.
    """
    _check_arrays(param, grad, state)
    _check_hyperparameters(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    lr, betas, eps, weight_decay = float(lr), (float(betas[0]), float(betas[1])), float(eps), float(weight_decay)
    # The gradient is grad + weight_decay * param (an L2 penalty). Increment the step counter first:
    # t = (old step) + 1, so the first step has t = 1. The moments start as zeros (np.zeros_like(param): np.zeros
    # of a shape would be float64 whatever param's dtype); build new arrays for them, so that the caller's state
    # stays as it was. Bias-correct both with t, then add eps outside the square root:
    # param - lr * m_hat / (sqrt(v_hat) + eps). The corrections are numbers: math.sqrt keeps them Python floats
    # (np.sqrt would return a NumPy float64, which turns a float32 array into float64 under NumPy 2).
    beta1, beta2 = betas
    step = state.get("step", 0) + 1
    g = grad + weight_decay * param
    exp_avg = beta1 * state.get("exp_avg", np.zeros_like(param)) + (1 - beta1) * g
    exp_avg_sq = beta2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - beta2) * g * g
    # m_hat / (sqrt(v_hat) + eps), with the two corrections applied as numbers (as torch does):
    step_size = lr / (1 - beta1**step)                       # lr * m_hat = step_size * m
    sqrt_correction2 = math.sqrt(1 - beta2**step)            # sqrt(v_hat) = sqrt(v) / sqrt(1 - beta2^t)
    new_param = param - step_size * exp_avg / (np.sqrt(exp_avg_sq) / sqrt_correction2 + eps)
    return new_param, {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


@exercise(unit="04_adam", section="4. AdamW")
def adamw_update(
    param: np.ndarray, grad: np.ndarray, state: dict, *,
    lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8, weight_decay: float = 1e-2,
) -> tuple[np.ndarray, dict]:
    r"""One step of AdamW (Adam with decoupled weight decay), as ``torch.optim.AdamW`` takes it.

    .. math::

        \theta' &= (1 - \eta \lambda) \, \theta_{t-1} \\
        \theta_t &= \operatorname{Adam}(\theta', \nabla L(\theta_{t-1}))

    where :math:`\theta_{t-1}` is ``param``, :math:`\nabla L(\theta_{t-1})` is ``grad``, :math:`\eta` is ``lr``,
    :math:`\lambda` is ``weight_decay``, and :math:`\operatorname{Adam}` is :func:`adam_update` with the same
    ``lr``, ``betas``, ``eps`` and state, and no L2 term. The decay shrinks the parameter directly; it never
    enters the moments, so it is not rescaled by :math:`1 / \sqrt{\hat v_t}` (as an L2 penalty in Adam is).

    Conventions differ: torch (and this function) multiplies the decay by ``lr``, so a schedule on ``lr`` scales
    the decay too, and the parameter shrinks by ``lr * weight_decay`` per step (1e-5 with the defaults). In
    Loshchilov & Hutter's paper the decay :math:`\lambda` is multiplied by the schedule multiplier
    :math:`\eta_t` but not by the learning rate :math:`\alpha`: the paper's :math:`\lambda` is torch's
    ``lr * weight_decay``.

    Args:
        param: the parameter :math:`\theta_{t-1}`, a floating-point array of any shape. Not modified.
        grad: the gradient of the loss at ``param``, same shape. Not modified.
        state: as for :func:`adam_update`. Not modified.
        lr: the learning rate :math:`\eta \ge 0`.
        betas: :math:`(\beta_1, \beta_2)`, each in [0, 1).
        eps: :math:`\epsilon \ge 0`.
        weight_decay: :math:`\lambda \ge 0`, the decoupled decay rate.

    Returns:
        ``(new_param, new_state)``: :math:`\theta_t` (a new array with the shape and dtype of ``param``) and
        ``{"step": t, "exp_avg": m_t, "exp_avg_sq": v_t}``.
    """
    _check_arrays(param, grad, state)
    _check_hyperparameters(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    lr, weight_decay = float(lr), float(weight_decay)
    # Two lines: shrink the parameter by the factor 1 - lr * weight_decay (into a new array), then take an Adam
    # step from the shrunk parameter with adam_update (weight_decay=0 there: the decay is not in the gradient).
    shrunk = param * (1 - lr * weight_decay)
    return adam_update(shrunk, grad, state, lr=lr, betas=betas, eps=eps)


# --------------------------------------------------------------------------------------------------------------
# The torch-shaped classes (given): they hold the parameters and the state, and call the update functions.


class Optimizer:
    """What every optimizer here shares: parameters by name, a state per parameter, and ``step(grads)``.

    Args:
        params: ``{name: array}``, the parameters to optimize: floating-point NumPy arrays of any shape, which
            ``step`` updates in place (the optimizer keeps references to them, not copies).
        lr: the learning rate; ``opt.lr`` can be changed between steps (a schedule does that).

    Attributes:
        params: the dict of parameters.
        state: ``{name: dict}``, the state of each parameter with ``torch.optim``'s keys (``{}`` before the
            first step).
        lr: the learning rate used by the next step.
    """

    #: The hyperparameters of the subclass, in ``torch.optim``'s order (for ``repr``).
    hyperparameters: tuple[str, ...] = ("lr",)

    def __init__(self, params: dict[str, np.ndarray], lr: float):
        if not isinstance(params, dict):
            raise TypeError(f"params must be a dict {{name: array}}, got {type(params).__name__}")
        if not params:
            raise ValueError("params is empty: there is nothing to optimize")
        seen: dict[int, str] = {}
        for name, param in params.items():
            if not isinstance(param, np.ndarray) or param.dtype.kind != "f":
                got = f"an array of dtype {param.dtype}" if isinstance(param, np.ndarray) else type(param).__name__
                raise TypeError(f"params[{name!r}] must be a floating-point NumPy array, got {got}")
            if not param.flags.writeable:
                raise ValueError(f"params[{name!r}] is read-only, so step() could not update it in place")
            if id(param) in seen:
                raise ValueError(f"params[{name!r}] and params[{seen[id(param)]!r}] are the same array")
            seen[id(param)] = name
        _check_hyperparameters(lr=lr)
        self.params = dict(params)
        self.lr = lr
        self.state: dict[str, dict] = {name: {} for name in self.params}

    def step(self, grads: dict[str, np.ndarray]) -> None:
        """Update every parameter in place, given ``{name: gradient}`` with the keys and shapes of ``params``."""
        self._check_grads(grads)
        for name, param in self.params.items():
            grad = np.asarray(grads[name], dtype=param.dtype)
            new_param, self.state[name] = self._update(param, grad, self.state[name])
            param[...] = new_param

    def _update(self, param: np.ndarray, grad: np.ndarray, state: dict) -> tuple[np.ndarray, dict]:
        """One parameter's step: the subclass calls its update function with its hyperparameters."""
        raise NotImplementedError

    def _check_grads(self, grads) -> None:
        if not isinstance(grads, dict):
            raise TypeError(f"grads must be a dict {{name: gradient}}, got {type(grads).__name__}")
        missing = [name for name in self.params if name not in grads]
        if missing:
            raise KeyError(f"grads has no gradient for the parameter(s) {', '.join(map(repr, missing))}")
        extra = [name for name in grads if name not in self.params]
        if extra:
            raise KeyError(f"grads has gradient(s) for {', '.join(map(repr, extra))}, which are not parameters "
                           f"of this optimizer (its parameters: {', '.join(map(repr, self.params))})")
        for name, param in self.params.items():
            if np.shape(grads[name]) != param.shape:
                raise ValueError(f"grads[{name!r}] has shape {np.shape(grads[name])}, but the parameter {name!r} "
                                 f"has shape {param.shape}")

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.hyperparameters)
        return f"{type(self).__name__}({settings}; parameters: {', '.join(self.params)})"


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum or Nesterov momentum: ``torch.optim.SGD``.

    Calls :func:`momentum_update`, or :func:`nesterov_update` when ``nesterov=True``. (torch 2.2 and later also
    give ``lr`` a default of 1e-3; here it must be given.)
    """

    hyperparameters = ("lr", "momentum", "dampening", "weight_decay", "nesterov")

    def __init__(self, params: dict[str, np.ndarray], lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False):
        _check_hyperparameters(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(f"nesterov=True needs momentum > 0 and dampening = 0, got momentum={momentum!r} "
                             f"and dampening={dampening!r}")
        super().__init__(params, lr)
        self.momentum, self.dampening, self.weight_decay, self.nesterov = momentum, dampening, weight_decay, nesterov

    def _update(self, param, grad, state):
        if self.nesterov:
            return nesterov_update(param, grad, state, lr=float(self.lr), momentum=self.momentum,
                                   weight_decay=self.weight_decay)
        return momentum_update(param, grad, state, lr=float(self.lr), momentum=self.momentum,
                               dampening=self.dampening, weight_decay=self.weight_decay)


class Adagrad(Optimizer):
    """AdaGrad: ``torch.optim.Adagrad`` (without ``lr_decay``). Calls :func:`adagrad_update`."""

    hyperparameters = ("lr", "weight_decay", "initial_accumulator_value", "eps")

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-2, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10):
        _check_hyperparameters(lr=lr, weight_decay=weight_decay,
                               initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, lr)
        self.weight_decay, self.initial_accumulator_value, self.eps = weight_decay, initial_accumulator_value, eps

    def _update(self, param, grad, state):
        return adagrad_update(param, grad, state, lr=float(self.lr), weight_decay=self.weight_decay,
                              initial_accumulator_value=self.initial_accumulator_value, eps=self.eps)


class RMSprop(Optimizer):
    """RMSProp: ``torch.optim.RMSprop`` (without ``momentum`` and ``centered``). Calls :func:`rmsprop_update`."""

    hyperparameters = ("lr", "alpha", "eps", "weight_decay")

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0):
        _check_hyperparameters(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay)
        super().__init__(params, lr)
        self.alpha, self.eps, self.weight_decay = alpha, eps, weight_decay

    def _update(self, param, grad, state):
        return rmsprop_update(param, grad, state, lr=float(self.lr), alpha=self.alpha, eps=self.eps,
                              weight_decay=self.weight_decay)


class Adam(Optimizer):
    """Adam: ``torch.optim.Adam`` (without ``amsgrad``); ``weight_decay`` is an L2 term. Calls :func:`adam_update`."""

    hyperparameters = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0):
        _check_hyperparameters(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = tuple(betas), eps, weight_decay

    def _update(self, param, grad, state):
        return adam_update(param, grad, state, lr=float(self.lr), betas=self.betas, eps=self.eps,
                           weight_decay=self.weight_decay)


class AdamW(Adam):
    """AdamW: ``torch.optim.AdamW``, Adam with decoupled weight decay. Calls :func:`adamw_update`."""

    def __init__(self, params: dict[str, np.ndarray], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def _update(self, param, grad, state):
        return adamw_update(param, grad, state, lr=float(self.lr), betas=self.betas, eps=self.eps,
                            weight_decay=self.weight_decay)
