"""Unit 07, batch normalization: training and eval cases, runs carrying the running statistics, and the classic
mistakes.

The settings are chosen so that each mistake shows well above the checks' tolerance (measured in
../shared/UNITS_05_09.md): small batches (N = 4, where normalizing with the unbiased variance changes the output
by about 0.2 and a biased running variance the running variance by about 0.5), eps = 0.1 where eps outside the
square root is the point (at eps = 1e-5 it moves the output by only 5e-6), running statistics that are neither
0 nor 1 and gamma, beta that are neither 1 nor 0 (so that a swapped or ignored one shows), a momentum other than
0.5 (where the two conventions for the momentum agree).

The forward pass is also checked on a *run*: several batches, the running statistics returned by one call passed
to the next, as the layer does during an epoch. :func:`run_case` feeds a call's outputs to the next call's
arguments in order; the carry ``(None, "running_mean", "running_var")`` drops ``y`` and feeds the running
statistics to the next call, whose ``x`` is the next batch.
"""

import numpy as np

from optimlab.check import with_layout

from . import Exercise, Mistake, case, error_case, run_case
from ._runs import any_layout

FORWARD_RETURNS = "the output and the new running statistics"
FORWARD_PARTS = ("y", "the running mean", "the running variance")
BACKWARD_RETURNS = "the gradients"
BACKWARD_PARTS = ("dx", "dgamma", "dbeta")

#: What the forward carries from one batch to the next (see the module's docstring).
CARRY = (None, "running_mean", "running_var")

BATCH_OF_ONE = "no error for a batch of one in training"
BATCH_OF_ONE_EXPLAIN = ("A batch of one has variance 0: every output would be beta, whatever x is, and the "
                        "unbiased variance N / (N - 1) divides by 0. torch raises ValueError(\"Expected more than "
                        "1 value per channel when training, got input of shape (1, C)\"); raise the same error "
                        "when training and x.shape[0] == 1 (in eval a batch of one is fine).")


def _r(a, digits: int = 3) -> np.ndarray:
    """Values rounded so that a failing case prints readably."""
    return np.round(np.asarray(a, dtype=np.float64), digits)


def _batch(rng: np.random.Generator, n: int, c: int, *, dtype=np.float64) -> np.ndarray:
    """A batch whose channels have different means and scales (so that per-channel statistics matter)."""
    centres, scales = rng.uniform(-2.0, 2.0, size=c), rng.uniform(0.5, 3.0, size=c)
    return _r(centres + scales * rng.standard_normal((n, c))).astype(dtype)


def _affine(rng: np.random.Generator, c: int, *, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """gamma away from 1 (one negative entry when c > 1) and beta away from 0."""
    gamma = _r(rng.uniform(0.5, 2.0, size=c))
    if c > 1:
        gamma[int(rng.integers(c))] *= -1
    beta = _r(rng.uniform(-1.0, 1.0, size=c))
    return gamma.astype(dtype), beta.astype(dtype)


def _running(rng: np.random.Generator, c: int, *, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
    """Running statistics well away from the initial 0 and 1."""
    return (_r(rng.uniform(-1.5, 1.5, size=c)).astype(dtype), _r(rng.uniform(0.3, 3.0, size=c)).astype(dtype))


def _settings(rng: np.random.Generator, n: int, c: int, *, dtype=np.float64) -> dict:
    gamma, beta = _affine(rng, c, dtype=dtype)
    running_mean, running_var = _running(rng, c, dtype=dtype)
    return dict(x=_batch(rng, n, c, dtype=dtype), gamma=gamma, beta=beta, running_mean=running_mean,
                running_var=running_var)


def forward_run(label: str, batches: list[np.ndarray], **args) -> dict:
    """A run of the forward pass over ``batches``, the running statistics carried from one batch to the next."""
    return run_case(label, steps={"x": batches}, carry=CARRY, step_name="after batch {step}", **args)


# -------------------------------------------------------------------------------------------- batchnorm_forward


def _forward_public():
    rng = np.random.default_rng(701)
    cases = [
        case("training, a batch of N = 4 with C = 3 channels, torch's momentum = 0.1 and eps = 1e-5",
             **_settings(rng, 4, 3), training=True, momentum=0.1, eps=1e-5),
        case("training with a large eps = 0.1 (where eps inside or outside the square root differ), N = 4",
             **_settings(rng, 4, 2), training=True, momentum=0.1, eps=0.1),
        case("training, the smallest batch N = 2, momentum = 0.3", **_settings(rng, 2, 3), training=True,
             momentum=0.3, eps=1e-5),
    ]
    gamma, beta = _affine(rng, 3)
    running_mean, running_var = _running(rng, 3)
    cases.append(forward_run("5 batches of N = 8 in training, the running statistics carried from batch to batch "
                             "(momentum = 0.2)", [_batch(rng, 8, 3) for _ in range(5)], gamma=gamma, beta=beta,
                             running_mean=running_mean, running_var=running_var, training=True, momentum=0.2,
                             eps=1e-5))
    cases.append(forward_run("a new layer (running_mean = 0, running_var = 1, gamma = 1, beta = 0): 4 batches of "
                             "N = 4", [_batch(rng, 4, 2) for _ in range(4)], gamma=np.ones(2), beta=np.zeros(2),
                             running_mean=np.zeros(2), running_var=np.ones(2), training=True, momentum=0.1,
                             eps=1e-5))
    cases += [
        case("eval: a batch of N = 4 normalized with the running statistics, which stay as they are",
             **_settings(rng, 4, 3), training=False, momentum=0.1, eps=1e-5),
        case("eval with eps = 0.1", **_settings(rng, 5, 2), training=False, momentum=0.1, eps=0.1),
        case("eval on a batch of one (allowed in eval: nothing depends on the batch)", **_settings(rng, 1, 3),
             training=False, momentum=0.1, eps=1e-5),
        case("training in float32, N = 6", **_settings(rng, 6, 2, dtype=np.float32), training=True, momentum=0.1,
             eps=1e-5),
    ]
    laid_out = _settings(rng, 6, 3)
    cases.append(case("training on x a transposed view (as the output of x @ W.T can be) and gamma a strided view",
                      **dict(laid_out, x=with_layout(laid_out["x"], "F"), gamma=with_layout(laid_out["gamma"],
                                                                                             "strided")),
                      training=True, momentum=0.1, eps=1e-5))
    cases.append(error_case("training on a batch of one, x of shape (1, 3)", error="ValueError",
                            mistake=BATCH_OF_ONE, **_settings(rng, 1, 3), training=True, momentum=0.1,
                            eps=1e-5))
    return cases


def _forward_hidden(rng):
    c = int(rng.integers(1, 5))
    momentum = float(rng.choice([0.1, 0.2, 0.3]))
    dtype = np.float32 if rng.random() < 0.25 else np.float64
    settings = _settings(rng, int(rng.integers(2, 9)), c, dtype=dtype)
    single = case("a random training batch with eps = 0.1", **dict(settings, x=any_layout(rng, settings["x"])),
                  training=True, momentum=momentum, eps=0.1)
    gamma, beta = _affine(rng, c)
    running_mean, running_var = _running(rng, c)
    n = int(rng.integers(3, 17))
    run = forward_run("a random run of training batches", [_batch(rng, n, c) for _ in range(int(rng.integers(3, 6)))],
                      gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var, training=True,
                      momentum=momentum, eps=float(rng.choice([1e-5, 1e-3])))
    evaluation = case("a random eval batch", **_settings(rng, int(rng.integers(1, 9)), c), training=False,
                      momentum=momentum, eps=float(rng.choice([1e-5, 0.1])))
    one = error_case("training on a batch of one", error="ValueError", mistake=BATCH_OF_ONE,
                     **_settings(rng, 1, c), training=True, momentum=momentum, eps=1e-5)
    return [single, run, evaluation, one]


def _forward(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1, eps=1e-5,
             normalize_ddof=0, running_ddof=1, old_weight=False, eps_outside=False, updates=True,
             eval_batch_stats=False, eval_updates=False, raises=True):
    """Batch normalization written from the formulas, with switches for the classic mistakes."""
    n = x.shape[0]
    if training and raises and n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input of shape {x.shape}")
    use_batch = training or eval_batch_stats
    update = updates and (training or eval_updates)
    mean = x.mean(axis=0)
    if use_batch:
        centre, spread = mean, x.var(axis=0, ddof=normalize_ddof)
    else:
        centre, spread = running_mean, running_var
    denominator = np.sqrt(spread) + eps if eps_outside else np.sqrt(spread + eps)
    y = gamma * (x - centre) / denominator + beta
    if not update:
        return y, running_mean.copy(), running_var.copy()
    batch_var = x.var(axis=0, ddof=running_ddof) if n > running_ddof else np.zeros_like(mean)
    keep = momentum if old_weight else 1 - momentum
    return y, keep * running_mean + (1 - keep) * mean, keep * running_var + (1 - keep) * batch_var


def _forward_variant(**switches):
    def impl(x, gamma, beta, running_mean, running_var, *, training=True, momentum=0.1, eps=1e-5):
        return _forward(x, gamma, beta, running_mean, running_var, training=training, momentum=momentum, eps=eps,
                        **switches)
    return impl


_FORWARD_MISTAKES = [
    Mistake("unbiased_normalize", "normalizing with the unbiased variance",
            "The output is normalized with the biased batch variance, the mean of (x - mean)**2 (divided by N, "
            "np.var's default ddof=0). The unbiased variance (divided by N - 1) is only for the running "
            "variance.", _forward_variant(normalize_ddof=1, running_ddof=1)),
    Mistake("biased_running_var", "a biased running variance",
            "torch averages the unbiased batch variance into running_var: the biased one times N / (N - 1) "
            "(ddof=1), an estimate of the variance of the whole data for eval. Normalizing still uses the "
            "biased one.", _forward_variant(running_ddof=0)),
    Mistake("old_weight", "momentum weighing the old value (cs231n's convention)",
            "In torch, momentum = 0.1 is the weight of the new batch statistic: new = (1 - momentum) * running "
            "+ momentum * batch. cs231n writes momentum * running + (1 - momentum) * batch with momentum = 0.9; "
            "with torch's 0.1 that keeps only a tenth of the old value.", _forward_variant(old_weight=True)),
    Mistake("cs231n_running", "cs231n's running averages (momentum weighing the old value and a biased variance)",
            "Two of torch's conventions differ from cs231n's: momentum weighs the new batch statistic, "
            "(1 - momentum) * running + momentum * batch, and the running variance averages the unbiased batch "
            "variance (times N / (N - 1)).", _forward_variant(old_weight=True, running_ddof=0)),
    Mistake("eps_outside", "eps outside the square root",
            "eps is added to the variance under the square root: (x - mean) / sqrt(var + eps), not "
            "(x - mean) / (sqrt(var) + eps) (Adam's eps is outside; batch normalization's is inside).",
            _forward_variant(eps_outside=True)),
    Mistake("no_update", "running statistics not updated in training",
            "Each training batch moves the running statistics towards the batch's: return (1 - momentum) * "
            "running_mean + momentum * mean and the same for the variance (with the unbiased variance), not the "
            "running statistics you were given.", _forward_variant(updates=False)),
    Mistake("eval_training_path", "batch statistics in eval mode (the training flag ignored)",
            "With training=False the output is normalized with running_mean and running_var, and the running "
            "statistics come back unchanged: eval must not depend on the other examples of the batch, nor "
            "change the layer.", _forward_variant(eval_batch_stats=True, eval_updates=True)),
    Mistake("eval_batch_stats", "batch statistics in eval mode",
            "With training=False normalize with running_mean and running_var, not with the batch's mean and "
            "variance: in eval an example's output must not depend on the rest of its batch (a batch of one, or "
            "of one class, would be normalized away).", _forward_variant(eval_batch_stats=True)),
    Mistake("eval_updates", "running-buffer updates in eval mode",
            "In eval (training=False) the running statistics are used, never updated: return copies of "
            "running_mean and running_var unchanged. Updating them with evaluation batches changes the model "
            "each time it is evaluated.", _forward_variant(eval_updates=True)),
    # recognized by the error cases (error_case): the function returns where it should raise
    Mistake("batch_of_one", BATCH_OF_ONE, BATCH_OF_ONE_EXPLAIN, _forward_variant(raises=False),
            detected_by="check"),
]

BATCHNORM_FORWARD = Exercise(
    name="batchnorm_forward", module="batchnorm", returns=FORWARD_RETURNS, parts=FORWARD_PARTS,
    public=_forward_public, hidden=_forward_hidden, mistakes=_FORWARD_MISTAKES,
)

# ------------------------------------------------------------------------------------------- batchnorm_backward


def _backward_args(rng: np.random.Generator, n: int, c: int, *, dtype=np.float64, eps: float = 1e-5) -> dict:
    gamma, _ = _affine(rng, c, dtype=dtype)
    dout = _r(rng.standard_normal((n, c))).astype(dtype)
    return dict(dout=dout, x=_batch(rng, n, c, dtype=dtype), gamma=gamma, eps=eps)


def _backward_public():
    rng = np.random.default_rng(702)
    return [
        case("a batch of N = 4 with C = 3 channels, eps = 1e-5", **_backward_args(rng, 4, 3)),
        case("N = 8, C = 2, a large eps = 0.1", **_backward_args(rng, 8, 2, eps=0.1)),
        case("the smallest batch, N = 2", **_backward_args(rng, 2, 3)),
        case("N = 16, C = 4", **_backward_args(rng, 16, 4)),
        case("dout the same for every example of a channel (the mean's path cancels it exactly)",
             **dict(_backward_args(rng, 4, 2), dout=np.array([[0.5, -1.0]] * 4))),
        case("N = 5 in float32", **_backward_args(rng, 5, 2, dtype=np.float32)),
        case("dout a transposed view and x a strided view, N = 6",
             **{name: with_layout(a, "F" if name == "dout" else "strided") if name in ("dout", "x") else a
                for name, a in _backward_args(rng, 6, 3).items()}),
    ]


def _backward_hidden(rng):
    c = int(rng.integers(1, 5))
    args = _backward_args(rng, int(rng.integers(2, 17)), c, eps=float(rng.choice([1e-5, 1e-3, 0.1])))
    return [case("a random batch", **dict(args, dout=any_layout(rng, args["dout"]), x=any_layout(rng, args["x"])))]


def _backward(dout, x, gamma, *, eps=1e-5, mean_path=True, var_path=True, dgamma_of_x=False, averaged=False):
    """The backward pass written path by path (see batchnorm_backward's docstring), with switches for the
    classic mistakes."""
    n = x.shape[0]
    centred = x - x.mean(axis=0)
    invstd = 1 / np.sqrt((centred**2).mean(axis=0) + eps)
    xhat = centred * invstd
    g = dout * gamma                                   # dL/dxhat
    dx = g * invstd                                    # the direct path
    if mean_path:
        dx = dx - g.sum(axis=0) * invstd / n
    if var_path:
        dx = dx - xhat * (g * xhat).sum(axis=0) * invstd / n
    dgamma = (dout * (x if dgamma_of_x else xhat)).sum(axis=0)
    dbeta = dout.sum(axis=0)
    if averaged:
        dgamma, dbeta = dgamma / n, dbeta / n
    return dx, dgamma, dbeta


def _backward_variant(**switches):
    def impl(dout, x, gamma, *, eps=1e-5):
        return _backward(dout, x, gamma, eps=eps, **switches)
    return impl


BATCHNORM_BACKWARD = Exercise(
    name="batchnorm_backward", module="batchnorm", returns=BACKWARD_RETURNS, parts=BACKWARD_PARTS,
    public=_backward_public, hidden=_backward_hidden,
    mistakes=[
        Mistake("no_stat_paths", "the paths through the mean and the variance missing",
                "dx = dout * gamma / sqrt(var + eps) is the gradient of a layer whose mean and variance were "
                "constants (the eval-mode gradient). In training they depend on every x_i: subtract the mean's "
                "path, sum(dout) / N, and the variance's path, xhat * sum(dout * xhat) / N, inside the "
                "parentheses.", _backward_variant(mean_path=False, var_path=False)),
        Mistake("no_var_path", "the path through the variance missing",
                "The mean's path (- sum(dout) / N) is there, but the variance also depends on every x_i: subtract "
                "xhat * sum(dout * xhat) / N as well, as in dx = gamma * invstd / N * (N * dout - sum(dout) - "
                "xhat * sum(dout * xhat)).", _backward_variant(var_path=False)),
        Mistake("no_mean_path", "the path through the mean missing",
                "The variance's path is there, but the mean also depends on every x_i: subtract sum(dout) / N as "
                "well, as in dx = gamma * invstd / N * (N * dout - sum(dout) - xhat * sum(dout * xhat)).",
                _backward_variant(mean_path=False)),
        Mistake("dgamma_of_x", "dgamma without xhat: sum(dout * x)",
                "gamma multiplies the normalized input (y is gamma times xhat, plus beta), so dgamma = sum(dout * "
                "xhat) over the batch, with xhat recomputed from x (mean and variance of the batch, eps inside the "
                "square root).", _backward_variant(dgamma_of_x=True)),
        Mistake("averaged", "dgamma and dbeta averaged instead of summed",
                "gamma and beta are shared by every example of the batch, so their gradients are sums over the "
                "batch, dout.sum(axis=0): the 1 / N of a mean loss is already in dout.",
                _backward_variant(averaged=True)),
    ],
)

EXERCISES = [BATCHNORM_FORWARD, BATCHNORM_BACKWARD]
