"""Unit 06, regularization: cases and classic mistakes for the penalties, dropout and early stopping.

Settings are chosen so that each mistake shows: parameters with entries exactly 0 (where sign(0) matters), biases
among the parameters (with and without ``decay_biases``), both penalties at once and each alone; dropout masks
drawn from seeds, with ``p`` in {0, 0.2, 0.5, 0.8, 1} (at p = 0.5 dividing by p and by 1 - p agree, so it is
never the only setting), inputs without zeros (so the zeros of an output show where the mask is), training and
evaluation; early stopping on long validation curves with plateaus, exact ties with the best, improvements just
below and just above ``min_delta``, and NaN, with patience 1 to 4.

Early stopping is checked one call per epoch, each call given the state a correct previous call returns. So every
epoch is judged on its own, a mistake is named at the first epoch it shows (a run that carried the student's own
state would drift after it, and no longer look like the mistake), and the message names that call.
"""

import math

import numpy as np

from optimlab import check as _check
from optimlab.check import with_layout

from .. import reference
from . import Exercise, Mistake, Rng, case, run_case
from ._runs import any_layout

# The titles of the dropout diagnosis of optimlab.check: a mistake named by its recorded output gets the same words
# as an independently written variant named by the diagnosis. NaN at p = 1 is named by the diagnosis only (JSON
# holds no NaN, so such an output is never recorded).
SWAPPED, NEW_MASK, NAN_AT_ONE = _check.DROPOUT_SWAPPED, _check.NEW_MASK_IN_BACKWARD, _check.DROPOUT_NAN_AT_ONE


def _r(x, digits: int = 3):
    """Values rounded so that a failing case prints readably."""
    return np.round(x, digits)


# ============================================================================================ weight penalties


def _network_params(rng: np.random.Generator, *, zeros: int = 2, dtype=np.float64) -> dict[str, np.ndarray]:
    """The parameters of a small MLP, named as ``model.parameters()`` names them, with ``zeros`` entries of the
    weights exactly 0 and biases that are not small (so that decaying them or not shows)."""
    params = {
        "0.weight": _r(rng.uniform(-1.5, 1.5, size=(3, 4))),
        "0.bias": _r(rng.uniform(0.5, 2.0, size=3) * rng.choice([-1, 1], size=3)),
        "2.weight": _r(rng.uniform(-1.5, 1.5, size=(2, 3))),
        "2.bias": _r(rng.uniform(0.5, 2.0, size=2) * rng.choice([-1, 1], size=2)),
    }
    for name in ("0.weight", "2.weight"):
        flat = params[name].reshape(-1)
        flat[rng.choice(flat.size, size=min(zeros, flat.size), replace=False)] = 0.0
    return {k: v.astype(dtype) for k, v in params.items()}


def _grads_like(rng: np.random.Generator, params: dict) -> dict[str, np.ndarray]:
    return {k: _r(rng.standard_normal(v.shape)).astype(v.dtype) for k, v in params.items()}


def _laid_out(rng: np.random.Generator, arrays: dict) -> dict[str, np.ndarray]:
    """The same arrays, each in a memory layout a caller really passes (C-contiguous half of the time)."""
    return {k: any_layout(rng, v) for k, v in arrays.items()}


def _transposed_weights(params: dict) -> dict[str, np.ndarray]:
    """The same values, the weights Fortran-ordered (as W.T of a C-ordered matrix) and the biases strided."""
    return {k: with_layout(v, "F" if v.ndim == 2 else "strided") for k, v in params.items()}


def _decayed(name: str, decay_biases: bool) -> bool:
    return decay_biases or name.rpartition(".")[2] != "bias"


# ------------------------------------------------------------------------------------------------------ penalty


def _penalty_public():
    rng = np.random.default_rng(601)
    params = _network_params(rng)
    single = {"weight": np.array([[0.5, -1.0], [0.0, 2.0]]), "bias": np.array([1.0, -3.0])}
    return [
        case("L2 alone, l2 = 0.1, biases not decayed", params=params, l2=0.1, l1=0.0, decay_biases=False),
        case("L1 alone, l1 = 0.05, biases not decayed", params=params, l2=0.0, l1=0.05, decay_biases=False),
        case("both, l2 = 0.2 and l1 = 0.1, biases decayed too", params=params, l2=0.2, l1=0.1, decay_biases=True),
        case("a single layer named 'weight' and 'bias' (no dots), l2 = 1.0, l1 = 0.5", params=single, l2=1.0,
             l1=0.5, decay_biases=False),
        case("a single layer, the bias decayed: l2 = 1.0", params=single, l2=1.0, l1=0.0, decay_biases=True),
        case("the weights Fortran-ordered (like W.T) and the biases strided views, both penalties",
             params=_transposed_weights(params), l2=0.3, l1=0.2, decay_biases=False),
    ]


def _penalty_hidden(rng):
    params = _laid_out(rng, _network_params(rng, zeros=int(rng.integers(1, 4))))
    return [case("random parameters, both penalties", params=params, l2=float(_r(rng.uniform(0.01, 1.0))),
                 l1=float(_r(rng.uniform(0.01, 1.0))), decay_biases=bool(rng.integers(2)))]


def _penalty_variant(*, l2_factor=0.5, biases=None):
    """The penalty with l2 * l2_factor * |w|^2, and with the biases decayed always (True), never (False), or as
    decay_biases says (None)."""

    def impl(params, *, l2=0.0, l1=0.0, decay_biases=False):
        total = 0.0
        for name, w in params.items():
            decayed = _decayed(name, decay_biases) if biases is None else (biases or name.rpartition(".")[2] != "bias")
            if decayed:
                total += l2_factor * l2 * float((w**2).sum()) + l1 * float(np.abs(w).sum())
        return total

    return impl


PENALTY = Exercise(
    name="penalty", module="regularization", returns="the penalty", public=_penalty_public, hidden=_penalty_hidden,
    mistakes=[
        Mistake("no_half", "the L2 penalty without the 1/2: l2 * |w|^2",
                "torch's weight_decay = l2 adds l2 * w to the gradient, which is the gradient of l2 / 2 * |w|^2: keep "
                "the 1/2, so that the penalty and penalty_grads describe the same thing.",
                _penalty_variant(l2_factor=1.0)),
        Mistake("biases_decayed", "decaying the biases when decay_biases=False",
                "With decay_biases=False, the parameters whose name ends in 'bias' (is_bias(name)) are left out of "
                "the penalty: a bias only shifts a unit, and shrinking it towards 0 does not make the function "
                "simpler.", _penalty_variant(biases=True)),
        Mistake("biases_not_decayed", "not decaying the biases when decay_biases=True",
                "decay_biases=True penalizes every parameter, the biases too (as torch's weight_decay does on every "
                "parameter it is given).", _penalty_variant(biases=False)),
    ],
)

# ------------------------------------------------------------------------------------------------ penalty_grads


def _penalty_grads_public():
    rng = np.random.default_rng(602)
    params = _network_params(rng, zeros=3)
    grads = _grads_like(rng, params)
    small = {"0.weight": np.array([[0.0, 1.5], [-2.0, 0.0]]), "0.bias": np.array([0.0, 2.0])}
    small_grads = {"0.weight": np.array([[0.1, -0.2], [0.3, 0.0]]), "0.bias": np.array([0.5, -0.5])}
    params32 = _network_params(rng, dtype=np.float32)
    return [
        case("L2 alone, l2 = 0.1, biases not decayed", grads=grads, params=params, l2=0.1, l1=0.0,
             decay_biases=False),
        case("L1 alone, l1 = 0.05: some weights are exactly 0 (sign(0) = 0)", grads=grads, params=params, l2=0.0,
             l1=0.05, decay_biases=False),
        case("both, l2 = 0.2 and l1 = 0.1, biases decayed too (one bias is exactly 0)", grads=small_grads,
             params=small, l2=0.2, l1=0.1, decay_biases=True),
        case("both, biases not decayed", grads=grads, params=params, l2=0.5, l1=0.2, decay_biases=False),
        case("float32 parameters and gradients", grads=_grads_like(rng, params32), params=params32, l2=0.1,
             l1=0.05, decay_biases=True),
        case("Fortran-ordered weights (like W.T) and strided biases, with strided gradients",
             grads=_transposed_weights(grads), params=_transposed_weights(params), l2=0.2, l1=0.1,
             decay_biases=False),
    ]


def _penalty_grads_hidden(rng):
    dtype = np.float32 if rng.random() < 0.25 else np.float64
    params = _network_params(rng, zeros=int(rng.integers(1, 4)), dtype=dtype)
    return [case("random parameters and gradients, both penalties", grads=_laid_out(rng, _grads_like(rng, params)),
                 params=_laid_out(rng, params),
                 l2=float(_r(rng.uniform(0.01, 1.0))), l1=float(_r(rng.uniform(0.01, 1.0))),
                 decay_biases=bool(rng.integers(2)))]


def _grads_variant(*, l2_factor=1.0, sign=np.sign, biases=None):
    def impl(grads, params, *, l2=0.0, l1=0.0, decay_biases=False):
        new = {}
        for name in grads:
            decayed = _decayed(name, decay_biases) if biases is None else (biases or name.rpartition(".")[2] != "bias")
            w = params[name]
            new[name] = grads[name] + l2_factor * l2 * w + l1 * sign(w) if decayed else grads[name].copy()
        return new

    return impl


def _sign_zero_positive(w):
    return np.where(w >= 0, 1.0, -1.0).astype(w.dtype)


PENALTY_GRADS = Exercise(
    name="penalty_grads", module="regularization", returns="the gradients", public=_penalty_grads_public,
    hidden=_penalty_grads_hidden,
    mistakes=[
        Mistake("two_l2", "the L2 gradient 2 * l2 * w instead of l2 * w",
                "The penalty is l2 / 2 * |w|^2, whose gradient is l2 * w: that is what torch's weight_decay = l2 adds. "
                "2 * l2 * w is the gradient of l2 * |w|^2, twice as strong.", _grads_variant(l2_factor=2.0)),
        Mistake("sign_zero", "L1 with sign(0) = 1",
                "|w| has no slope at 0; the subgradient used is 0 there (np.sign(0) is 0), so a weight that is "
                "exactly 0 gets no push. np.where(w >= 0, 1, -1) pushes it to -l1 * lr, away from the 0 that L1 is "
                "after. Use np.sign(w).", _grads_variant(sign=_sign_zero_positive)),
        Mistake("biases_decayed", "decaying the biases when decay_biases=False",
                "With decay_biases=False, a parameter whose name ends in 'bias' (is_bias(name)) gets its gradient "
                "unchanged (a copy of it).", _grads_variant(biases=True)),
        Mistake("biases_not_decayed", "not decaying the biases when decay_biases=True",
                "decay_biases=True adds the penalty's gradient to every parameter's, the biases' too.",
                _grads_variant(biases=False)),
    ],
)

# ------------------------------------------------------------------------------------------------------ l1_prox


def _prox_public():
    w = np.array([-2.0, -0.5, -0.1, 0.0, 0.05, 0.3, 0.3000001, 1.0, 2.5])
    rng = np.random.default_rng(603)
    return [
        case("threshold = 0.3: entries below, at and just above it, and 0", w=w, threshold=0.3),
        case("a 4x5 matrix, threshold = 0.5", w=_r(rng.uniform(-2.0, 2.0, size=(4, 5))), threshold=0.5),
        case("threshold = 0: nothing changes", w=_r(rng.uniform(-2.0, 2.0, size=(3, 3))), threshold=0.0),
        case("a large threshold: every entry becomes 0", w=np.array([[0.5, -1.5], [2.0, -0.25]]), threshold=3.0),
        case("float32 weights, threshold = 0.25", w=_r(rng.uniform(-1.0, 1.0, size=(2, 6))).astype(np.float32),
             threshold=0.25),
        case("a transposed matrix (Fortran-ordered, like W.T), threshold = 0.4",
             w=with_layout(_r(rng.uniform(-1.5, 1.5, size=(3, 4))), "F"), threshold=0.4),
    ]


def _prox_hidden(rng):
    w = _r(rng.uniform(-2.0, 2.0, size=(int(rng.integers(2, 6)), int(rng.integers(2, 6)))))
    return [case("random weights, a random threshold", w=any_layout(rng, w), threshold=float(_r(rng.uniform(0.1, 1.0))))]


def _prox_hard(w, threshold):
    return np.where(np.abs(w) > threshold, w, 0.0).astype(w.dtype)


def _prox_past_zero(w, threshold):
    return w - threshold * np.sign(w)


def _prox_no_sign(w, threshold):
    return np.maximum(w - threshold, 0).astype(w.dtype)


L1_PROX = Exercise(
    name="l1_prox", module="regularization", returns="the shrunk weights", public=_prox_public, hidden=_prox_hidden,
    mistakes=[
        Mistake("hard", "a hard threshold: the surviving weights not shrunk",
                "Soft thresholding moves *every* weight threshold towards 0: the small ones stop at 0, the others "
                "become sign(w) * (|w| - threshold). Zeroing the small ones and leaving the rest is the hard "
                "threshold, the proximal step of another penalty (counting the nonzero weights).", _prox_hard),
        Mistake("past_zero", "shrinking past zero: w - threshold * sign(w) without the clip",
                "A weight with |w| < threshold would cross 0 and come out with the other sign. Clip |w| - threshold "
                "at 0 (np.maximum(..., 0)) before putting the sign back: that clip is what makes weights exactly 0.",
                _prox_past_zero),
        Mistake("no_sign", "the sign lost: max(w - threshold, 0)",
                "That is right for positive weights only: every negative weight becomes 0. Shrink the magnitude, "
                "|w| - threshold, and give the result back the sign of w.", _prox_no_sign),
    ],
)

# ===================================================================================================== dropout


def _mask(seed: int, shape, p: float) -> np.ndarray:
    """A mask as the course draws it, ``rng.random(shape) >= p`` (the inputs of forward and backward cases)."""
    return np.random.default_rng(seed).random(shape) >= p


def _no_zeros(rng: np.random.Generator, shape, dtype=np.float64) -> np.ndarray:
    """Rounded normal values none of which is 0, so the zeros of an output show where the mask dropped."""
    x = _r(rng.standard_normal(shape))
    x[x == 0] = 0.5
    return x.astype(dtype)


# ------------------------------------------------------------------------------------------------- dropout_mask


def _mask_public():
    return [
        case("a 20x25 mask, p = 0.2 (about 80% kept)", shape=(20, 25), p=0.2, rng=Rng(0)),
        case("a 20x25 mask, p = 0.8 (about 20% kept)", shape=(20, 25), p=0.8, rng=Rng(1)),
        case("a 4x6 mask, p = 0.5", shape=(4, 6), p=0.5, rng=Rng(2)),
        case("p = 0: every unit kept", shape=(3, 4), p=0.0, rng=Rng(3)),
        case("p = 1: every unit dropped", shape=(3, 4), p=1.0, rng=Rng(4)),
        case("a 3-d shape (2, 3, 4), p = 0.3", shape=(2, 3, 4), p=0.3, rng=Rng(5)),
    ]


def _mask_hidden(rng):
    p = float(rng.choice([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]))
    return [case("a random mask", shape=(int(rng.integers(15, 25)), int(rng.integers(15, 25))), p=p,
                 rng=Rng(int(rng.integers(1000))))]


def _mask_swapped(shape, p, rng):
    return rng.random(shape) < p


def _mask_other_draw(shape, p, rng):
    return rng.random(shape) < 1 - p


def _mask_float(shape, p, rng):
    return (rng.random(shape) >= p).astype(np.float64)


DROPOUT_MASK = Exercise(
    name="dropout_mask", module="regularization", returns="the mask", public=_mask_public, hidden=_mask_hidden,
    diagnose="dropout",
    mistakes=[
        Mistake("swapped", SWAPPED,
                "p is the probability of DROPPING a unit (torch's nn.Dropout(p)), so a unit is kept with "
                "probability 1 - p. rng.random(shape) < p keeps it with probability p: cs231n's and Srivastava's "
                "keep-probability convention. Keep a unit when its draw is at least p.", _mask_swapped),
        Mistake("other_draw", "the right fraction, another draw: rng.random(shape) < 1 - p",
                "That keeps each unit with the right probability, 1 - p, but not the same units as the course's "
                "mask for the same seed. The course fixes the draw, rng.random(shape) >= p (True = kept), so that "
                "a mask can be reproduced from a seed and your layer checked against the reference.",
                _mask_other_draw),
        Mistake("float", "a mask of 0.0 and 1.0 instead of booleans",
                "Return the comparison itself, a boolean array (True = kept): dropout_forward and dropout_backward "
                "take a boolean keep.", _mask_float),
    ],
)

# ---------------------------------------------------------------------------------------------- dropout_forward


def _forward_public():
    rng = np.random.default_rng(604)
    x = _no_zeros(rng, (10, 12))
    # Evaluation first: dropout scaled at test time and dropout not scaled give the same output in training, and
    # only evaluation tells them apart.
    return [
        case("evaluation, p = 0.2: the mask is not used", x=x, keep=_mask(12, x.shape, 0.2), p=0.2, training=False),
        case("training, p = 0.2", x=x, keep=_mask(10, x.shape, 0.2), p=0.2, training=True),
        case("training, p = 0.8", x=x, keep=_mask(11, x.shape, 0.8), p=0.8, training=True),
        case("training, p = 0.5, a small batch", x=_no_zeros(rng, (3, 4)), keep=_mask(13, (3, 4), 0.5), p=0.5,
             training=True),
        case("training, p = 0: nothing dropped", x=_no_zeros(rng, (3, 4)), keep=_mask(14, (3, 4), 0.0), p=0.0,
             training=True),
        case("training, p = 1: everything dropped (exact zeros, no 0/0)", x=_no_zeros(rng, (3, 4)),
             keep=_mask(15, (3, 4), 1.0), p=1.0, training=True),
        case("float32 input, training, p = 0.3", x=_no_zeros(rng, (6, 8), np.float32), keep=_mask(16, (6, 8), 0.3),
             p=0.3, training=True),
        case("a Fortran-ordered input (like W.T) and a strided mask, training, p = 0.25",
             x=with_layout(_no_zeros(rng, (5, 7)), "F"), keep=with_layout(_mask(17, (5, 7), 0.25), "strided"),
             p=0.25, training=True),
    ]


def _forward_hidden(rng):
    shape = (int(rng.integers(5, 12)), int(rng.integers(5, 12)))
    p = float(rng.choice([0.1, 0.2, 0.3, 0.7, 0.8]))
    x = any_layout(rng, _no_zeros(rng, shape, np.float32 if rng.random() < 0.25 else np.float64))
    seed = int(rng.integers(1000))
    keep = any_layout(rng, _mask(seed, shape, p))
    return [case("a random batch in evaluation", x=x, keep=keep, p=p, training=False),
            case("the same batch in training", x=x, keep=keep, p=p, training=True),
            case("p = 1 in training", x=x, keep=_mask(seed, shape, 1.0), p=1.0, training=True)]


def _forward_variant(*, train, evaluate=None):
    """Dropout's forward with ``train(x, keep, p)`` in training and ``evaluate(x, keep, p)`` in evaluation (the
    copy of x by default)."""

    def impl(x, keep, p, *, training=True):
        if not training:
            return evaluate(x, keep, p) if evaluate else x.copy()
        return train(x, keep, p)

    return impl


def _right_scale(x, keep, p):
    return np.zeros_like(x) if p == 1 else x * keep / (1 - p)


FORWARD_MISTAKES = [
    Mistake("no_scaling", "dropout not scaled",
            "Dropping a fraction p of the units lowers the expected output to (1 - p) * x, so the network sees "
            "smaller activations in training than in evaluation. Divide the kept units by 1 - p (inverted "
            "dropout).", _forward_variant(train=lambda x, keep, p: x * keep)),
    Mistake("test_time_scaling", "dropout scaled at test time instead of training time",
            "That is the original paper's dropout: no scaling in training, x * (1 - p) in evaluation. torch's "
            "layer (inverted dropout) divides the kept units by 1 - p during training, so that evaluation is the "
            "identity: y = x * keep / (1 - p) in training, a copy of x in evaluation.",
            _forward_variant(train=lambda x, keep, p: x * keep, evaluate=lambda x, keep, p: x * (1 - p))),
    Mistake("divide_by_p", "dividing by p: cs231n's keep-probability convention",
            "In cs231n's assignment p is the probability of keeping a unit, and the mask is divided by p. Here, as "
            "in torch, p is the probability of dropping: divide by the keep probability, 1 - p.",
            _forward_variant(train=lambda x, keep, p: x * keep / p)),
    Mistake("mask_in_eval", "the mask applied in evaluation",
            "In evaluation (training=False, after model.eval()) dropout does nothing: return a copy of x, and "
            "ignore keep.", _forward_variant(train=_right_scale, evaluate=_right_scale)),
    Mistake("inverted_mask", SWAPPED,
            "keep is True where a unit is KEPT: zero the entries where it is False, keep (and scale) the others. "
            "Using ~keep drops the units that should stay, about 1 - p of them instead of p.",
            _forward_variant(train=lambda x, keep, p: x * ~keep / (1 - p))),
    Mistake("nan_at_one", NAN_AT_ONE,
            "At p = 1 every unit is dropped and the keep probability 1 - p is 0, so x * keep / (1 - p) is 0 / 0, "
            "a NaN (and 1 / (1 - p) raises ZeroDivisionError). torch returns exact zeros: handle p == 1 first "
            "and return zeros shaped like x.", _forward_variant(train=lambda x, keep, p: x * keep / (1 - p)),
            detected_by="check"),
]

DROPOUT_FORWARD = Exercise(
    name="dropout_forward", module="regularization", returns="the output", public=_forward_public,
    hidden=_forward_hidden, diagnose="dropout", mistakes=FORWARD_MISTAKES,
)

# --------------------------------------------------------------------------------------------- dropout_backward


def _backward_public():
    rng = np.random.default_rng(605)
    dout = _no_zeros(rng, (10, 12))
    return [
        case("p = 0.2, with the forward's mask", dout=dout, keep=_mask(20, dout.shape, 0.2), p=0.2),
        case("p = 0.8, with the forward's mask", dout=dout, keep=_mask(21, dout.shape, 0.8), p=0.8),
        case("p = 0.5, a small batch", dout=_no_zeros(rng, (3, 4)), keep=_mask(22, (3, 4), 0.5), p=0.5),
        case("p = 0: the gradient passes unchanged", dout=_no_zeros(rng, (3, 4)), keep=_mask(23, (3, 4), 0.0), p=0.0),
        case("p = 1: exact zeros (no 0/0)", dout=_no_zeros(rng, (3, 4)), keep=_mask(24, (3, 4), 1.0), p=1.0),
        case("float32 gradient, p = 0.3", dout=_no_zeros(rng, (6, 8), np.float32), keep=_mask(25, (6, 8), 0.3),
             p=0.3),
        case("a Fortran-ordered gradient (like W.T) and a reversed mask, p = 0.25",
             dout=with_layout(_no_zeros(rng, (5, 7)), "F"), keep=with_layout(_mask(26, (5, 7), 0.25), "reversed"),
             p=0.25),
    ]


def _backward_hidden(rng):
    shape = (int(rng.integers(5, 12)), int(rng.integers(5, 12)))
    p = float(rng.choice([0.1, 0.2, 0.3, 0.7, 0.8]))
    seed = int(rng.integers(1000))
    dtype = np.float32 if rng.random() < 0.25 else np.float64
    return [case("a random gradient", dout=any_layout(rng, _no_zeros(rng, shape, dtype)),
                 keep=any_layout(rng, _mask(seed, shape, p)), p=p),
            case("p = 1", dout=_no_zeros(rng, shape), keep=_mask(seed, shape, 1.0), p=1.0)]


def _backward_new_mask_seeded(dout, keep, p):
    fresh = np.random.default_rng(0).random(dout.shape) >= p
    return np.zeros_like(dout) if p == 1 else dout * fresh / (1 - p)


def _backward_new_mask_global(dout, keep, p):
    fresh = np.random.random(dout.shape) >= p
    return np.zeros_like(dout) if p == 1 else dout * fresh / (1 - p)


#: One explanation for both ways of drawing a new mask (the checks show the explanation of the title they name).
NEW_MASK_EXPLAIN = ("A dropped unit did not affect the loss, so its gradient is 0: use the forward's mask, the keep "
                    "you are given, never a fresh draw (from np.random or from a new generator); with another mask "
                    "the gradient is that of another network.")

BACKWARD_MISTAKES = [
    Mistake("new_mask_seeded", NEW_MASK, NEW_MASK_EXPLAIN, _backward_new_mask_seeded),
    Mistake("new_mask_global", NEW_MASK, NEW_MASK_EXPLAIN, _backward_new_mask_global),
    Mistake("no_scaling", "the gradient not scaled by 1 / (1 - p)",
            "The forward multiplies the kept units by 1 / (1 - p), so the backward multiplies their gradient by the "
            "same factor: dout * keep / (1 - p).", lambda dout, keep, p: dout * keep),
    Mistake("divide_by_p", "dividing by p: cs231n's keep-probability convention",
            "Here, as in torch, p is the probability of dropping: the factor is 1 / (1 - p), the keep probability's "
            "inverse, as in the forward.", lambda dout, keep, p: dout * keep / p),
    Mistake("pass_through", "the gradient passed through unchanged",
            "That is evaluation mode's gradient. In training the forward zeroed the dropped units, so their "
            "gradient is 0, and scaled the others: dout * keep / (1 - p).", lambda dout, keep, p: dout.copy()),
    Mistake("nan_at_one", NAN_AT_ONE,
            "At p = 1 every unit was dropped and 1 - p is 0, so dout * keep / (1 - p) is 0 / 0, a NaN. The "
            "gradient is exact zeros: handle p == 1 first and return zeros shaped like dout.",
            lambda dout, keep, p: dout * keep / (1 - p), detected_by="check"),
]

DROPOUT_BACKWARD = Exercise(
    name="dropout_backward", module="regularization", returns="the gradient with respect to x",
    public=_backward_public, hidden=_backward_hidden, diagnose="dropout", mistakes=BACKWARD_MISTAKES,
)

# ========================================================================================= early_stopping_step

EARLY_PARTS = ("stop", "state")


def early_stopping_case(label: str, losses: list[float], *, patience: int, min_delta: float = 0.0) -> dict:
    """One call per epoch, each with the state a correct previous call returns (see the module docstring)."""
    step = reference.function("regularization", "early_stopping_step")
    states, state = [], {}
    for loss in losses:
        states.append(state)
        _, state = step(float(loss), state, patience=patience, min_delta=min_delta)
    return run_case(label, steps={"val_loss": [float(v) for v in losses], "state": states}, carry=(),
                    step_name="at call {step} (val_loss = {val_loss:g})", patience=patience, min_delta=min_delta)


def _early_public():
    nan = math.nan
    return [
        early_stopping_case("Keras's test: losses 10, 9, 8, then never below 8 again; patience = 2",
                            [10.0, 9.0, 8.0, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5], patience=2),
        early_stopping_case("a dip, a slow climb back, a new best, then a plateau with exact ties; patience = 3",
                            [1.0, 0.8, 0.6, 0.7, 0.65, 0.62, 0.61, 0.55, 0.55, 0.58, 0.55, 0.56, 0.57, 0.6],
                            patience=3),
        early_stopping_case("min_delta = 0.012: a slow drift down, decreases below the best of 0.005 and 0.01 do "
                            "not count, 0.015 does; patience = 4",
                            [0.5, 0.495, 0.49, 0.485, 0.49, 0.475, 0.47, 0.468, 0.472, 0.46, 0.455, 0.45, 0.449,
                             0.448, 0.447], patience=4, min_delta=0.012),
        early_stopping_case("NaN epochs (a diverged run) never improve; patience = 2",
                            [0.9, nan, 0.8, nan, nan, 0.7, nan, 0.75], patience=2),
        early_stopping_case("patience = 1, min_delta = 0.05: improvements of 0.1 and of 0.04",
                            [2.0, 1.9, 1.86, 1.7, 1.75, 1.6, 1.59, 1.4], patience=1, min_delta=0.05),
        early_stopping_case("the first epoch is NaN; then a steady decrease", [nan, 1.0, 0.9, 0.8, 0.8, 0.8],
                            patience=2),
    ]


def _early_hidden(rng):
    n = int(rng.integers(14, 22))
    steps = rng.normal(-0.02, 0.04, size=n)
    losses = list(np.round(1.0 + np.cumsum(steps), 2))  # two decimals: ties happen
    losses[int(rng.integers(3, n))] = math.nan
    # The losses have two decimals, so their differences are whole hundredths (to rounding): a min_delta of 0.005
    # or 0.015 is never within rounding of one, and every formulation of the comparison agrees.
    return [early_stopping_case("a random validation curve with a NaN", losses, patience=int(rng.integers(1, 5)),
                                min_delta=float(rng.choice([0.0, 0.005, 0.015])))]


def _early_variant(*, late=False, ignore_delta=False, last=False, no_reset=False, sub_delta_best=False,
                   ties=False, nan_improves=False, epoch_from_one=False):
    def impl(val_loss, state, *, patience, min_delta=0.0):
        best = state.get("best", math.inf)
        best_epoch = state.get("best_epoch", -1)
        epoch = state.get("epoch", 0 if epoch_from_one else -1) + 1
        bad = state.get("bad_epochs", 0)
        threshold = best if ignore_delta else best - min_delta
        if nan_improves:
            improved = not val_loss >= threshold
        elif ties:
            improved = val_loss <= threshold
        else:
            improved = val_loss < threshold
        if improved:
            best, best_epoch = val_loss, epoch
            if not no_reset:
                bad = 0
        else:
            bad += 1
            if sub_delta_best and val_loss < best:
                best = val_loss
        if last:
            best = val_loss
        stop = bad > patience if late else bad >= patience
        return stop, {"best": best, "best_epoch": best_epoch, "epoch": epoch, "bad_epochs": bad}

    return impl


EARLY_STOPPING_STEP = Exercise(
    name="early_stopping_step", module="regularization", returns="the decision and the new state",
    public=_early_public, hidden=_early_hidden, parts=EARLY_PARTS,
    mistakes=[
        Mistake("late", "stopping one epoch late: bad_epochs > patience",
                "patience is the number of epochs without improvement that are tolerated before stopping: stop as "
                "soon as bad_epochs >= patience (Keras's and Lightning's rule; with patience 3 and no improvement "
                "after epoch 0, training stops after epoch 3).", _early_variant(late=True)),
        Mistake("ignore_delta", "min_delta ignored",
                "An epoch improves only when val_loss < best - min_delta: a decrease of min_delta or less is noise "
                "and counts as a bad epoch.", _early_variant(ignore_delta=True)),
        Mistake("last", "comparing with the last loss instead of the best",
                "state['best'] is the best loss so far, changed only on an improvement. Keeping the last loss there "
                "makes a slow climb back after a dip look like progress whenever it wiggles down.",
                _early_variant(last=True)),
        Mistake("no_reset", "not resetting the count of bad epochs on an improvement",
                "bad_epochs counts the epochs since the last improvement: set it to 0 when the epoch improves, or "
                "training stops patience bad epochs after the start, whatever happened in between.",
                _early_variant(no_reset=True)),
        Mistake("sub_delta_best", "the best updated by an improvement smaller than min_delta",
                "An epoch that is not an improvement (val_loss >= best - min_delta) leaves best as it is, even when "
                "val_loss is a little lower: otherwise a slow drift down moves the target with it, and the drift "
                "never ends up counting as progress or as stagnation correctly.",
                _early_variant(sub_delta_best=True)),
        Mistake("ties", "ties counted as improvements",
                "An improvement is strictly below the best (minus min_delta): a loss equal to the best is a bad "
                "epoch, or a plateau at the minimum would never stop training.", _early_variant(ties=True)),
        Mistake("nan_improves", "a NaN counted as an improvement",
                "A diverged epoch's NaN loss is never an improvement: write the test as val_loss < best - min_delta, "
                "which is False for NaN (not as `not val_loss >= ...`, which is True).",
                _early_variant(nan_improves=True)),
        Mistake("epoch_from_one", "counting the epochs from 1",
                "The first call is epoch 0 (state['epoch'] = 0 and best_epoch = 0 after it), as Keras and nn.fit "
                "count them.", _early_variant(epoch_from_one=True)),
    ],
)

EXERCISES = [PENALTY, PENALTY_GRADS, L1_PROX, DROPOUT_MASK, DROPOUT_FORWARD, DROPOUT_BACKWARD, EARLY_STOPPING_STEP]
