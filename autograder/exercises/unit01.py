"""Unit 01, gradient descent: cases and classic mistakes for the package exercises."""

import numpy as np

from . import CaseFunction, Exercise, Mistake, Rng, case

# ---------------------------------------------------------------------------------------------------- gd_update


def _gd_public():
    rng = np.random.default_rng(101)
    return [
        case("a 3-vector, lr = 0.1", param=np.array([1.0, -2.0, 0.5]), grad=np.array([0.5, 0.5, -1.0]), lr=0.1),
        case("a 2x2 matrix in float32, lr = 0.5", param=np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32),
             grad=np.array([[0.25, -0.5], [1.0, 0.0]], dtype=np.float32), lr=0.5),
        case("a random 5-vector, lr = 0.03", param=rng.standard_normal(5), grad=rng.standard_normal(5), lr=0.03),
    ]


def _gd_hidden(rng):
    shape = tuple(rng.integers(1, 5, size=rng.integers(1, 3)))
    return [case("a random array", param=rng.standard_normal(shape), grad=rng.standard_normal(shape),
                 lr=float(rng.uniform(0.01, 0.5)))]


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
    ]


def _ls_hidden(rng):
    n, d = int(rng.integers(5, 12)), int(rng.integers(2, 5))
    return [case("random data", w=rng.standard_normal(d), X=rng.standard_normal((n, d)), y=rng.standard_normal(n))]


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
    ]


def _mb_hidden(rng):
    n, batch_size = int(rng.integers(5, 40)), int(rng.integers(1, 9))
    return [case("random sizes", n=n, batch_size=batch_size, rng=Rng(int(rng.integers(2**31))),
                 shuffle=bool(rng.integers(2)), drop_last=bool(rng.integers(2)))]


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
    ]


def _ng_hidden(rng):
    shape = tuple(rng.integers(1, 4, size=rng.integers(1, 3)))
    return [case("a random point", f=CaseFunction(str(rng.choice(["cubic_mix", "exp_quadratic"]))),
                 x=rng.uniform(-1.5, 1.5, size=shape), h=float(rng.choice([1e-2, 1e-3])))]


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


NUMERICAL_GRADIENT = Exercise(
    name="numerical_gradient", module="gradcheck", returns="the numerical gradient", public=_ng_public,
    hidden=_ng_hidden,
    mistakes=[
        Mistake("forward", "forward instead of centred difference",
                "(f(x + h e_i) - f(x)) / h is off by about h * f''/2; the centred difference "
                "(f(x + h e_i) - f(x - h e_i)) / (2h) is off by only about h^2 * f'''/6.", _ng_forward),
        Mistake("over_h", "dividing by h instead of 2h",
                "The two evaluations are 2h apart: divide their difference by 2h.", _ng_over_h),
        Mistake("not_restored", "not putting the nudged entry back",
                "After nudging x_i, restore it before moving on to x_{i+1}; otherwise every later entry is "
                "measured at a shifted point.", _ng_not_restored),
    ],
)

EXERCISES = [GD_UPDATE, LEAST_SQUARES_GRAD, MINIBATCHES, NUMERICAL_GRADIENT]
