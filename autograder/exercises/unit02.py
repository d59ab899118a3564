"""Unit 02, momentum and Nesterov: multi-step cases and classic mistakes for the package exercises."""

import numpy as np

from optimlab.check import SHARES_MEMORY, SWAPPED, VELOCITY_FORM

from . import Exercise, Mistake, run_case
from ._runs import (PARTS, RETURNS, SWAPPED_EXPLAIN, any_layout, gradients, point, random_dtype, random_shape,
                    strided, swapped, transposed)

# ---------------------------------------------------------------------------------------------- momentum_update


def _momentum_public():
    rng = np.random.default_rng(201)
    return [
        run_case("6 steps on a 3-vector: lr = 0.1, momentum = 0.9",
                 param=np.array([1.0, -2.0, 0.5]), state={}, lr=0.1, momentum=0.9, dampening=0.0,
                 weight_decay=0.0,
                 steps={"grad": [np.array(g) for g in ([0.5, -1.0, 0.25], [0.4, -0.8, 0.5], [0.2, -0.5, -0.25],
                                                       [-0.1, 0.3, 0.5], [0.3, 0.1, -0.4], [0.6, -0.2, 0.1])]}),
        run_case("6 steps on a 3-vector with dampening = 0.5",
                 param=point(rng, (3,)), state={}, lr=0.05, momentum=0.8, dampening=0.5, weight_decay=0.0,
                 steps={"grad": gradients(rng, (3,), 6)}),
        run_case("6 steps on a 2x3 matrix with weight_decay = 0.1 and dampening = 0.2",
                 param=point(rng, (2, 3)), state={}, lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.1,
                 steps={"grad": gradients(rng, (2, 3), 6)}),
        run_case("5 steps, continuing a run (a momentum_buffer is given)",
                 param=point(rng, (3,)), state={"momentum_buffer": np.array([0.3, -0.6, 0.2])}, lr=0.1,
                 momentum=0.7, dampening=0.0, weight_decay=0.0, steps={"grad": gradients(rng, (3,), 5)}),
        run_case("5 steps on a 2x2 matrix in float32",
                 param=point(rng, (2, 2), dtype=np.float32), state={}, lr=0.1, momentum=0.9, dampening=0.0,
                 weight_decay=0.0, steps={"grad": gradients(rng, (2, 2), 5, dtype=np.float32)}),
        run_case("5 steps with momentum = 0 (plain gradient descent: no buffer in the state)",
                 param=point(rng, (3,)), state={}, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 steps={"grad": gradients(rng, (3,), 5)}),
        run_case("5 steps with momentum = 0 and weight_decay = 0.1 (no buffer, but the decay still applies)",
                 param=point(rng, (3,)), state={}, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.1,
                 steps={"grad": gradients(rng, (3,), 5)}),
        run_case("5 steps on a transposed 3x2 matrix (Fortran-ordered, like W.T) with strided gradients",
                 param=transposed(3, 2, rng), state={}, lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.05,
                 steps={"grad": strided(gradients(rng, (3, 2), 5))}),
    ]


def _momentum_hidden(rng):
    """A fresh run with momentum, then one at a boundary: momentum 0 with weight decay, no dampening, or a run
    that continues from a given buffer."""
    shape, dtype = random_shape(rng), random_dtype(rng)
    fresh = run_case("a random run", param=any_layout(rng, point(rng, shape, dtype=dtype)), state={},
                     lr=float(rng.uniform(0.01, 0.3)), momentum=float(rng.uniform(0.5, 0.95)),
                     dampening=float(rng.choice([0.0, rng.uniform(0.1, 0.6)])),
                     weight_decay=float(rng.choice([0.0, 0.1])),
                     steps={"grad": gradients(rng, shape, 6, dtype=dtype, layouts=True)})
    shape = random_shape(rng)
    kind = int(rng.integers(3))
    momentum = 0.0 if kind == 0 else float(rng.uniform(0.5, 0.95))
    state = {"momentum_buffer": np.round(rng.standard_normal(shape), 3)} if kind == 2 else {}
    boundary = run_case("a random run at a boundary", param=point(rng, shape), state=state,
                        lr=float(rng.uniform(0.01, 0.3)), momentum=momentum,
                        dampening=0.0 if kind == 1 else float(rng.uniform(0.1, 0.6)),
                        weight_decay=float(rng.uniform(0.05, 0.2)) if kind == 0 else float(rng.choice([0.0, 0.1])),
                        steps={"grad": gradients(rng, shape, 5)})
    return [fresh, boundary]


def _momentum(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0,
              carry=True, sign=-1.0, zero_start=False):
    """The heavy ball written plainly, with switches for the classic mistakes."""
    g = grad + weight_decay * param
    new_state = dict(state)
    if momentum != 0:
        if carry and "momentum_buffer" in state:
            buffer = momentum * state["momentum_buffer"] + (1 - dampening) * g
        elif zero_start:
            buffer = (1 - dampening) * g
        else:
            buffer = g.copy()
        new_state["momentum_buffer"] = buffer
        g = buffer
    return param + sign * lr * g, new_state


def _momentum_fresh_buffer(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    return _momentum(param, grad, state, lr=lr, momentum=momentum, dampening=dampening,
                     weight_decay=weight_decay, carry=False)


def _momentum_old_state(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    new_param, _ = _momentum(param, grad, state, lr=lr, momentum=momentum, dampening=dampening,
                             weight_decay=weight_decay)
    return new_param, dict(state)


def _momentum_wrong_sign(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    return _momentum(param, grad, state, lr=lr, momentum=momentum, dampening=dampening,
                     weight_decay=weight_decay, sign=1.0)


def _momentum_zero_start(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    return _momentum(param, grad, state, lr=lr, momentum=momentum, dampening=dampening,
                     weight_decay=weight_decay, zero_start=True)


def _momentum_in_place(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    g = grad + weight_decay * param
    if momentum != 0:
        if "momentum_buffer" in state:
            buffer = state["momentum_buffer"]
            buffer *= momentum
            buffer += (1 - dampening) * g
        else:
            buffer = state["momentum_buffer"] = g.copy()
        g = buffer
    return param - lr * g, state


def _momentum_early_return(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    if momentum == 0:
        return param - lr * grad, {}                      # weight_decay forgotten on this path
    return _momentum(param, grad, state, lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)


def _momentum_buffer_is_grad(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    g = grad if weight_decay == 0 else grad + weight_decay * param
    if momentum == 0:
        return param - lr * g, {}
    if "momentum_buffer" in state:
        buffer = momentum * state["momentum_buffer"] + (1 - dampening) * g
    else:
        buffer = g                                         # the caller's own grad array, when weight_decay == 0
    return param - lr * buffer, {"momentum_buffer": buffer}


def _momentum_velocity(param, grad, state, *, lr, momentum, dampening=0.0, weight_decay=0.0):
    """Sutskever's form: v = momentum * v - lr * g, param + v, with v stored as the buffer."""
    g = grad + weight_decay * param
    if momentum == 0:
        return param - lr * g, {}
    if "momentum_buffer" in state:
        v = momentum * state["momentum_buffer"] - lr * (1 - dampening) * g
    else:
        v = -lr * g
    return param + v, {"momentum_buffer": v}


_NOT_CARRIED = ("momentum buffer not carried between steps",
                "The buffer lives on from step to step: the new buffer is momentum * (the buffer in the state "
                "passed in) plus the gradient (times 1 - dampening), and it goes into the returned state, where "
                "the next step finds it. Otherwise the buffer restarts at the gradient on every step.")

MOMENTUM_UPDATE = Exercise(
    name="momentum_update", module="optim", returns=RETURNS, parts=PARTS,
    public=_momentum_public, hidden=_momentum_hidden,
    mistakes=[
        Mistake("not_carried", *_NOT_CARRIED, _momentum_fresh_buffer),
        Mistake("state_not_returned", *_NOT_CARRIED, _momentum_old_state),
        Mistake("wrong_sign", "wrong sign of the update",
                "You moved uphill: the step is param - lr * buffer, against the (accumulated) gradient.",
                _momentum_wrong_sign),
        Mistake("dampening_first_step", "dampening applied on the first step",
                "torch starts the buffer at the gradient itself on the first step (b_1 = g_1); dampening only "
                "weighs the gradients of later steps. Starting from a zero buffer gives b_1 = (1 - dampening) * g_1.",
                _momentum_zero_start),
        Mistake("in_place", "modifying an input in place",
                "`buffer *= momentum` or `state[...] = ...` changes the caller's state; build a new dict and new "
                "arrays.", _momentum_in_place, detected_by="check"),
        Mistake("early_return", "weight decay skipped when momentum is 0",
                "With momentum = 0 there is no buffer, but the gradient is still grad + weight_decay * param: "
                "apply the decay before the branch on momentum.", _momentum_early_return),
        Mistake("buffer_is_grad", SHARES_MEMORY,
                "On the first step the buffer *is* the gradient: store a copy (np.copy(g), or the new array that "
                "grad + weight_decay * param builds), not the caller's `grad` itself.", _momentum_buffer_is_grad,
                detected_by="check"),
        Mistake("velocity", VELOCITY_FORM,
                "torch's buffer is b = momentum * b + (1 - dampening) * g, and the step is -lr * b. The velocity "
                "v = momentum * v - lr * g gives the same parameters while lr is constant (v = -lr * b), but "
                "another state, and other parameters once a schedule changes lr.", _momentum_velocity,
                detected_by="check"),
        Mistake("swapped", SWAPPED, SWAPPED_EXPLAIN, swapped(lambda *a, **k: _momentum(*a, **k)),
                detected_by="check"),
    ],
)

# ---------------------------------------------------------------------------------------------- nesterov_update


def _nesterov_public():
    rng = np.random.default_rng(202)
    return [
        run_case("6 steps on a 3-vector: lr = 0.1, momentum = 0.9",
                 param=np.array([1.0, -2.0, 0.5]), state={}, lr=0.1, momentum=0.9, weight_decay=0.0,
                 steps={"grad": [np.array(g) for g in ([0.5, -1.0, 0.25], [0.4, -0.8, 0.5], [0.2, -0.5, -0.25],
                                                       [-0.1, 0.3, 0.5], [0.3, 0.1, -0.4], [0.6, -0.2, 0.1])]}),
        run_case("6 steps on a 2x3 matrix with weight_decay = 0.1",
                 param=point(rng, (2, 3)), state={}, lr=0.05, momentum=0.8, weight_decay=0.1,
                 steps={"grad": gradients(rng, (2, 3), 6)}),
        run_case("5 steps, continuing a run (a momentum_buffer is given)",
                 param=point(rng, (3,)), state={"momentum_buffer": np.array([-0.4, 0.5, 0.1])}, lr=0.1,
                 momentum=0.6, weight_decay=0.0, steps={"grad": gradients(rng, (3,), 5)}),
        run_case("5 steps on a 2x2 matrix in float32",
                 param=point(rng, (2, 2), dtype=np.float32), state={}, lr=0.1, momentum=0.9, weight_decay=0.0,
                 steps={"grad": gradients(rng, (2, 2), 5, dtype=np.float32)}),
        run_case("5 steps on a transposed 3x2 matrix (Fortran-ordered, like W.T) with strided gradients",
                 param=transposed(3, 2, rng), state={}, lr=0.1, momentum=0.8, weight_decay=0.05,
                 steps={"grad": strided(gradients(rng, (3, 2), 5))}),
    ]


def _nesterov_hidden(rng):
    shape, dtype = random_shape(rng), random_dtype(rng)
    return [run_case("a random run", param=any_layout(rng, point(rng, shape, dtype=dtype)), state={},
                     lr=float(rng.uniform(0.01, 0.3)), momentum=float(rng.uniform(0.5, 0.95)),
                     weight_decay=float(rng.choice([0.0, 0.1])),
                     steps={"grad": gradients(rng, shape, 6, dtype=dtype, layouts=True)})]


def _nesterov_as_momentum(param, grad, state, *, lr, momentum, weight_decay=0.0):
    return _momentum(param, grad, state, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _nesterov_buffer_is_grad(param, grad, state, *, lr, momentum, weight_decay=0.0):
    g = grad if weight_decay == 0 else grad + weight_decay * param
    buffer = momentum * state["momentum_buffer"] + g if "momentum_buffer" in state else g
    return param - lr * (g + momentum * buffer), {"momentum_buffer": buffer}


def _nesterov_fresh_buffer(param, grad, state, *, lr, momentum, weight_decay=0.0):
    g = grad + weight_decay * param
    return param - lr * (g + momentum * g), dict(state, momentum_buffer=g.copy())


NESTEROV_UPDATE = Exercise(
    name="nesterov_update", module="optim", returns=RETURNS, parts=PARTS,
    public=_nesterov_public, hidden=_nesterov_hidden,
    mistakes=[
        Mistake("plain_momentum", "Nesterov computed as plain momentum",
                "Your steps are those of the heavy ball, param - lr * buffer. Nesterov's step looks ahead: it is "
                "param - lr * (gradient + momentum * buffer), with the buffer already updated on this step.",
                _nesterov_as_momentum),
        Mistake("not_carried", *_NOT_CARRIED, _nesterov_fresh_buffer),
        Mistake("buffer_is_grad", SHARES_MEMORY,
                "On the first step the buffer *is* the gradient: store a copy, not the caller's `grad` itself.",
                _nesterov_buffer_is_grad, detected_by="check"),
    ],
)

EXERCISES = [MOMENTUM_UPDATE, NESTEROV_UPDATE]
