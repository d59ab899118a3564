"""Unit 01, gradient descent: cases and classic mistakes for the package exercises."""

import numpy as np
from optimlab.check import with_layout

from . import CaseFunction, Exercise, Mistake, Rng, case
from ._runs import any_layout, random_dtype

# ---------------------------------------------------------------------------------------------------- gd_update


def _gd_public():
    rng = np.random.default_rng(101)
    return [
        case("a 3-vector, lr = 0.1", param=np.array([1.0, -2.0, 0.5]), grad=np.array([0.5, 0.5, -1.0]), lr=0.1),
        case("a 2x2 matrix in float32, lr = 0.5", param=np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32),
             grad=np.array([[0.25, -0.5], [1.0, 0.0]], dtype=np.float32), lr=0.5),
        case("a random transposed 3x2 matrix (Fortran-ordered, like W.T) and a strided gradient, lr = 0.03",
             param=rng.standard_normal((2, 3)).T, grad=with_layout(rng.standard_normal((3, 2)), "strided"), lr=0.03),
    ]


def _gd_hidden(rng):
    shape = tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(1, 3)))
    dtype = random_dtype(rng)
    return [case("a random array", param=any_layout(rng, rng.standard_normal(shape).astype(dtype)),
                 grad=any_layout(rng, rng.standard_normal(shape).astype(dtype)), lr=float(rng.uniform(0.01, 0.5)))]


def _gd_in_place(param, grad, *, lr):
    param -= lr * grad
    return param


GD_UPDATE = Exercise(
    name="gd_update", module="gd", returns="the new parameter", public=_gd_public, hidden=_gd_hidden,
    mistakes=[
        Mistake("wrong_sign", "wrong sign of the update",
                "You moved uphill, param + lr * grad. The gradient points to where the loss grows fastest; "
                "gradient descent steps against it: param - lr * grad.",
                lambda param, grad, *, lr: param + lr * grad),
        Mistake("no_lr", "ignoring the learning rate",
                "The step is the whole gradient: multiply it by lr.",
                lambda param, grad, *, lr: param - grad),
        Mistake("returns_step", "returning the step instead of the new parameter",
                "The function returns the change -lr * grad; add it to param and return the result.",
                lambda param, grad, *, lr: -lr * grad),
        Mistake("in_place", "modifying an input in place",
                "`param -= ...` changes the caller's array; `param - ...` builds a new one.",
                _gd_in_place, detected_by="check"),
    ],
)

# -------------------------------------------------------------------------------------------- least_squares_grad


def _ls_public():
    rng = np.random.default_rng(102)
    X = np.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 0.5], [2.0, -1.0], [0.5, 0.5]])
    return [
        case("n = 5 samples, d = 2 features", w=np.array([0.5, -1.0]), X=X,
             y=np.array([1.0, 0.0, -2.0, 3.0, 1.0])),
        case("n = 7 random samples, d = 3", w=rng.standard_normal(3), X=rng.standard_normal((7, 3)),
             y=rng.standard_normal(7)),
        case("X Fortran-ordered (the transpose of a 3x4 array): n = 4, d = 3, w and y strided views",
             w=with_layout(np.array([1.0, -0.5, 2.0]), "strided"), X=rng.standard_normal((3, 4)).round(3).T,
             y=with_layout(np.array([0.5, -1.0, 2.0, 0.0]), "strided")),
        case("a single sample (n = 1)", w=np.array([0.5, 2.0]), X=np.array([[1.0, -1.0]]), y=np.array([3.0])),
    ]


def _ls_hidden(rng):
    n, d = int(rng.integers(5, 12)), int(rng.integers(2, 5))
    n += n == 2 * d  # then dividing by d would look like forgetting the 1/2, and each mistake has one name
    return [case("random data", w=any_layout(rng, rng.standard_normal(d)),
                 X=any_layout(rng, rng.standard_normal((n, d))), y=any_layout(rng, rng.standard_normal(n)))]


LEAST_SQUARES_GRAD = Exercise(
    name="least_squares_grad", module="losses", returns="the gradient", public=_ls_public, hidden=_ls_hidden,
    mistakes=[
        Mistake("summed", "gradient summed instead of averaged over the batch",
                "Your gradient is n times too large. The loss averages over the n samples of the batch, so its "
                "gradient averages too: divide X.T @ (X @ w - y) by n = len(y).",
                lambda w, X, y: X.T @ (X @ w - y)),
        Mistake("residual_sign", "residual with the wrong sign",
                "With r = y - X @ w the gradient points the wrong way: the derivative of (x.w - y)^2 / 2 "
                "is (x.w - y) x, so use r = X @ w - y.",
                lambda w, X, y: X.T @ (y - X @ w) / len(y)),
        Mistake("no_half", "forgetting the 1/2 in the loss",
                "Your gradient is twice too large: the 1/2 in L(w) = |Xw - y|^2 / (2n) cancels the 2 of the "
                "square.",
                lambda w, X, y: 2 * X.T @ (X @ w - y) / len(y)),
        Mistake("over_features", "averaging over the features instead of the samples",
                "You divided by d = X.shape[1]; the average is over the n = X.shape[0] samples.",
                lambda w, X, y: X.T @ (X @ w - y) / X.shape[1]),
    ],
)

# ----------------------------------------------------------------------------------------------------- minibatches


def _mb_public():
    return [
        case("n = 10, batch_size = 4, shuffled", n=10, batch_size=4, rng=Rng(0), shuffle=True, drop_last=False),
        case("n = 7, batch_size = 3, not shuffled", n=7, batch_size=3, rng=Rng(1), shuffle=False, drop_last=False),
        case("n = 10, batch_size = 4, drop_last = True", n=10, batch_size=4, rng=Rng(2), shuffle=True,
             drop_last=True),
        case("n = 6, batch_size = 2 (divides n)", n=6, batch_size=2, rng=Rng(3), shuffle=True, drop_last=False),
        case("n = 3, batch_size = 5 (one short batch)", n=3, batch_size=5, rng=Rng(4), shuffle=True,
             drop_last=False),
        case("n = 8, batch_size = 4, drop_last = True (batch_size divides n: nothing to drop)", n=8, batch_size=4,
             rng=Rng(5), shuffle=True, drop_last=True),
        case("n = 5, batch_size = 1", n=5, batch_size=1, rng=Rng(6), shuffle=True, drop_last=False),
        case("n = 3, batch_size = 5, drop_last = True (no full batch: an empty epoch)", n=3, batch_size=5,
             rng=Rng(7), shuffle=True, drop_last=True),
    ]


def _mb_hidden(rng):
    """A case of random sizes, then one at a boundary: batch_size dividing n with drop_last=True, batch_size 1,
    or batch_size larger than n."""
    n, batch_size = int(rng.integers(5, 40)), int(rng.integers(2, 9))
    random = case("random sizes", n=n, batch_size=batch_size, rng=Rng(int(rng.integers(2**31))),
                  shuffle=bool(rng.integers(2)), drop_last=bool(rng.integers(2)))
    kind = int(rng.integers(3))
    if kind == 0:
        batch_size = int(rng.integers(1, 9))
        n, drop_last = batch_size * int(rng.integers(1, 6)), True
    elif kind == 1:
        n, batch_size, drop_last = int(rng.integers(5, 20)), 1, bool(rng.integers(2))
    else:
        batch_size = int(rng.integers(5, 12))
        n, drop_last = int(rng.integers(1, batch_size)), bool(rng.integers(2))
    boundary = case("a boundary case", n=n, batch_size=batch_size, rng=Rng(int(rng.integers(2**31))),
                    shuffle=bool(rng.integers(2)), drop_last=drop_last)
    return [random, boundary]


def _mb_drop_last_always(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n - batch_size + 1, batch_size):
        yield order[start:start + batch_size]


def _mb_with_replacement(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.integers(0, n, size=n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def _mb_global_state(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = np.random.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def _mb_no_shuffle(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def _mb_greater_equal(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        if drop_last and start + batch_size >= n:    # should be >: a full last batch ends exactly at n
            break
        yield order[start:start + batch_size]


def _mb_negative_slice(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    if drop_last:
        order = order[:-(n % batch_size)]           # order[:-0] is order[:0], empty
    for start in range(0, len(order), batch_size):
        yield order[start:start + batch_size]


def _mb_lists(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size].tolist()


def _mb_argsort(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = np.argsort(rng.random(n)) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def _mb_keep_partial(n, batch_size, *, rng, shuffle=True, drop_last=False):
    order = rng.permutation(n) if shuffle else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


MINIBATCHES = Exercise(
    name="minibatches", module="data", returns="the sequence of mini-batches", public=_mb_public,
    hidden=_mb_hidden, diagnose="batches",
    mistakes=[
        Mistake("drop_last_always", "dropping the last partial batch",
                "When batch_size does not divide n, the last batch is shorter; it belongs to the epoch unless "
                "drop_last=True.", _mb_drop_last_always, detected_by="check"),
        Mistake("with_replacement", "mini-batches that repeat samples",
                "An epoch visits every sample exactly once: shuffle with one rng.permutation(n), then slice it.",
                _mb_with_replacement, detected_by="check"),
        Mistake("global_state", "shuffling with NumPy's global random state",
                "np.random.permutation and np.random.shuffle use a hidden global generator, so the same rng "
                "gives different batches and runs cannot be reproduced: call rng.permutation(n).",
                _mb_global_state, detected_by="check"),
        Mistake("no_shuffle", "not shuffling",
                "With shuffle=True the order must be rng.permutation(n).", _mb_no_shuffle, detected_by="check"),
        Mistake("greater_equal", "dropping a full last batch when batch_size divides n",
                "drop_last=True leaves out only a last batch that is shorter than batch_size. When batch_size "
                "divides n the last batch ends exactly at n: a test `start + batch_size >= n` drops it, "
                "`start + batch_size > n` does not.", _mb_greater_equal, detected_by="check"),
        Mistake("negative_slice", "no batches at all when batch_size divides n",
                "`order[:-(n % batch_size)]` keeps nothing when n % batch_size == 0, because -0 is 0 and "
                "order[:0] is empty. Cut at an index counted from the start: order[:n - n % batch_size].",
                _mb_negative_slice, detected_by="check"),
        Mistake("lists", "yielding lists instead of index arrays",
                "Yield NumPy integer arrays (slices of one index array, like order[start:start + batch_size]), "
                "not lists: X[batch] and y[batch] then select the rows of the batch.", _mb_lists,
                detected_by="check"),
        Mistake("argsort", "an epoch order that is a valid shuffle but not rng.permutation(n)",
                "Every sample comes once, in a random order, but not the one the course expects for this rng, so "
                "your runs cannot be compared with anyone else's: draw the order with a single "
                "rng.permutation(n) (not rng.choice, np.argsort(rng.random(n)) or one permutation per batch).",
                _mb_argsort, detected_by="check"),
        Mistake("keep_partial", "keeping the last partial batch although drop_last=True",
                "With drop_last=True a last batch shorter than batch_size is left out (as in torch's DataLoader): "
                "stop at n - n % batch_size.", _mb_keep_partial, detected_by="check"),
    ],
)

# -------------------------------------------------------------------------------------------- numerical_gradient


def _ng_public():
    return [
        case("exp_quadratic at a 3-vector, h = 0.01", f=CaseFunction("exp_quadratic"),
             x=np.array([0.5, -1.0, 2.0]), h=0.01),
        case("cubic_mix at a 2x3 matrix, h = 0.001", f=CaseFunction("cubic_mix"),
             x=np.array([[0.3, -0.7, 1.2], [2.0, -1.5, 0.1]]), h=0.001),
        case("cubic_mix at a float32 vector, h = 1e-4", f=CaseFunction("cubic_mix"),
             x=np.array([0.25, -0.5], dtype=np.float32), h=1e-4),
        case("cubic_mix at a transposed 3x2 matrix (x = W.T, Fortran-ordered), h = 0.001", f=CaseFunction("cubic_mix"),
             x=np.array([[0.5, -1.0, 0.25], [1.5, 0.75, -0.5]]).T, h=0.001),
        case("exp_quadratic at a strided 4-vector, h = 0.01", f=CaseFunction("exp_quadratic"),
             x=with_layout(np.array([0.1, -0.4, 0.8, 1.2]), "strided"), h=0.01),
    ]


def _ng_hidden(rng):
    shape = tuple(int(n) for n in rng.integers(1, 4, size=rng.integers(1, 3)))
    first = case("a random point", f=CaseFunction(str(rng.choice(["cubic_mix", "exp_quadratic"]))),
                 x=any_layout(rng, rng.uniform(-1.5, 1.5, size=shape)), h=float(rng.choice([1e-2, 1e-3])))
    rows, cols = (int(n) for n in rng.integers(2, 4, size=2))
    second = case("a random transposed matrix", f=CaseFunction(str(rng.choice(["cubic_mix", "exp_quadratic"]))),
                  x=rng.uniform(-1.5, 1.5, size=(cols, rows)).T, h=float(rng.choice([1e-2, 1e-3])))
    return [first, second]


def _ng_forward(f, x, *, h=1e-5):
    x = np.array(x, dtype=np.float64)
    grad, fx = np.empty_like(x), f(x)
    for i in np.ndindex(x.shape):
        shifted = x.copy()
        shifted[i] += h
        grad[i] = (f(shifted) - fx) / h
    return grad


def _ng_over_h(f, x, *, h=1e-5):
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (f(plus) - f(minus)) / h
    return grad


def _ng_not_restored(f, x, *, h=1e-5):
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    for i in np.ndindex(x.shape):
        x[i] += h
        f_plus = f(x)
        x[i] -= 2 * h
        grad[i] = (f_plus - f(x)) / (2 * h)
    return grad


def _ng_h_ignored(f, x, *, h=1e-5):
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += 1e-5
        minus[i] -= 1e-5
        grad[i] = (f(plus) - f(minus)) / (2 * 1e-5)
    return grad


def _ng_flat_view(f, x, *, h=1e-5):
    """The centred difference through a "flat view" x.reshape(-1), which is a copy unless x is C-ordered."""
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        original = flat_x[i]
        flat_x[i] = original + h
        f_plus = f(x)
        flat_x[i] = original - h
        f_minus = f(x)
        flat_x[i] = original
        flat_grad[i] = (f_plus - f_minus) / (2 * h)
    return grad


NUMERICAL_GRADIENT = Exercise(
    name="numerical_gradient", module="gradcheck", returns="the numerical gradient", public=_ng_public,
    hidden=_ng_hidden, diagnose="gradient",
    mistakes=[
        Mistake("forward", "forward instead of centred difference",
                "(f(x + h e_i) - f(x)) / h is off by about h * f''/2; the centred difference "
                "(f(x + h e_i) - f(x - h e_i)) / (2h) is off by only about h^2 * f'''/6.", _ng_forward),
        Mistake("over_h", "dividing by h instead of 2h",
                "The two evaluations are 2h apart: divide their difference by 2h.", _ng_over_h),
        Mistake("not_restored", "not putting the nudged entry back",
                "After nudging x_i, restore it before moving on to x_{i+1}; otherwise every later entry is "
                "measured at a shifted point.", _ng_not_restored),
        Mistake("h_ignored", "the step h ignored",
                "Use the h passed in: the check calls the function with several steps, and a gradient check "
                "compares h against the size of x.", _ng_h_ignored),
        Mistake("flat_view", "wrong results for an input that is not C-contiguous",
                "For a transposed (Fortran-ordered) or strided x, `x.reshape(-1)` is a copy: nudging it leaves x "
                "as it was, and writing into `grad.reshape(-1)` leaves grad's memory uninitialised. Index the "
                "array itself: np.ndindex(x.shape) gives every index i, and `x[i] = ...` writes into x.",
                _ng_flat_view, detected_by="check"),
    ],
)

EXERCISES = [GD_UPDATE, LEAST_SQUARES_GRAD, MINIBATCHES, NUMERICAL_GRADIENT]
