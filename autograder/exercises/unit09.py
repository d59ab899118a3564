"""Unit 09, recurrent networks: backpropagation through time, gradient clipping, the LSTM and GRU cells, and the
classic mistakes.

The settings are chosen so that each mistake shows well above the checks' tolerance (1e-9 relative in float64):

- BPTT on sequences of T = 3 to 5 steps with a loss on *every* step (``dh`` nonzero everywhere: where a loss
  that reads only the last step would hide the mistake of using only ``dh[T-1]``) and on the last step only (the
  gradient then reaches the early steps only through the recurrence), hidden states away from 0 and from
  saturation (weights in [-0.7, 0.7], inputs in [-1.5, 1.5]), so that tanh' = 1 - h**2 is neither 1 nor 0;
- clipping on several parameters whose norms are whole numbers (3, 4, 5, 12, 13: readable, and exact in float32
  too, where the total norm is compared to 1e-9 like any number), above and below max_norm, norm_type 1, 3 and
  inf; torch's 1e-6 in the coefficient changes the result by 1e-6 / norm, relatively: 2e-7 at a norm of 5 (the
  first case, where it is named: 200 times the tolerance), 8e-5 at a norm of 0.013, and a factor 2 on gradients
  of norm 1e-6 (a case of its own);
- LSTM and GRU cells with every gate away from 0 and 1 (pre-activations mostly in [-2, 2]), h and c neither 0
  nor equal, biases that are not 0 (a bias left out, or b_hn moved out of the reset gate's product, shows),
  dc_new nonzero except in the case of the last step.

Hidden cases are drawn so that no two mistakes give the same output: random weights and states (never h = 0,
where three of the GRU's mistakes agree), at least two parameters for clipping (with one, clipping each
parameter separately is right), above-threshold cases before below-threshold ones (where the mistake of scaling
up shows), and an error case for ``error_if_nonfinite`` in every draw.
"""

from __future__ import annotations

import math

import numpy as np

from optimlab.check import with_layout

from .. import reference
from . import Exercise, Mistake, case, error_case
from ._runs import any_layout

IN_PLACE = "modifying an input in place"   # the title optimlab.check gives an input changed by the call

#: torch's message for a non-finite total norm with error_if_nonfinite=True (optimlab.rnn's too).
NONFINITE = ("The total norm of order {} for gradients from `parameters` is non-finite, so it cannot be clipped. "
             "To disable this error and scale the gradients by the non-finite norm anyway, set "
             "`error_if_nonfinite=False`")


def _r(a, digits: int = 3) -> np.ndarray:
    """Values rounded so that a failing case prints readably."""
    return np.round(np.asarray(a, dtype=np.float64), digits)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def _cols(a: np.ndarray, k: int) -> list[np.ndarray]:
    """The k blocks of H columns of an (N, kH) array."""
    H = a.shape[1] // k
    return [a[:, j * H:(j + 1) * H] for j in range(k)]


def _rows(w: np.ndarray, k: int) -> list[np.ndarray]:
    """The k blocks of H rows of a (kH, ...) weight or a (kH,) bias."""
    H = w.shape[0] // k
    return [w[j * H:(j + 1) * H] for j in range(k)]


def _apart(name: str, rng: np.random.Generator, draw, *, tries: int = 200) -> dict:
    """Arguments ``draw(rng)`` for a hidden case of exercise ``name``, drawn again until no two of its catalogued
    mistakes give the same wrong output on them (each mistake is then named for what it is, whichever case a
    student's code first fails). A mistake that is right on the arguments does not count."""
    from optimlab.check import difference, encode

    exercise = _BY_NAME[name]
    parts = list(exercise.parts)
    right = reference.function(exercise.module, exercise.name)
    for _ in range(tries):
        args = draw(rng)
        with np.errstate(all="ignore"):
            expected = encode(right(**args))
            wrong = []
            for mistake in exercise.mistakes:
                if mistake.detected_by != "output":
                    continue
                try:
                    got = encode(mistake.impl(**args))
                except Exception:  # noqa: BLE001 — a mistake that raises here is told apart by the error
                    continue
                if difference(expected, got, "output", parts) is None:
                    continue
                if any(difference(other, got, "output", parts) is None for other in wrong):
                    break
                wrong.append(got)
            else:
                return args
    raise RuntimeError(f"{name}: no hidden case keeps the mistakes apart in {tries} draws")


# ================================================================================================ rnn_backward

RNN_RETURNS = "the gradients (dx, dh0, grads)"
RNN_PARTS = ("dx", "dh0", "grads")


def _rnn_args(rng: np.random.Generator, T: int, n: int, i: int, H: int, *, dtype=np.float64,
              loss: str = "every step") -> dict:
    """A sequence, its forward pass (the reference's given rnn_forward) and the loss's dh: on every step, or only
    on the last one (zeros before)."""
    x = _r(rng.uniform(-1.5, 1.5, size=(T, n, i))).astype(dtype)
    h0 = _r(rng.uniform(-0.8, 0.8, size=(n, H))).astype(dtype)
    weight_ih = _r(rng.uniform(-0.7, 0.7, size=(H, i))).astype(dtype)
    weight_hh = _r(rng.uniform(-0.7, 0.7, size=(H, H))).astype(dtype)
    bias_ih = _r(rng.uniform(-0.5, 0.5, size=H)).astype(dtype)
    bias_hh = _r(rng.uniform(-0.5, 0.5, size=H)).astype(dtype)
    # The forward in float64, then rounded to the dtype: a float32 h computed in float32 would change in its last
    # digits with the BLAS kernel (by CPU), and the check data with it.
    h = reference.function("rnn", "rnn_forward")(*(a.astype(np.float64) for a in (
        x, h0, weight_ih, weight_hh, bias_ih, bias_hh))).astype(dtype)
    dh = _r(rng.standard_normal((T, n, H))).astype(dtype)
    if loss == "last step":
        dh[:-1] = 0
    return dict(dh=dh, x=x, h0=h0, h=h, weight_ih=weight_ih, weight_hh=weight_hh)


def _rnn_public():
    rng = np.random.default_rng(901)
    laid_out = _rnn_args(rng, 3, 2, 3, 3)
    return [
        case("T = 3 steps, N = 2, I = 3, H = 4, a loss on every step", **_rnn_args(rng, 3, 2, 3, 4)),
        case("a loss on the last step only (dh is zero before it): T = 4, N = 2, I = 2, H = 3",
             **_rnn_args(rng, 4, 2, 2, 3, loss="last step")),
        case("a single step, T = 1", **_rnn_args(rng, 1, 3, 2, 2)),
        case("T = 5, N = 2, I = 2, H = 3, a loss on every step", **_rnn_args(rng, 5, 2, 2, 3)),
        # One unit and one example: every product is a single multiplication, exact in IEEE arithmetic, so these
        # float32 numbers are the same under every BLAS kernel (a sum of products is not: FMA or not, by CPU).
        case("T = 3 in float32, one unit (H = 1, N = 1, I = 1)", **_rnn_args(rng, 3, 1, 1, 1, dtype=np.float32)),
        case("the weights Fortran-ordered (like W.T) and x, h strided views: T = 3",
             **dict(laid_out, weight_ih=with_layout(laid_out["weight_ih"], "F"),
                    weight_hh=with_layout(laid_out["weight_hh"], "F"), x=with_layout(laid_out["x"], "strided"),
                    h=with_layout(laid_out["h"], "strided"))),
    ]


def _rnn_hidden(rng):
    dtype = np.float32 if rng.random() < 0.25 else np.float64
    shape = (int(rng.integers(2, 6)), int(rng.integers(2, 5)), int(rng.integers(2, 4)), int(rng.integers(2, 5)))
    every = _apart("rnn_backward", rng, lambda rng: {k: any_layout(rng, v) for k, v in _rnn_args(
        rng, *shape, dtype=dtype).items()})
    last = _apart("rnn_backward", rng, lambda rng: _rnn_args(rng, *shape, dtype=dtype, loss="last step"))
    return [case("a random sequence with a loss on every step", **every),
            case("a random sequence with a loss on its last step", **last)]


def _bptt(dh, x, h0, h, weight_ih, weight_hh, *, carry=True, derivative="1 - h**2", previous_derivative=False,
          whh_input="previous", whh_grad_transposed=False, carry_transposed=False, carry_through_tanh=True,
          dh0="carried", accumulate=True, halve_bias=False, last_dh_only=False, in_place=False):
    """Backpropagation through time written from the formulas, with switches for the classic mistakes."""
    T = len(x)
    dx = np.zeros_like(x)
    d_ih, d_hh = np.zeros_like(weight_ih), np.zeros_like(weight_hh)
    d_b = np.zeros(weight_hh.shape[0], dtype=weight_hh.dtype)
    coming = np.zeros_like(h0)
    first = None
    for t in range(T - 1, -1, -1):
        before = h[t - 1] if t > 0 else h0
        read = dh[t] if (t == T - 1 or not last_dh_only) else np.zeros_like(dh[t])
        if in_place:
            dh[t] += coming
            total = dh[t]
        else:
            total = read + coming if carry else read
        state = before if previous_derivative else h[t]
        local = (1 - state * state) if derivative == "1 - h**2" else h[t]
        delta = total * local
        step_ih = delta.T @ x[t]
        step_hh = delta.T @ (h[t] if whh_input == "current" else before)
        if whh_grad_transposed:
            step_hh = step_hh.T
        if accumulate:
            d_ih, d_hh, d_b = d_ih + step_ih, d_hh + step_hh, d_b + delta.sum(axis=0)
        else:
            d_ih, d_hh, d_b = step_ih, step_hh, delta.sum(axis=0)
        dx[t] = delta @ weight_ih
        back = delta if carry_through_tanh else total
        coming = back @ (weight_hh.T if carry_transposed else weight_hh)
        first = total
    dh0_out = first.copy() if dh0 == "step 0" else coming
    bias = d_b / 2 if halve_bias else d_b
    return dx, dh0_out, {"weight_ih": d_ih, "weight_hh": d_hh, "bias_ih": bias, "bias_hh": bias.copy()}


def _bptt_variant(**switches):
    def impl(dh, x, h0, h, weight_ih, weight_hh):
        return _bptt(dh, x, h0, h, weight_ih, weight_hh, **switches)
    return impl


RNN_BACKWARD = Exercise(
    name="rnn_backward", module="rnn", returns=RNN_RETURNS, parts=RNN_PARTS, public=_rnn_public,
    hidden=_rnn_hidden,
    mistakes=[
        Mistake("no_carry", "the term through the previous hidden state missing (no gradient carried back)",
                "h[t] reaches the loss directly and through h[t+1], h[t+2], ...: the gradient at step t is dh[t] "
                "plus what step t+1 sends back, delta[t+1] @ weight_hh. Keep that term in a variable from one "
                "iteration to the next (zero before the last step) and add it to dh[t].",
                _bptt_variant(carry=False)),
        Mistake("tanh_not_derivative", "tanh instead of its derivative (times h, not 1 - h**2)",
                "h[t] is tanh of the pre-activation, so going back through tanh multiplies by its derivative, "
                "1 - tanh(a)**2, which is 1 - h[t]**2 written with the output, not by tanh(a) = h[t] itself.",
                _bptt_variant(derivative="h")),
        Mistake("previous_derivative", "tanh's derivative taken at the previous hidden state h[t-1]",
                "Step t's tanh produced h[t], so its derivative is 1 - h[t]**2; h[t-1] (h0 at t = 0) is the input "
                "that multiplies weight_hh, the other factor of weight_hh's gradient.",
                _bptt_variant(previous_derivative=True)),
        Mistake("whh_with_current", "weight_hh's gradient with h[t] in place of h[t-1]",
                "At step t weight_hh multiplies the state that comes in, h[t-1] (h0 at t = 0), so its gradient "
                "collects delta[t].T @ h[t-1]; h[t] is what the step produces.",
                _bptt_variant(whh_input="current")),
        Mistake("whh_grad_transposed", "weight_hh's gradient transposed (cs231n's layout: h_prev.T @ delta)",
                "Here the weights are torch's, used as h_prev @ weight_hh.T, so the gradient of weight_hh is "
                "delta.T @ h_prev, shape (H, H) with row j for unit j. cs231n multiplies h_prev @ Wh and gets "
                "the transpose: both are square, so the shapes cannot tell you.",
                _bptt_variant(whh_grad_transposed=True)),
        Mistake("carry_transposed", "weight_hh transposed in the gradient carried back (delta @ weight_hh.T)",
                "The step computes h_prev @ weight_hh.T, so the gradient that goes back to h_prev is delta @ "
                "weight_hh (no transpose): the same rule as for dx, delta times weight_ih. weight_hh is square, so the "
                "wrong product has the right shape.", _bptt_variant(carry_transposed=True)),
        Mistake("carry_before_tanh", "the gradient carried back without going through tanh",
                "What flows back to h[t-1] is the gradient of the pre-activation, (dh[t] + carried) * "
                "(1 - h[t]**2), times weight_hh; carrying (dh[t] + carried) @ weight_hh skips the derivative of "
                "tanh at every step.", _bptt_variant(carry_through_tanh=False)),
        Mistake("dh0_step0", "dh0 not propagated through the first step (the gradient at h[0] returned)",
                "dh0 is the gradient of h0, the state that enters step 0: the gradient at h[0] goes once more "
                "through tanh and weight_hh. Return what the loop carries back after step 0, not the total "
                "gradient at h[0].", _bptt_variant(dh0="step 0")),
        Mistake("not_summed", "the parameters' gradients not summed over time (only step 0's is left)",
                "The weights and biases are shared by every step, so their gradients are sums over t of each "
                "step's term: accumulate with +=. Assigning at every iteration of a loop that goes backwards "
                "leaves only the term of step 0.", _bptt_variant(accumulate=False)),
        Mistake("last_dh_only", "only the loss's gradient at the last step used (dh[t] ignored for t < T-1)",
                "dh holds what the loss reads at every step (a loss on each output, say), not only at the last "
                "one: at each step add dh[t] to the gradient carried back.",
                _bptt_variant(last_dh_only=True)),
        Mistake("halved_bias", "the bias gradient split in halves between bias_ih and bias_hh",
                "Both biases are added to the pre-activation, so each one's gradient is the whole sum of delta "
                "over the steps and the batch: the two gradients are equal, not half each.",
                _bptt_variant(halve_bias=True)),
        Mistake("in_place", IN_PLACE,
                "Adding the carried gradient into dh[t] (dh[t] += ...) changes the caller's dh. Build the total "
                "gradient of the step as a new array, dh[t] + carried.", _bptt_variant(in_place=True),
                detected_by="check"),
    ],
)

# ============================================================================================== clip_grad_norm

NORM_RETURNS = "the clipped gradients and the total norm"
NORM_PARTS = ("the clipped gradients", "the total norm")


def _grads(arrays: dict, dtype=np.float64) -> dict[str, np.ndarray]:
    return {k: np.array(v, dtype=dtype) for k, v in arrays.items()}


#: Integer entries whose 2-norm is the key (a whole number: exact in float32 and float64 alike).
_ENTRIES = {1: (1,), 2: (1, 1, 1, 1), 3: (1, 2, 2), 4: (2, 2, 2, 2), 5: (3, 4), 6: (2, 4, 4), 8: (4, 4, 4, 4),
            9: (1, 4, 8), 10: (6, 8), 12: (4, 8, 8), 13: (3, 4, 12)}

#: Global norms and the norms of the parameters that make them (Pythagorean tuples again).
_TOTALS = [(5, (3, 4)), (13, (5, 12)), (13, (3, 4, 12)), (15, (9, 12)), (9, (1, 4, 8)), (7, (2, 3, 6)),
           (3, (1, 2, 2)), (10, (6, 8)), (15, (5, 10, 10))]


def _exact_grads(rng: np.random.Generator, *, dtype=np.float64, scale: float = 1.0) -> tuple[dict, float]:
    """Gradients of 2 or 3 parameters (a 2-row matrix and vectors) whose global 2-norm is a whole number times
    ``scale`` (a power of 2): every sum of squares is exact, in float32 too, so the total norm is the same number
    however it is computed. Returns (grads, their 2-norm)."""
    total, norms = _TOTALS[int(rng.integers(len(_TOTALS)))]
    names = ["weight_ih", "weight_hh", "bias_ih"] if len(norms) == 3 else ["weight", "bias"]
    grads = {}
    for name, norm in zip(names, norms):
        entries = rng.permutation(np.array(_ENTRIES[norm], dtype=np.float64) * rng.choice([-1.0, 1.0],
                                                                                          size=len(_ENTRIES[norm])))
        if name.startswith("weight"):
            entries = np.concatenate([entries, np.zeros(entries.size % 2)]).reshape(2, -1)
        grads[name] = (entries * scale).astype(dtype)
    return grads, float(total) * scale


def _clip_norm(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False, total_from="one vector",
               separately=False, by_value=False, report="before", clamp=True, eps=1e-6, raises=True,
               in_place=False):
    """torch's clip_grad_norm_ written from its definition, with switches for the classic mistakes."""
    p = float(norm_type)
    if not grads:
        return {}, 0.0

    def norm(arrays):
        if total_from == "always 2":
            return math.sqrt(sum(float(np.sum(np.abs(g) ** 2)) for g in arrays))
        if total_from == "p-norm formula" or (p != math.inf and total_from == "one vector"):
            return sum(float(np.sum(np.abs(g) ** p)) for g in arrays) ** (1 / p)
        if p == math.inf:
            if total_from == "norms added":
                return sum(float(np.max(np.abs(g))) for g in arrays)
            return max(float(np.max(np.abs(g))) for g in arrays)
        if total_from == "norms added":
            return sum(float(np.sum(np.abs(g) ** p)) ** (1 / p) for g in arrays)
        if total_from == "no root":
            return sum(float(np.sum(np.abs(g) ** p)) for g in arrays)
        raise ValueError(total_from)

    with np.errstate(over="ignore", invalid="ignore"):
        total = norm(grads.values())
        if raises and error_if_nonfinite and not math.isfinite(total):
            raise RuntimeError(NONFINITE.format(p))
        coef = max_norm / (total + eps)
        if clamp:
            coef = min(coef, 1.0)
        if separately:
            clipped = {k: g * min(max_norm / (norm([g]) + eps), 1.0) for k, g in grads.items()}
        elif by_value:
            clipped = {k: np.clip(g, -max_norm, max_norm) for k, g in grads.items()}
        elif in_place:
            for g in grads.values():
                g *= coef
            clipped = dict(grads)
        else:
            clipped = {k: g * coef for k, g in grads.items()}
    return clipped, (norm(clipped.values()) if report == "after" else total)


def _clip_norm_variant(**switches):
    def impl(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
        return _clip_norm(grads, max_norm, norm_type, error_if_nonfinite=error_if_nonfinite, **switches)
    return impl


NONFINITE_IGNORED = "error_if_nonfinite ignored (no error for an infinite or NaN norm)"
NONFINITE_EXPLAIN = ("With error_if_nonfinite=True a total norm that is inf or NaN must raise RuntimeError with "
                     "torch's message (see the docstring): such a gradient cannot be clipped, and scaling by it "
                     "would make every gradient 0 or NaN.")


def _norm_public():
    rng = np.random.default_rng(903)
    two = _grads({"weight": [[2.0, -1.0], [2.0, 0.0]], "bias": [-4.0]})            # norms 3 and 4: total 5
    below = _grads({"weight": [[0.5, -1.0], [0.25, 0.75]], "bias": [1.5, -0.5]})
    three = _grads({"weight_ih": [[1.0, -2.0], [0.5, 3.0]], "weight_hh": [[-1.5, 0.5], [2.5, -1.0]],
                    "bias_ih": [0.25, -3.5]})
    tiny = _grads({"weight": [[0.003, 0.0], [0.0, -0.004]], "bias": [0.0072, -0.0096]})   # norms 0.005, 0.012
    exact32, _ = _exact_grads(rng, dtype=np.float32)
    laid_out, laid_norm = _exact_grads(rng)
    infinite = _grads({"weight": [[1.0, -2.0], [np.inf, 0.5]], "bias": [0.5, 1.0]})
    return [
        case("two parameters with norms 3 and 4 (global norm 5) and max_norm = 2", grads=two, max_norm=2.0),
        case("the docstring's example: {'w': [3, 4]} with max_norm = 1", grads=_grads({"w": [3.0, 4.0]}),
             max_norm=1.0),
        case("a global norm below max_norm = 5: nothing to clip (the arrays come back equal, as new arrays)",
             grads=below, max_norm=5.0),
        case("three parameters, the 1-norm (norm_type = 1), max_norm = 4", grads=three, max_norm=4.0, norm_type=1.0),
        case("the inf norm (norm_type = inf: the largest |entry|), max_norm = 1.5", grads=three, max_norm=1.5,
             norm_type=math.inf),
        case("the 3-norm (norm_type = 3), max_norm = 2", grads=three, max_norm=2.0, norm_type=3.0),
        case("norm_type given as the string 'inf' (torch allows it), max_norm = 2", grads=two, max_norm=2.0,
             norm_type="inf"),
        case("small gradients (global norm 0.013) and max_norm = 0.001, where torch's 1e-6 shows (8e-5 relative)",
             grads=tiny, max_norm=0.001),
        case("max_norm = 0: every gradient becomes 0", grads=two, max_norm=0.0),
        case("float32 gradients (their norm is a whole number, exact in float32), max_norm = 2",
             grads=exact32, max_norm=2.0),
        case("error_if_nonfinite=True and a finite norm: clipped as usual", grads=two, max_norm=2.5,
             error_if_nonfinite=True),
        case("a Fortran-ordered weight (like W.T) and strided vectors", grads={
            k: with_layout(v, "F" if v.ndim == 2 else "strided") for k, v in laid_out.items()},
            max_norm=float(laid_norm / 4)),
        case("gradients of norm 1e-6 and max_norm = 5e-7: torch's 1e-6 in the coefficient halves them",
             grads=_grads({"weight": [[6e-7, 0.0], [0.0, -8e-7]], "bias": [0.0, 0.0]}), max_norm=5e-7),
        case("all-zero gradients (the 1e-6 keeps the coefficient finite)",
             grads=_grads({"weight": [[0.0, 0.0], [0.0, 0.0]], "bias": [0.0, 0.0]}), max_norm=1.0),
        error_case("an infinite entry with error_if_nonfinite=True", error="RuntimeError", mistake=NONFINITE_IGNORED,
                   grads=infinite, max_norm=1.0, error_if_nonfinite=True),
    ]


def _dyadic_grads(rng: np.random.Generator, *, dtype=np.float64) -> dict[str, np.ndarray]:
    """Two or three gradients of multiples of 1/8 (every sum of them exact, in float32 too), none all zero."""
    shapes = [(2, 3), (3,)] if rng.random() < 0.5 else [(2, 2), (3, 2), (2,)]
    names = ["weight", "bias"] if len(shapes) == 2 else ["weight_ih", "weight_hh", "bias_ih"]
    grads = {}
    for name, shape in zip(names, shapes):
        g = rng.integers(-20, 21, size=shape) / 8
        g.reshape(-1)[0] = float(rng.choice([-1, 1]) * rng.integers(1, 21) / 8)
        grads[name] = g.astype(dtype)
    return grads


def _norm_hidden(rng):
    dtype = np.float32 if rng.random() < 0.25 else np.float64

    def above(rng):
        grads, total = _exact_grads(rng, dtype=dtype, scale=float(rng.choice([0.25, 0.5, 1.0])))
        return dict(grads={k: any_layout(rng, v) for k, v in grads.items()},
                    max_norm=float(_r(total * rng.uniform(0.2, 0.7), 2)))

    def other_norm(rng):
        grads = _dyadic_grads(rng, dtype=dtype)
        largest = max(float(np.max(np.abs(g))) for g in grads.values())
        p = ([1.0, 3.0, math.inf, "inf"] if dtype == np.float64 else [1.0, math.inf])[int(rng.integers(
            4 if dtype == np.float64 else 2))]
        return dict(grads=grads, max_norm=float(_r(largest * rng.uniform(0.3, 0.7), 2)), norm_type=p)

    def below(rng):
        grads, total = _exact_grads(rng, dtype=dtype, scale=float(rng.choice([0.25, 0.5, 1.0])))
        return dict(grads=grads, max_norm=float(_r(total * rng.uniform(1.3, 3.0), 2)))

    def tiny(rng):
        grads, total = _exact_grads(rng, scale=1 / 2048)
        return dict(grads=grads, max_norm=float(_r(total * rng.uniform(0.2, 0.5), 5)))

    bad, _ = _exact_grads(rng, dtype=dtype)
    name = list(bad)[int(rng.integers(len(bad)))]
    bad[name].reshape(-1)[0] = [np.inf, -np.inf, np.nan][int(rng.integers(3))]
    return [
        case("random gradients above max_norm", **_apart("clip_grad_norm", rng, above)),
        case("random gradients and another norm_type", **_apart("clip_grad_norm", rng, other_norm)),
        case("random gradients below max_norm", **_apart("clip_grad_norm", rng, below)),
        case("random tiny gradients", **_apart("clip_grad_norm", rng, tiny)),
        error_case("a non-finite entry with error_if_nonfinite=True", error="RuntimeError",
                   mistake=NONFINITE_IGNORED, grads=bad, max_norm=1.0, error_if_nonfinite=True),
    ]


CLIP_GRAD_NORM = Exercise(
    name="clip_grad_norm", module="rnn", returns=NORM_RETURNS, parts=NORM_PARTS, public=_norm_public,
    hidden=_norm_hidden,
    mistakes=[
        Mistake("separately", "each parameter clipped separately instead of one global norm",
                "clip_grad_norm treats all the gradients as one vector: one total norm, one coefficient "
                "max_norm / (total + 1e-6) clamped at 1, the same for every parameter. Clipping each one to "
                "max_norm on its own changes the direction of the whole gradient and lets the total be larger.",
                _clip_norm_variant(separately=True)),
        Mistake("norm_after", "the norm after clipping returned",
                "Return the total norm of the gradients as they came in, before clipping (torch's return value): "
                "it is what you log to see how large the gradients are, and after clipping it is never above "
                "max_norm.", _clip_norm_variant(report="after")),
        Mistake("no_clamp", "clipping when the norm is below max_norm (gradients scaled up)",
                "The coefficient max_norm / (total + 1e-6) is clamped at 1: below the threshold the gradients "
                "come back unchanged (as new arrays). Without the clamp, small gradients are scaled *up* to norm "
                "max_norm.", _clip_norm_variant(clamp=False)),
        Mistake("by_value", "value clipping where norm clipping was asked (each entry clamped at max_norm)",
                "Clamping each entry to [-max_norm, max_norm] is clip_grad_value. clip_grad_norm multiplies "
                "every gradient by one coefficient, max_norm / (total + 1e-6) clamped at 1, which keeps the "
                "direction of the whole gradient.", _clip_norm_variant(by_value=True)),
        Mistake("norms_added", "the parameters' norms added instead of combined into one norm",
                "The total is the norm of all the entries as one vector: the p-norm of the per-parameter norms, "
                "(sum of norm_k**p) ** (1 / p), and for norm_type = inf the largest of them. Their plain sum is "
                "larger, so the gradients are clipped too much.", _clip_norm_variant(total_from="norms added")),
        Mistake("no_root", "the norm without its root (the squared norm for norm_type = 2)",
                "The p-norm is (sum of |g|**p) ** (1 / p): for p = 2 the square root of the sum of squares. "
                "Without the root the total is the p-th power of the norm, and the coefficient is wrong.",
                _clip_norm_variant(total_from="no root")),
        Mistake("always_two", "norm_type ignored (always the 2-norm)",
                "norm_type chooses the norm: (sum of |g|**p) ** (1 / p) over every entry of every gradient, the "
                "largest |entry| for inf (float('inf') or the string 'inf'). The 2-norm is only the default.",
                _clip_norm_variant(total_from="always 2")),
        Mistake("inf_formula", "the inf norm computed with the p-norm formula (which gives 1)",
                "With p = inf, |g|**p is inf or 0 and the power 1 / p is 0, so the formula gives 1 whatever the "
                "gradients: for norm_type = inf the norm is the largest absolute entry over all the gradients, "
                "a case of its own (np.linalg.norm(g.ravel(), ord=np.inf) is that).",
                _clip_norm_variant(total_from="p-norm formula")),
        Mistake("no_eps", "no 1e-6 in the coefficient (max_norm / total)",
                "torch divides by total + 1e-6: the coefficient stays finite for a zero gradient, and a clipped "
                "norm ends a little below max_norm ({'w': [3, 4]} with max_norm 1 gives [0.59999988, "
                "0.79999984]). It shows most for small gradients.", _clip_norm_variant(eps=0.0)),
        Mistake("nonfinite_ignored", NONFINITE_IGNORED, NONFINITE_EXPLAIN, _clip_norm_variant(raises=False),
                detected_by="check"),
        Mistake("in_place", IN_PLACE,
                "g *= coef changes the caller's gradients (model.grads() would be clipped behind its back). "
                "Multiply into new arrays, coef * g, and return them in a new dict.",
                _clip_norm_variant(in_place=True), detected_by="check"),
    ],
)

# ============================================================================================= clip_grad_value


def _clip_value(grads, clip_value, *, rule="clamp", in_place=False):
    """torch's clip_grad_value_ with switches for the classic mistakes."""
    if rule == "global norm":
        return _clip_norm(grads, clip_value)[0]
    out = {}
    for k, g in grads.items():
        if in_place:
            out[k] = np.clip(g, -clip_value, clip_value, out=g)
        elif rule == "clamp":
            out[k] = np.clip(g, -clip_value, clip_value)
        elif rule == "upper only":
            out[k] = np.minimum(g, clip_value)
        elif rule == "sign":
            out[k] = np.sign(g) * clip_value
        elif rule == "largest":
            out[k] = g * min(1.0, clip_value / float(np.max(np.abs(g))))
    return out


def _clip_value_variant(**switches):
    def impl(grads, clip_value):
        return _clip_value(grads, clip_value, **switches)
    return impl


def _value_grads(rng, *, dtype=np.float64, scale=1.5) -> dict:
    """Two or three gradients with entries on both sides of 0, some beyond +-1 and some within."""
    shapes = [(2, 3), (3,)] if rng.random() < 0.5 else [(3, 2), (2, 2), (2,)]
    names = ["weight", "bias"] if len(shapes) == 2 else ["weight_ih", "weight_hh", "bias_ih"]
    out = {}
    for name, shape in zip(names, shapes):
        g = _r(rng.uniform(-2.5, 2.5, size=shape) * scale / 1.5, 2)
        g.reshape(-1)[0] = _r(rng.uniform(0.1, 0.6) * scale / 1.5, 2)                   # one entry within
        out[name] = g.astype(dtype)
    first = next(iter(out.values())).reshape(-1)                      # and one beyond each side of +-1.6
    first[1:3] = _r([rng.uniform(1.6, 2.5), -rng.uniform(1.6, 2.5)], 2)
    return out


def _value_public():
    rng = np.random.default_rng(904)
    grads = _grads({"weight": [[1.5, -0.3], [-2.0, 0.7]], "bias": [0.2, -1.2]})
    laid = _value_grads(rng)
    return [
        case("entries above, below and inside [-1, 1]: clip_value = 1", grads=grads, clip_value=1.0),
        case("three gradients, clip_value = 0.5", grads=_value_grads(rng, scale=1.0), clip_value=0.5),
        case("every entry inside [-3, 3]: nothing changes (new arrays, equal)", grads=grads, clip_value=3.0),
        case("float32 gradients, clip_value = 0.75", grads=_value_grads(rng, dtype=np.float32), clip_value=0.75),
        case("a Fortran-ordered weight (like W.T) and a strided bias, clip_value = 1", grads={
            k: with_layout(v, "F" if v.ndim == 2 else "strided") for k, v in laid.items()}, clip_value=1.0),
    ]


def _value_hidden(rng):
    dtype = np.float32 if rng.random() < 0.25 else np.float64

    def draw(rng):
        grads = _value_grads(rng, dtype=dtype, scale=float(rng.uniform(1.0, 2.0)))
        return dict(grads={k: any_layout(rng, v) for k, v in grads.items()},
                    clip_value=float(_r(rng.uniform(0.7, 1.5), 2)))

    return [case("random gradients", **_apart("clip_grad_value", rng, draw))]


CLIP_GRAD_VALUE = Exercise(
    name="clip_grad_value", module="rnn", returns="the clipped gradients", public=_value_public,
    hidden=_value_hidden,
    mistakes=[
        Mistake("upper_only", "clipping only the positive side (np.minimum(g, clip_value))",
                "Every entry is clamped from both sides, to [-clip_value, clip_value]: a large negative entry is "
                "as large a step as a large positive one.", _clip_value_variant(rule="upper only")),
        Mistake("global_norm", "norm clipping where value clipping was asked",
                "clip_grad_value clamps each entry on its own (np.clip at -clip_value and clip_value); scaling "
                "all the gradients by one coefficient so that their global norm is clip_value is "
                "clip_grad_norm.", _clip_value_variant(rule="global norm")),
        Mistake("sign", "every entry set to +-clip_value (np.sign(g) * clip_value)",
                "Only the entries outside [-clip_value, clip_value] change; the entries inside stay as they are. "
                "sign(g) * clip_value makes every entry as large as the threshold.",
                _clip_value_variant(rule="sign")),
        Mistake("largest", "each gradient scaled so that its largest entry is clip_value",
                "Scaling a gradient by clip_value / max|g| shrinks every entry, the small ones too: that is "
                "clipping by the inf norm. Clipping by value clamps only the entries beyond the threshold.",
                _clip_value_variant(rule="largest")),
        Mistake("in_place", IN_PLACE,
                "np.clip(g, ..., out=g) (or g[g > v] = v) changes the caller's gradients. Let np.clip build new "
                "arrays and return them in a new dict.", _clip_value_variant(in_place=True), detected_by="check"),
    ],
)

# ============================================================================================ the LSTM cell

LSTM_FORWARD_RETURNS = "the new hidden and cell states"
LSTM_FORWARD_PARTS = ("h_new", "c_new")
LSTM_BACKWARD_RETURNS = "the gradients (dx, dh, dc, grads)"
LSTM_BACKWARD_PARTS = ("dx", "dh", "dc", "grads")


def _cell_args(rng: np.random.Generator, gates: int, n: int, i: int, H: int, *, dtype=np.float64,
               cell: bool = True, zero_state: bool = False, grads: str = "") -> dict:
    """A cell's arguments: an input, a state (h, and c for the LSTM) neither 0 nor saturated, weights and biases
    that keep the gates away from 0 and 1; with ``grads`` the incoming gradients too ("dh" or "dh dc")."""
    out = {}
    if "dh" in grads:
        out["dh_new"] = _r(rng.standard_normal((n, H))).astype(dtype)
    if "dc" in grads:
        out["dc_new"] = _r(rng.standard_normal((n, H))).astype(dtype)
    out["x"] = _r(rng.uniform(-1.5, 1.5, size=(n, i))).astype(dtype)
    out["h"] = (np.zeros((n, H)) if zero_state else _r(rng.uniform(-0.8, 0.8, size=(n, H)))).astype(dtype)
    if cell:
        out["c"] = (np.zeros((n, H)) if zero_state else _r(rng.uniform(-1.5, 1.5, size=(n, H)))).astype(dtype)
    bound = 0.9 / math.sqrt(max(i, H))
    out["weight_ih"] = _r(rng.uniform(-bound, bound, size=(gates * H, i)) * 1.5).astype(dtype)
    out["weight_hh"] = _r(rng.uniform(-bound, bound, size=(gates * H, H)) * 1.5).astype(dtype)
    out["bias_ih"] = _r(rng.uniform(-0.6, 0.6, size=gates * H)).astype(dtype)
    out["bias_hh"] = _r(rng.uniform(-0.6, 0.6, size=gates * H)).astype(dtype)
    return out


def _laid_out(args: dict) -> dict:
    """The same arguments with the weights Fortran-ordered (as W.T of a C-ordered matrix), the biases and x
    strided views."""
    return {k: with_layout(v, "F" if k.startswith("weight") else "strided") if k.startswith(("weight", "bias", "x"))
            else v for k, v in args.items()}


def _lstm_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, order="ifgo", forget=_sigmoid, candidate=np.tanh,
                with_bias_hh=True):
    a = x @ weight_ih.T + bias_ih + h @ weight_hh.T + (bias_hh if with_bias_hh else 0)
    block = dict(zip(order, _cols(a, 4)))
    return _sigmoid(block["i"]), forget(block["f"]), candidate(block["g"]), _sigmoid(block["o"])


def _lstm_forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, *, h_from="tanh(c_new)", **gate_switches):
    i, f, g, o = _lstm_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh, **gate_switches)
    c_next = f * c + i * g
    shown = {"tanh(c_new)": np.tanh(c_next), "tanh(c)": np.tanh(c), "c_new": c_next}[h_from]
    return o * shown, c_next


def _lstm_forward_variant(**switches):
    def impl(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        return _lstm_forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, **switches)
    return impl


def _lstm_forward_public():
    rng = np.random.default_rng(905)
    return [
        case("N = 2, I = 3, H = 2", **_cell_args(rng, 4, 2, 3, 2)),
        case("N = 3, I = 2, H = 3", **_cell_args(rng, 4, 3, 2, 3)),
        case("N = 4, I = 3, H = 4", **_cell_args(rng, 4, 4, 3, 4)),
        case("the first step: h = c = 0", **_cell_args(rng, 4, 2, 2, 3, zero_state=True)),
        # float32 with one unit, one input and one example: every product is a single multiplication, exact in
        # IEEE arithmetic, so the numbers are the same under every BLAS kernel (a sum of products is not: FMA or
        # not, by CPU). The backward's products sum over the gates, so its float32 cases are hidden ones only.
        case("float32, one unit: N = 1, I = 1, H = 1", **_cell_args(rng, 4, 1, 1, 1, dtype=np.float32)),
        case("the weights Fortran-ordered (like W.T), x and the biases strided views",
             **_laid_out(_cell_args(rng, 4, 2, 3, 3))),
    ]


def _cell_hidden(name: str, gates: int, *, cell: bool = True, grads: str = "", last_step: bool = False):
    def hidden(rng):
        dtype = np.float32 if rng.random() < 0.25 else np.float64
        n, i, H = int(rng.integers(2, 5)), int(rng.integers(2, 4)), int(rng.integers(2, 5))

        def draw(rng):
            args = _cell_args(rng, gates, n, i, H, dtype=dtype, cell=cell, grads=grads)
            return {k: any_layout(rng, v) for k, v in args.items()}

        def last(rng):
            args = _cell_args(rng, gates, n, i, H, dtype=dtype, cell=cell, grads=grads)
            return dict(args, dc_new=np.zeros_like(args["dc_new"]))

        cases = [case("a random step", **_apart(name, rng, draw))]
        if last_step:
            cases.append(case("a random last step (dc_new = 0)", **_apart(name, rng, last)))
        return cases
    return hidden


LSTM_CELL_FORWARD = Exercise(
    name="lstm_cell_forward", module="rnn", returns=LSTM_FORWARD_RETURNS, parts=LSTM_FORWARD_PARTS,
    public=_lstm_forward_public, hidden=_cell_hidden("lstm_cell_forward", 4),
    mistakes=[
        Mistake("order_ifog", "gates in cs231n's order i, f, o, g (torch's is i, f, g, o)",
                "torch stacks the four blocks of H rows of the weights as input, forget, cell candidate, output: "
                "columns [2H, 3H) of the pre-activations are g (through tanh) and [3H, 4H) are o. cs231n's "
                "assignment uses i, f, o, g, another layout of the same weights.",
                _lstm_forward_variant(order="ifog")),
        Mistake("i_f_swapped", "the input and forget gates swapped",
                "The first block of H columns is the input gate i (it multiplies the candidate g), the second the "
                "forget gate f (it multiplies the old cell state c): torch's order is i, f, g, o.",
                _lstm_forward_variant(order="figo")),
        Mistake("h_from_old_c", "the new hidden state from c rather than c_new",
                "h_new = o * tanh(c_new): the output gate shows the *updated* cell state, the one this step has "
                "just computed, not the state that came in.", _lstm_forward_variant(h_from="tanh(c)")),
        Mistake("no_tanh", "the new hidden state without the tanh (o * c_new)",
                "The cell state is unbounded; the hidden state is squashed: h_new = o * tanh(c_new), in (-1, 1).",
                _lstm_forward_variant(h_from="c_new")),
        Mistake("forget_tanh", "tanh in place of the sigmoid for the forget gate",
                "The three gates i, f and o are sigmoids, fractions in (0, 1); only the candidate g goes through "
                "tanh. A tanh forget gate can be negative and flip the sign of the cell state.",
                _lstm_forward_variant(forget=np.tanh)),
        Mistake("candidate_sigmoid", "a sigmoid in place of tanh for the candidate g",
                "The candidate g (the third block) goes through tanh, in (-1, 1), so that the cell can be pushed "
                "down as well as up; the gates i, f and o are the sigmoids.",
                _lstm_forward_variant(candidate=_sigmoid)),
        Mistake("no_bias_hh", "bias_hh left out",
                "torch keeps two biases and adds both to the pre-activations: x W_ih^T + b_ih + h W_hh^T + b_hh. "
                "Their sum is what counts, so leaving one out shifts every gate.",
                _lstm_forward_variant(with_bias_hh=False)),
    ],
)


def _lstm_backward(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, *, order="ifgo",
                   cell_grad="total * f", tanh_prime=True, with_dc_new=True, sigmoid_prime="s(1 - s)",
                   forget_grad_with="c"):
    """One LSTM step's backward, written path by path, with switches for the classic mistakes."""
    i, f, g, o = _lstm_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh, order=order)
    c_next = f * c + i * g
    squashed = np.tanh(c_next)
    via_h = dh_new * o * ((1 - squashed * squashed) if tanh_prime else 1)
    total = (dc_new + via_h) if with_dc_new else via_h
    d_o = dh_new * squashed
    d_i, d_g = total * g, total * i
    d_f = total * (c if forget_grad_with == "c" else c_next)
    dc = {"total * f": total * f, "total": total, "dc_new * f": dc_new * f}[cell_grad]

    def slope(s):
        if sigmoid_prime == "s":
            return s
        if sigmoid_prime == "again":
            return _sigmoid(s) * (1 - _sigmoid(s))
        return s * (1 - s)

    pre = {"i": d_i * slope(i), "f": d_f * slope(f), "g": d_g * (1 - g * g), "o": d_o * slope(o)}
    delta = np.concatenate([pre[k] for k in order], axis=1)
    bias = delta.sum(axis=0)
    return delta @ weight_ih, delta @ weight_hh, dc, {"weight_ih": delta.T @ x, "weight_hh": delta.T @ h,
                                                      "bias_ih": bias, "bias_hh": bias.copy()}


def _lstm_backward_variant(**switches):
    def impl(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        return _lstm_backward(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, **switches)
    return impl


def _lstm_backward_public():
    rng = np.random.default_rng(906)
    last = _cell_args(rng, 4, 3, 2, 3, grads="dh dc")
    last["dc_new"] = np.zeros_like(last["dc_new"])
    return [
        case("N = 2, I = 3, H = 2, gradients from h_new and from the next step's cell state",
             **_cell_args(rng, 4, 2, 3, 2, grads="dh dc")),
        case("N = 3, I = 2, H = 3", **_cell_args(rng, 4, 3, 2, 3, grads="dh dc")),
        case("the last step of a sequence: dc_new = 0", **last),
        case("N = 3, I = 3, H = 3", **_cell_args(rng, 4, 3, 3, 3, grads="dh dc")),
        case("the weights Fortran-ordered (like W.T), x and the biases strided views",
             **_laid_out(_cell_args(rng, 4, 3, 3, 2, grads="dh dc"))),
    ]


LSTM_CELL_BACKWARD = Exercise(
    name="lstm_cell_backward", module="rnn", returns=LSTM_BACKWARD_RETURNS, parts=LSTM_BACKWARD_PARTS,
    public=_lstm_backward_public, hidden=_cell_hidden("lstm_cell_backward", 4, grads="dh dc", last_step=True),
    mistakes=[
        Mistake("dc_without_f", "the cell state's gradient missing the forget gate's factor (dc = the total at "
                "c_new)", "c_new is f * c + i * g, so the gradient that reaches c is the total gradient at c_new "
                "(from both paths) times f: along the cell state the gradient is multiplied by the forget gate "
                "at every step, and by nothing else.", _lstm_backward_variant(cell_grad="total")),
        Mistake("dc_only_next", "the cell state's gradient missing the path through h_new (dc = dc_new * f)",
                "c_new reaches the loss two ways: directly through the next step (dc_new), and through h_new = "
                "o * tanh(c_new) at this step. Add both into the total at c_new first, then multiply by f.",
                _lstm_backward_variant(cell_grad="dc_new * f")),
        Mistake("no_tanh_prime", "the tanh'(c_new) factor missing on the path through h_new",
                "h_new = o * tanh(c_new), so the gradient from h_new to c_new is dh_new * o * (1 - tanh(c_new)**2): "
                "the derivative of tanh, written with tanh(c_new), recomputed from the forward.",
                _lstm_backward_variant(tanh_prime=False)),
        Mistake("dc_new_ignored", "dc_new ignored (the gradient from the next step's cell state)",
                "dc_new is what the next step sends back along the cell state (zero only at the last step): it "
                "adds to the gradient at c_new from h_new, and that total feeds the gates and dc.",
                _lstm_backward_variant(with_dc_new=False)),
        Mistake("sigmoid_prime_s", "the sigmoid's derivative as s instead of s * (1 - s)",
                "For a gate s = sigmoid(a), ds/da = s * (1 - s), written with the gate's value (at most 1/4); "
                "multiplying by s alone is not a derivative.", _lstm_backward_variant(sigmoid_prime="s")),
        Mistake("sigmoid_prime_again", "the sigmoid's derivative taken at the gate's value (sigmoid applied twice)",
                "The gates are already sigmoids: their derivative is s * (1 - s) with s the gate itself. "
                "sigmoid(s) * (1 - sigmoid(s)) is the derivative at another point.",
                _lstm_backward_variant(sigmoid_prime="again")),
        Mistake("order_ifog", "gates in cs231n's order i, f, o, g (torch's is i, f, g, o)",
                "The backward must read the blocks as the forward does, in torch's order i, f, g, o, and put the "
                "gates' gradients back in that order: the third block is the candidate g (tanh), the fourth the "
                "output gate o.", _lstm_backward_variant(order="ifog")),
        Mistake("forget_with_c_new", "the forget gate's gradient with c_new in place of c",
                "f multiplies the old cell state in c_new (f * c + i * g), so its gradient is the total at c_new "
                "times c, the state that came in.", _lstm_backward_variant(forget_grad_with="c_new")),
    ],
)

# ============================================================================================= the GRU cell


def _gru_parts(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, order="rzn", with_bias_hh=True):
    """u = x W_ih^T + b_ih split into (r, z, n) blocks, the same for h's weights and bias (in ``order``)."""
    u = dict(zip(order, _cols(x @ weight_ih.T + bias_ih, 3)))
    w = dict(zip(order, _rows(weight_hh, 3)))
    b = dict(zip(order, _rows(bias_hh if with_bias_hh else np.zeros_like(bias_hh), 3)))
    return u, w, b


def _gru_forward(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, reset="after", swap_z=False, **parts):
    u, w, b = _gru_parts(x, h, weight_ih, weight_hh, bias_ih, bias_hh, **parts)
    r = _sigmoid(u["r"] + h @ w["r"].T + b["r"])
    z = _sigmoid(u["z"] + h @ w["z"].T + b["z"])
    inside = {"after": lambda: r * (h @ w["n"].T + b["n"]), "before": lambda: (r * h) @ w["n"].T + b["n"],
              "bias outside": lambda: r * (h @ w["n"].T) + b["n"], "none": lambda: h @ w["n"].T + b["n"]}[reset]()
    n = np.tanh(u["n"] + inside)
    return z * n + (1 - z) * h if swap_z else (1 - z) * n + z * h


def _gru_forward_variant(**switches):
    def impl(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        return _gru_forward(x, h, weight_ih, weight_hh, bias_ih, bias_hh, **switches)
    return impl


def _gru_forward_public():
    rng = np.random.default_rng(907)
    return [
        case("N = 2, I = 3, H = 2", **_cell_args(rng, 3, 2, 3, 2, cell=False)),
        case("N = 3, I = 2, H = 3", **_cell_args(rng, 3, 3, 2, 3, cell=False)),
        case("N = 4, I = 3, H = 4", **_cell_args(rng, 3, 4, 3, 4, cell=False)),
        # No float32 case here: with one unit (where float32 is the same under every BLAS kernel) the reset gate
        # before or after W_hn are the same cell. The float32 cases are hidden ones.
        case("N = 1, I = 2, H = 3", **_cell_args(rng, 3, 1, 2, 3, cell=False)),
        case("the weights Fortran-ordered (like W.T), x and the biases strided views",
             **_laid_out(_cell_args(rng, 3, 2, 3, 3, cell=False))),
        case("the first step: h = 0", **_cell_args(rng, 3, 2, 2, 3, cell=False, zero_state=True)),
    ]


GRU_CELL_FORWARD = Exercise(
    name="gru_cell_forward", module="rnn", returns="the new hidden state", public=_gru_forward_public,
    hidden=_cell_hidden("gru_cell_forward", 3, cell=False),
    mistakes=[
        Mistake("reset_before", "the reset gate applied before W_hn (to h, not to W_hn h + b_hn)",
                "That is Cho et al.'s original GRU, tanh(W_in x + b_in + W_hn (r * h) + b_hn). torch and cuDNN "
                "multiply the hidden state's whole part by r: tanh(W_in x + b_in + r * (W_hn h + b_hn)), another "
                "cell.", _gru_forward_variant(reset="before")),
        Mistake("z_swapped", "z and 1 - z swapped",
                "In torch's GRU z is the fraction of the old state that is kept: h_new = (1 - z) * n + z * h. "
                "Some texts write it the other way round, z * n + (1 - z) * h: the same family of cells, but not "
                "the one torch's weights describe.", _gru_forward_variant(swap_z=True)),
        Mistake("bias_outside", "b_hn outside the reset product (r * (W_hn h) + b_hn)",
                "torch multiplies the reset gate with the hidden state's part *including its bias*: "
                "r * (W_hn h + b_hn). Keep the two products apart, x's and h's, each with its own bias, and apply r "
                "to h's n block whole.", _gru_forward_variant(reset="bias outside")),
        Mistake("order_zrn", "gates in the wrong order: z, r, n (torch's is r, z, n)",
                "torch stacks the three blocks of H rows as reset, update, new: the first H columns of the "
                "pre-activations are r, the next H are z.", _gru_forward_variant(order="zrn")),
        Mistake("no_reset", "the reset gate not applied (n from W_hn h + b_hn as it is)",
                "The candidate n is tanh of x's n block plus r times h's n block (with its bias): the reset gate "
                "decides how much of the old state enters the candidate.", _gru_forward_variant(reset="none")),
        Mistake("no_bias_hh", "bias_hh left out",
                "torch keeps two biases: b_ih is added to x's products and b_hh to h's (its n block inside the "
                "reset gate's product). Leaving b_hh out changes every gate.",
                _gru_forward_variant(with_bias_hh=False)),
    ],
)


def _gru_backward(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, swap_z=False, direct=True,
                  reset_path=True, r_on_hidden_side=True, update_sign=1.0, sigmoid_prime="s(1 - s)",
                  reset="after"):
    """One GRU step's backward, written path by path, with switches for the classic mistakes."""
    u, w, b = _gru_parts(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    r = _sigmoid(u["r"] + h @ w["r"].T + b["r"])
    z = _sigmoid(u["z"] + h @ w["z"].T + b["z"])
    vn = h @ w["n"].T + b["n"]
    n = np.tanh(u["n"] + (r * vn if reset == "after" else (r * h) @ w["n"].T + b["n"]))
    keep, replace = (1 - z, z) if swap_z else (z, 1 - z)
    d_n = dh_new * replace
    d_z = update_sign * dh_new * ((n - h) if swap_z else (h - n))
    a_n = d_n * (1 - n * n)

    def slope(s):
        return s if sigmoid_prime == "s" else s * (1 - s)

    if reset == "after":
        d_r = a_n * vn if reset_path else np.zeros_like(a_n)
        hidden_n = a_n * r if r_on_hidden_side else a_n
        dh_extra = 0
        hh_n_grad = hidden_n.T @ h
    else:  # the backward of Cho et al.'s cell, n = tanh(u_n + (r * h) W_hn^T + b_hn)
        d_rh = a_n @ w["n"]
        d_r = d_rh * h if reset_path else np.zeros_like(a_n)
        hidden_n = a_n
        dh_extra = d_rh * r
        hh_n_grad = a_n.T @ (r * h)
    a_r, a_z = d_r * slope(r), d_z * slope(z)
    dx_side = np.concatenate([a_r, a_z, a_n], axis=1)
    dh_side = np.concatenate([a_r, a_z, hidden_n], axis=1)
    dx = dx_side @ weight_ih
    dh = dh_side[:, :2 * a_r.shape[1]] @ weight_hh[:2 * a_r.shape[1]] + dh_extra
    if reset == "after":
        dh = dh + hidden_n @ w["n"]
    if direct:
        dh = dh + dh_new * keep
    d_hh = np.concatenate([dh_side[:, :2 * a_r.shape[1]].T @ h, hh_n_grad], axis=0)
    return dx, dh, {"weight_ih": dx_side.T @ x, "weight_hh": d_hh, "bias_ih": dx_side.sum(axis=0),
                    "bias_hh": dh_side.sum(axis=0)}


def _gru_backward_variant(**switches):
    def impl(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        return _gru_backward(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, **switches)
    return impl


def _gru_backward_public():
    rng = np.random.default_rng(908)
    return [
        case("N = 2, I = 3, H = 2", **_cell_args(rng, 3, 2, 3, 2, cell=False, grads="dh")),
        case("N = 3, I = 2, H = 3", **_cell_args(rng, 3, 3, 2, 3, cell=False, grads="dh")),
        case("N = 3, I = 3, H = 3", **_cell_args(rng, 3, 3, 3, 3, cell=False, grads="dh")),
        case("N = 4, I = 2, H = 2", **_cell_args(rng, 3, 4, 2, 2, cell=False, grads="dh")),
        case("the weights Fortran-ordered (like W.T), x and the biases strided views",
             **_laid_out(_cell_args(rng, 3, 2, 3, 3, cell=False, grads="dh"))),
    ]


GRU_CELL_BACKWARD = Exercise(
    name="gru_cell_backward", module="rnn", returns="the gradients (dx, dh, grads)", parts=("dx", "dh", "grads"),
    public=_gru_backward_public, hidden=_cell_hidden("gru_cell_backward", 3, cell=False, grads="dh"),
    mistakes=[
        Mistake("z_swapped", "z and 1 - z swapped",
                "In torch's GRU h_new = (1 - z) * n + z * h: the gradient reaching n is dh_new * (1 - z), the "
                "direct path to h carries dh_new * z, and z's gradient is dh_new * (h - n).",
                _gru_backward_variant(swap_z=True)),
        Mistake("no_direct", "the direct path z * dh_new into dh missing",
                "h enters h_new twice: through the gates and the candidate (the matrix products), and directly, "
                "as z * h. dh is the sum of both: add dh_new * z to what comes back through weight_hh.",
                _gru_backward_variant(direct=False)),
        Mistake("no_reset_path", "the path through the reset gate r missing",
                "r multiplies h's n block, so it gets a gradient too: the candidate's pre-activation gradient "
                "times (W_hn h + b_hn), then through r's sigmoid; it reaches x, h and the r blocks of the "
                "weights and biases.", _gru_backward_variant(reset_path=False)),
        Mistake("no_r_on_hidden_side", "the gradient of W_hn h + b_hn missing the factor r",
                "h's n block enters the candidate multiplied by r, so its gradient (toward h, W_hn and b_hn) is "
                "r times the candidate's pre-activation gradient; only x's side gets it without r. So bias_ih's "
                "and bias_hh's gradients differ in the n block.", _gru_backward_variant(r_on_hidden_side=False)),
        Mistake("update_sign", "the update gate's gradient with the wrong sign (n - h instead of h - n)",
                "h_new = (1 - z) * n + z * h changes with z by h - n, so z's gradient is dh_new * (h - n).",
                _gru_backward_variant(update_sign=-1.0)),
        Mistake("sigmoid_prime_s", "the sigmoid's derivative as s instead of s * (1 - s)",
                "For a gate s = sigmoid(a), ds/da = s * (1 - s), written with the gate's value: multiply r's and "
                "z's gradients by that.", _gru_backward_variant(sigmoid_prime="s")),
        Mistake("reset_before", "the backward of a GRU with the reset gate before W_hn",
                "That is the gradient of Cho et al.'s cell, tanh(W_in x + b_in + W_hn (r * h) + b_hn). torch's "
                "candidate is tanh(W_in x + b_in + r * (W_hn h + b_hn)): r multiplies h's whole n block, bias "
                "included, and its gradient is the candidate's pre-activation gradient times that block.",
                _gru_backward_variant(reset="before")),
    ],
)

EXERCISES = [RNN_BACKWARD, CLIP_GRAD_NORM, CLIP_GRAD_VALUE, LSTM_CELL_FORWARD, LSTM_CELL_BACKWARD, GRU_CELL_FORWARD,
             GRU_CELL_BACKWARD]

_BY_NAME = {e.name: e for e in EXERCISES}
