"""Unit 04, Adam and AdamW: multi-step cases and classic mistakes for the package exercises."""

import math

import numpy as np

from optimlab.check import FLOAT64_LEAK, PARAM_RIGHT_STATE_WRONG, SWAPPED

from . import Exercise, Mistake, run_case
from ._runs import (FLOAT64_EXPLAIN, PARAM_RIGHT_STATE_WRONG_EXPLAIN, PARTS, RETURNS, SWAPPED_EXPLAIN, any_layout,
                    gradients, point, random_dtype, random_shape, strided, swapped, transposed)

# -------------------------------------------------------------------------------------------------- adam_update


def _adam_public():
    rng = np.random.default_rng(401)
    # The first case continues a run (step = 3): a step counter used before it is incremented then gives wrong
    # numbers that the checks can name, where a fresh start would divide by 1 - beta1**0 = 0.
    return [
        run_case("6 steps on a 3-vector continuing a run (step = 3): lr = 0.1, eps = 0.1",
                 param=np.array([1.0, -2.0, 0.5]),
                 state={"step": 3, "exp_avg": np.array([0.2, -0.3, 0.1]), "exp_avg_sq": np.array([0.05, 0.1, 0.02])},
                 lr=0.1, betas=(0.9, 0.999), eps=0.1, weight_decay=0.0,
                 steps={"grad": [np.array(g) for g in ([0.5, -1.0, 0.25], [0.4, -0.8, 0.5], [0.2, -0.5, -0.25],
                                                       [-0.1, 0.3, 0.5], [0.3, 0.1, -0.4], [0.6, -0.2, 0.1])]}),
        run_case("6 steps on a 3-vector from the start: betas = (0.8, 0.9), eps = 0.1",
                 param=point(rng, (3,)), state={}, lr=0.05, betas=(0.8, 0.9), eps=0.1, weight_decay=0.0,
                 steps={"grad": gradients(rng, (3,), 6)}),
        run_case("6 steps on a 2x3 matrix with weight_decay = 0.1 (an L2 term in the gradient)",
                 param=point(rng, (2, 3)), state={}, lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
                 steps={"grad": gradients(rng, (2, 3), 6)}),
        run_case("5 steps on a 2x2 matrix in float32",
                 param=point(rng, (2, 2), dtype=np.float32), state={}, lr=0.01, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.0, steps={"grad": gradients(rng, (2, 2), 5, dtype=np.float32)}),
        run_case("5 steps on a transposed 3x2 matrix (Fortran-ordered, like W.T) with strided gradients",
                 param=transposed(3, 2, rng), state={}, lr=0.05, betas=(0.8, 0.99), eps=0.1, weight_decay=0.1,
                 steps={"grad": strided(gradients(rng, (3, 2), 5))}),
    ]


def _adam_hidden(rng):
    shape = random_shape(rng)
    resumed = run_case("a random run continuing from step 2", param=point(rng, shape),
                       state={"step": 2, "exp_avg": np.round(0.3 * rng.standard_normal(shape), 3),
                              "exp_avg_sq": np.round(rng.uniform(0.01, 0.5, size=shape), 3)},
                       lr=float(rng.uniform(0.01, 0.2)),
                       betas=(float(rng.uniform(0.7, 0.9)), float(rng.uniform(0.9, 0.99))),
                       eps=float(rng.uniform(0.05, 0.2)), weight_decay=float(rng.choice([0.0, 0.1])),
                       steps={"grad": gradients(rng, shape, 6)})
    shape, dtype = random_shape(rng), random_dtype(rng)
    fresh = run_case("a random run from the start", param=any_layout(rng, point(rng, shape, dtype=dtype)), state={},
                     lr=float(rng.uniform(0.01, 0.2)), betas=(0.9, 0.999), eps=float(rng.choice([1e-8, 0.1])),
                     weight_decay=0.0, steps={"grad": gradients(rng, shape, 6, dtype=dtype, layouts=True)})
    return [resumed, fresh]


def _adam(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
          eps_inside=False, bias_correction=True, step_after_use=False, swap_betas=False, eps_before=False):
    """Adam written as in the paper, with switches for the classic mistakes."""
    beta1, beta2 = reversed(betas) if swap_betas else betas
    step = state.get("step", 0) + 1
    t = step - 1 if step_after_use else step
    g = grad + weight_decay * param
    m = beta1 * state.get("exp_avg", np.zeros_like(param)) + (1 - beta1) * g
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - beta2) * g * g
    c1, c2 = (1 - beta1**t, 1 - beta2**t) if bias_correction else (1.0, 1.0)
    if eps_inside:
        update = (m / c1) / np.sqrt(v / c2 + eps)
    elif eps_before:
        update = (m / (np.sqrt(v) + eps)) * (math.sqrt(c2) / c1)
    else:
        update = (m / c1) / (np.sqrt(v / c2) + eps)
    return param - lr * update, {"step": step, "exp_avg": m, "exp_avg_sq": v}


def _adam_variant(**switches):
    def impl(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        return _adam(param, grad, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, **switches)
    return impl


def _adam_in_place(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    beta1, beta2 = betas
    g = grad + weight_decay * param
    state["step"] = state.get("step", 0) + 1
    state.setdefault("exp_avg", np.zeros_like(param))
    state.setdefault("exp_avg_sq", np.zeros_like(param))
    state["exp_avg"] *= beta1
    state["exp_avg"] += (1 - beta1) * g
    state["exp_avg_sq"] *= beta2
    state["exp_avg_sq"] += (1 - beta2) * g * g
    t = state["step"]
    m_hat, v_hat = state["exp_avg"] / (1 - beta1**t), state["exp_avg_sq"] / (1 - beta2**t)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), state


def _adam_np_sqrt(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """Right, but with the bias corrections as NumPy scalars: np.sqrt of a Python float is an np.float64."""
    beta1, beta2 = betas
    step = state.get("step", 0) + 1
    g = grad + weight_decay * param
    m = beta1 * state.get("exp_avg", np.zeros_like(param)) + (1 - beta1) * g
    v = beta2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - beta2) * g * g
    denom = np.sqrt(v) / np.sqrt(1 - beta2**step) + eps
    return param - lr / (1 - beta1**step) * m / denom, {"step": step, "exp_avg": m, "exp_avg_sq": v}


def _adam_corrected_state(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """The bias-corrected moments stored in the state instead of the moments."""
    new_param, new_state = _adam(param, grad, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    t = new_state["step"]
    return new_param, dict(new_state, exp_avg=new_state["exp_avg"] / (1 - betas[0] ** t),
                           exp_avg_sq=new_state["exp_avg_sq"] / (1 - betas[1] ** t))


ADAM_UPDATE = Exercise(
    name="adam_update", module="optim", returns=RETURNS, parts=PARTS,
    public=_adam_public, hidden=_adam_hidden,
    mistakes=[
        Mistake("eps_inside", "eps inside the square root",
                "Adam adds eps outside the root: m_hat / (sqrt(v_hat) + eps), not m_hat / sqrt(v_hat + eps). With "
                "eps = 1e-8 the two hardly differ; this check uses a large eps so that the convention shows.",
                _adam_variant(eps_inside=True)),
        Mistake("no_bias_correction", "Adam without bias correction",
                "The moments start at 0, so m and v are too small in the first steps: divide them by "
                "1 - beta1**t and 1 - beta2**t (m_hat, v_hat) before using them.",
                _adam_variant(bias_correction=False)),
        Mistake("step_after_use", "step counter incremented after use",
                "Increment the step counter first, then use it: the first step has t = 1 (with t = 0 the bias "
                "correction 1 - beta**0 would be 0). After a state with step = 3, this step is t = 4.",
                _adam_variant(step_after_use=True)),
        Mistake("betas_swapped", "betas swapped",
                "betas = (beta1, beta2): beta1 (0.9) averages the gradients m, beta2 (0.999) averages their "
                "squares v.", _adam_variant(swap_betas=True)),
        Mistake("eps_before_correction", "eps added before the bias correction",
                "Keras's 'epsilon hat' convention: (sqrt(v) + eps) is corrected afterwards. torch corrects first: "
                "m_hat / (sqrt(v_hat) + eps) with v_hat = v / (1 - beta2**t).", _adam_variant(eps_before=True)),
        Mistake("in_place", "modifying an input in place",
                "`state['exp_avg'] *= beta1` changes the caller's state; build new arrays and return a new dict.",
                _adam_in_place, detected_by="check"),
        Mistake("float64", FLOAT64_LEAK, FLOAT64_EXPLAIN, _adam_np_sqrt, detected_by="check"),
        Mistake("corrected_state", PARAM_RIGHT_STATE_WRONG, PARAM_RIGHT_STATE_WRONG_EXPLAIN, _adam_corrected_state,
                detected_by="check"),
        Mistake("swapped", SWAPPED, SWAPPED_EXPLAIN, swapped(_adam_variant()), detected_by="check"),
    ],
)

# ------------------------------------------------------------------------------------------------- adamw_update


def _adamw_public():
    rng = np.random.default_rng(402)
    return [
        run_case("6 steps on a 3-vector: lr = 0.1, weight_decay = 0.5",
                 param=np.array([1.0, -2.0, 0.5]), state={}, lr=0.1, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.5,
                 steps={"grad": [np.array(g) for g in ([0.5, -1.0, 0.25], [0.4, -0.8, 0.5], [0.2, -0.5, -0.25],
                                                       [-0.1, 0.3, 0.5], [0.3, 0.1, -0.4], [0.6, -0.2, 0.1])]}),
        run_case("6 steps on a 2x3 matrix: lr = 0.05, weight_decay = 0.1, eps = 0.1",
                 param=point(rng, (2, 3)), state={}, lr=0.05, betas=(0.8, 0.99), eps=0.1, weight_decay=0.1,
                 steps={"grad": gradients(rng, (2, 3), 6)}),
        run_case("5 steps, continuing a run (step = 2)",
                 param=point(rng, (3,)),
                 state={"step": 2, "exp_avg": np.array([0.1, -0.2, 0.3]), "exp_avg_sq": np.array([0.2, 0.1, 0.3])},
                 lr=0.02, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.2, steps={"grad": gradients(rng, (3,), 5)}),
        run_case("5 steps on a 2x2 matrix in float32",
                 param=point(rng, (2, 2), dtype=np.float32), state={}, lr=0.01, betas=(0.9, 0.999), eps=1e-8,
                 weight_decay=0.01, steps={"grad": gradients(rng, (2, 2), 5, dtype=np.float32)}),
        run_case("5 steps on a transposed 3x2 matrix (Fortran-ordered, like W.T) with strided gradients",
                 param=transposed(3, 2, rng), state={}, lr=0.05, betas=(0.9, 0.99), eps=0.1, weight_decay=0.2,
                 steps={"grad": strided(gradients(rng, (3, 2), 5))}),
    ]


def _adamw_hidden(rng):
    shape, dtype = random_shape(rng), random_dtype(rng)
    return [run_case("a random run", param=any_layout(rng, point(rng, shape, dtype=dtype)), state={},
                     lr=float(rng.uniform(0.01, 0.3)), betas=(0.9, 0.999), eps=float(rng.choice([1e-8, 0.1])),
                     weight_decay=float(rng.uniform(0.05, 0.5)),
                     steps={"grad": gradients(rng, shape, 6, dtype=dtype, layouts=True)})]


def _adamw_l2(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adam(param, grad, state, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)


def _adamw_no_lr(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    return _adam(param * (1 - weight_decay), grad, state, lr=lr, betas=betas, eps=eps)


def _adamw_after(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
    new_param, new_state = _adam(param, grad, state, lr=lr, betas=betas, eps=eps)
    return new_param * (1 - lr * weight_decay), new_state


ADAMW_UPDATE = Exercise(
    name="adamw_update", module="optim", returns=RETURNS, parts=PARTS,
    public=_adamw_public, hidden=_adamw_hidden,
    mistakes=[
        Mistake("l2", "decay added to the gradient instead of decoupled",
                "That is Adam with an L2 penalty (adam_update's weight_decay): the decay then goes through the "
                "moments and is divided by sqrt(v_hat). AdamW shrinks the parameter directly, "
                "param * (1 - lr * weight_decay), and takes the Adam step with the plain gradient.", _adamw_l2),
        Mistake("no_lr", "decay not multiplied by lr",
                "torch shrinks the parameter by the factor 1 - lr * weight_decay on each step, not "
                "1 - weight_decay.", _adamw_no_lr),
        Mistake("after", "decay applied after the Adam step",
                "Shrink the parameter first, then take the Adam step from the shrunk parameter: "
                "adam_update(param * (1 - lr * weight_decay), ...).", _adamw_after),
    ],
)

EXERCISES = [ADAM_UPDATE, ADAMW_UPDATE]
