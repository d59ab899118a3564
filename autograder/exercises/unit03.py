"""Unit 03, adaptive learning rates: multi-step cases and classic mistakes for AdaGrad and RMSProp."""

import numpy as np

from optimlab.check import FLOAT64_LEAK, STATE_RIGHT_PARAM_WRONG

from . import Exercise, Mistake, run_case
from ._runs import (FLOAT64_EXPLAIN, PARTS, RETURNS, STATE_RIGHT_PARAM_WRONG_EXPLAIN, any_layout, gradients, point,
                    random_dtype, random_shape, strided, transposed)

# ----------------------------------------------------------------------------------------------- adagrad_update


def _adagrad_public():
    rng = np.random.default_rng(301)
    # The first case has positive gradients, so that a sum of raw gradients stays positive and its square root
    # exists: accumulating g instead of g**2 then gives numbers the checks can recognize.
    return [
        run_case("6 steps on a 3-vector: lr = 0.5, eps = 0.1",
                 param=np.array([1.0, -2.0, 0.5]), state={}, lr=0.5, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=0.1,
                 steps={"grad": [np.array(g) for g in ([0.5, 1.0, 0.25], [0.4, 0.8, 0.5], [0.2, 0.5, 1.25],
                                                       [1.1, 0.3, 0.5], [0.3, 0.1, 0.4], [0.6, 0.2, 0.1])]}),
        run_case("6 steps on a 3-vector with initial_accumulator_value = 0.5",
                 param=point(rng, (3,)), state={}, lr=0.3, weight_decay=0.0, initial_accumulator_value=0.5,
                 eps=1e-10, steps={"grad": gradients(rng, (3,), 6)}),
        run_case("6 steps on a 2x3 matrix with weight_decay = 0.1",
                 param=point(rng, (2, 3)), state={}, lr=0.2, weight_decay=0.1, initial_accumulator_value=0.1,
                 eps=0.01, steps={"grad": gradients(rng, (2, 3), 6)}),
        run_case("5 steps, continuing a run (step and sum are given)",
                 param=point(rng, (3,)), state={"step": 4, "sum": np.array([2.5, 0.75, 1.5])}, lr=0.5,
                 weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 steps={"grad": gradients(rng, (3,), 5)}),
        run_case("5 steps on a 2x2 matrix in float32",
                 param=point(rng, (2, 2), dtype=np.float32), state={}, lr=0.1, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, steps={"grad": gradients(rng, (2, 2), 5,
                                                                                    dtype=np.float32)}),
        run_case("5 steps on a transposed 3x2 matrix (Fortran-ordered, like W.T) with strided gradients",
                 param=transposed(3, 2, rng), state={}, lr=0.2, weight_decay=0.1, initial_accumulator_value=0.1,
                 eps=0.01, steps={"grad": strided(gradients(rng, (3, 2), 5))}),
    ]


def _adagrad_hidden(rng):
    shape = random_shape(rng)
    first = run_case("a random run with positive gradients", param=point(rng, shape), state={},
                     lr=float(rng.uniform(0.05, 0.5)), weight_decay=0.0,
                     initial_accumulator_value=float(rng.choice([0.0, 0.1])), eps=float(rng.uniform(0.05, 0.2)),
                     steps={"grad": gradients(rng, shape, 6, positive=True)})
    shape, dtype = random_shape(rng), random_dtype(rng)
    second = run_case("a random run", param=any_layout(rng, point(rng, shape, dtype=dtype)), state={},
                      lr=float(rng.uniform(0.05, 0.5)), weight_decay=float(rng.choice([0.0, 0.1])),
                      initial_accumulator_value=float(rng.uniform(0.1, 1)), eps=float(rng.choice([1e-10, 0.1])),
                      steps={"grad": gradients(rng, shape, 6, dtype=dtype, layouts=True)})
    return [first, second]


def _adagrad(param, grad, state, *, lr=1e-2, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
             square=True, root=True, eps_inside=False, use_initial=True):
    """AdaGrad written plainly, with switches for the classic mistakes."""
    g = grad + weight_decay * param
    start = initial_accumulator_value if use_initial else 0.0
    total = state.get("sum", np.full_like(param, start)) + (g * g if square else g)
    if eps_inside:
        denom = np.sqrt(total + eps)
    else:
        denom = (np.sqrt(total) if root else total) + eps
    return param - lr * g / denom, {"step": state.get("step", 0) + 1, "sum": total}


def _adagrad_variant(**switches):
    def impl(param, grad, state, *, lr=1e-2, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
        return _adagrad(param, grad, state, lr=lr, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps, **switches)
    return impl


def _adagrad_in_place(param, grad, state, *, lr=1e-2, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    g = grad + weight_decay * param
    if "sum" not in state:
        state["sum"] = np.full_like(param, initial_accumulator_value)
    state["sum"] += g * g
    state["step"] = state.get("step", 0) + 1
    return param - lr * g / (np.sqrt(state["sum"]) + eps), state


def _adagrad_old_sum(param, grad, state, *, lr=1e-2, weight_decay=0.0, initial_accumulator_value=0.0,
                     eps=1e-10):
    g = grad + weight_decay * param
    old = state.get("sum", np.full_like(param, initial_accumulator_value))
    return param - lr * g / (np.sqrt(old) + eps), {"step": state.get("step", 0) + 1, "sum": old + g * g}


def _adagrad_zeros(param, grad, state, *, lr=1e-2, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10):
    g = grad + weight_decay * param
    total = state.get("sum", np.full(param.shape, initial_accumulator_value)) + g * g
    return param - lr * g / (np.sqrt(total) + eps), {"step": state.get("step", 0) + 1, "sum": total}


ADAGRAD_UPDATE = Exercise(
    name="adagrad_update", module="optim", returns=RETURNS, parts=PARTS,
    public=_adagrad_public, hidden=_adagrad_hidden,
    mistakes=[
        Mistake("not_squared", "accumulating g instead of g²",
                "AdaGrad's sum adds the *squared* gradient, g * g, elementwise: it measures how large the "
                "gradients of each entry have been, whatever their sign.", _adagrad_variant(square=False)),
        Mistake("eps_inside", "eps inside the square root",
                "torch adds eps outside the root: gradient / (sqrt(sum) + eps), not gradient / sqrt(sum + eps). "
                "With a small eps the two hardly differ; this check uses a large eps so that the convention shows.",
                _adagrad_variant(eps_inside=True)),
        Mistake("no_sqrt", "no square root",
                "Divide by sqrt(sum) + eps, not by sum + eps: the sum has the units of a squared gradient, and "
                "only its square root makes the step independent of the gradient's scale.",
                _adagrad_variant(root=False)),
        Mistake("no_initial", "initial_accumulator_value ignored",
                "On the first step the sum starts as an array full of initial_accumulator_value, not zeros.",
                _adagrad_variant(use_initial=False)),
        Mistake("in_place", "modifying an input in place",
                "`state['sum'] += ...` changes the caller's state; add to a copy of the sum and return a new dict.",
                _adagrad_in_place, detected_by="check"),
        Mistake("old_sum", STATE_RIGHT_PARAM_WRONG, STATE_RIGHT_PARAM_WRONG_EXPLAIN, _adagrad_old_sum,
                detected_by="check"),
        Mistake("float64", FLOAT64_LEAK, FLOAT64_EXPLAIN, _adagrad_zeros, detected_by="check"),
    ],
)

# ----------------------------------------------------------------------------------------------- rmsprop_update


def _rmsprop_public():
    rng = np.random.default_rng(302)
    return [
        run_case("6 steps on a 3-vector: lr = 0.1, alpha = 0.9, eps = 0.1",
                 param=np.array([1.0, -2.0, 0.5]), state={}, lr=0.1, alpha=0.9, eps=0.1, weight_decay=0.0,
                 steps={"grad": [np.array(g) for g in ([0.5, -1.0, 0.25], [0.4, -0.8, 0.5], [0.2, -0.5, -0.25],
                                                       [-0.1, 0.3, 0.5], [0.3, 0.1, -0.4], [0.6, -0.2, 0.1])]}),
        run_case("6 steps on a 2x3 matrix with weight_decay = 0.1 and alpha = 0.99",
                 param=point(rng, (2, 3)), state={}, lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.1,
                 steps={"grad": gradients(rng, (2, 3), 6)}),
        run_case("5 steps, continuing a run (step and square_avg are given)",
                 param=point(rng, (3,)), state={"step": 7, "square_avg": np.array([0.2, 0.05, 0.9])}, lr=0.05,
                 alpha=0.8, eps=1e-8, weight_decay=0.0, steps={"grad": gradients(rng, (3,), 5)}),
        run_case("5 steps on a 2x2 matrix in float32",
                 param=point(rng, (2, 2), dtype=np.float32), state={}, lr=0.01, alpha=0.9, eps=1e-8,
                 weight_decay=0.0, steps={"grad": gradients(rng, (2, 2), 5, dtype=np.float32)}),
        run_case("5 steps on a transposed 3x2 matrix (Fortran-ordered, like W.T) with strided gradients",
                 param=transposed(3, 2, rng), state={}, lr=0.05, alpha=0.9, eps=0.1, weight_decay=0.1,
                 steps={"grad": strided(gradients(rng, (3, 2), 5))}),
    ]


def _rmsprop_hidden(rng):
    shape, dtype = random_shape(rng), random_dtype(rng)
    return [run_case("a random run", param=any_layout(rng, point(rng, shape, dtype=dtype)), state={},
                     lr=float(rng.uniform(0.01, 0.2)), alpha=float(rng.uniform(0.6, 0.95)),
                     eps=float(rng.uniform(0.05, 0.2)), weight_decay=float(rng.choice([0.0, 0.1])),
                     steps={"grad": gradients(rng, shape, 6, dtype=dtype, layouts=True)})]


def _rmsprop(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0,
             old_weight=None, new_weight=None, eps_inside=False):
    """RMSProp written plainly; the weights of the old average and of g**2 can be changed for the mistakes."""
    old_weight = alpha if old_weight is None else old_weight
    new_weight = 1 - alpha if new_weight is None else new_weight
    g = grad + weight_decay * param
    square_avg = old_weight * state.get("square_avg", np.zeros_like(param)) + new_weight * g * g
    denom = np.sqrt(square_avg + eps) if eps_inside else np.sqrt(square_avg) + eps
    return param - lr * g / denom, {"step": state.get("step", 0) + 1, "square_avg": square_avg}


def _rmsprop_eps_inside(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    return _rmsprop(param, grad, state, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, eps_inside=True)


def _rmsprop_sum(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    return _rmsprop(param, grad, state, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay, new_weight=1.0)


def _rmsprop_swapped(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    return _rmsprop(param, grad, state, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                    old_weight=1 - alpha, new_weight=alpha)


def _rmsprop_zeros(param, grad, state, *, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0):
    g = grad + weight_decay * param
    square_avg = alpha * state.get("square_avg", np.zeros(param.shape)) + (1 - alpha) * g * g
    return param - lr * g / (np.sqrt(square_avg) + eps), {"step": state.get("step", 0) + 1, "square_avg": square_avg}


RMSPROP_UPDATE = Exercise(
    name="rmsprop_update", module="optim", returns=RETURNS, parts=PARTS,
    public=_rmsprop_public, hidden=_rmsprop_hidden,
    mistakes=[
        Mistake("eps_inside", "eps inside the square root",
                "torch adds eps outside the root: gradient / (sqrt(square_avg) + eps), not "
                "gradient / sqrt(square_avg + eps). With eps = 1e-8 the two hardly differ; this check uses a large "
                "eps so that the convention shows.", _rmsprop_eps_inside),
        Mistake("summing", "summing instead of averaging",
                "square_avg must be an average: alpha * square_avg + (1 - alpha) * g**2, whose weights add up to "
                "1. alpha * square_avg + g**2 grows about 1 / (1 - alpha) times too large.", _rmsprop_sum),
        Mistake("alpha_swapped", "alpha and 1 - alpha swapped",
                "alpha is the weight of the *old* average (0.99 by default: it changes slowly); the new squared "
                "gradient gets 1 - alpha.", _rmsprop_swapped),
        Mistake("float64", FLOAT64_LEAK, FLOAT64_EXPLAIN, _rmsprop_zeros, detected_by="check"),
    ],
)

EXERCISES = [ADAGRAD_UPDATE, RMSPROP_UPDATE]
