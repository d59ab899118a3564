r"""Batch normalization (unit 07), in the conventions of ``torch.nn.BatchNorm1d``.

Batch normalization standardizes each feature (each *channel*) of a layer's input over the mini-batch, then
gives it back a learned scale and shift. For an input :math:`x` of shape :math:`(N, C)` (a batch of :math:`N`
examples with :math:`C` features), channel :math:`c` is normalized with the mean and the variance of the column
:math:`x_{:, c}`; the :math:`C` channels never mix.

Two pure functions do the work, and the toolkit's layer ``optimlab.nn.BatchNorm1d`` is a thin shell around them
(it holds the parameters and the running statistics and writes the new statistics back in place):

===================  ==========================================  ====================================
function             what it computes                            notebook section
===================  ==========================================  ====================================
batchnorm_forward    the output and the new running statistics   2. Batch normalization, forward
batchnorm_backward   the gradients of x, gamma and beta          3. Batch normalization, backward
===================  ==========================================  ====================================

Conventions, as torch's (``torch/nn/modules/batchnorm.py`` and ATen's ``Normalization.cpp``):

- **Training** normalizes with the statistics of the batch: the mean, and the *biased* variance (divided by
  :math:`N`), with :math:`\epsilon` added *inside* the square root.
- The **running statistics** are exponential moving averages in which ``momentum = 0.1`` weighs the *new* batch
  statistic: :math:`\hat\mu \leftarrow 0.9\,\hat\mu + 0.1\,\mu_B`. The running variance averages the *unbiased*
  batch variance (divided by :math:`N - 1`). They start at 0 (mean) and 1 (variance).
- **Eval** (``training=False``) normalizes with the running statistics and leaves them unchanged: the output of
  an example no longer depends on the other examples of its batch.
- A batch of one cannot be normalized in training (its variance is 0 and its unbiased variance undefined):
  torch raises ``ValueError``, and so does :func:`batchnorm_forward`.

.. warning::

   cs231n's ``batchnorm_forward`` (and some textbooks) write the moving average the other way round,
   ``running_mean = momentum * running_mean + (1 - momentum) * mean`` with ``momentum = 0.9``: there the
   momentum weighs the *old* value. It also starts the running variance at 0 and averages the *biased* batch
   variance. Here, as in torch and in Keras's ``1 - momentum``, 0.1 is the weight of the new batch.

Arguments are checked before anything is computed: an array of the wrong shape raises ``ValueError`` naming it
and its shape, a setting out of range ``ValueError`` naming the setting, a non-number ``TypeError``.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._exercise import exercise

__all__ = ["batchnorm_forward", "batchnorm_backward"]

# --------------------------------------------------------------------------------------------------------------
# Checking arguments (given; both functions share these).


def _check_setting(name: str, value, rule: str, test) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not test(value):
        raise ValueError(f"{name} must be {rule}, got {value!r}")


def _check_input(name: str, x) -> int:
    """Check that ``x`` is a floating-point array of shape (N, C) with N >= 1; return C."""
    if not isinstance(x, np.ndarray) or x.dtype.kind != "f":
        got = f"an array of dtype {x.dtype}" if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"{name} must be a floating-point NumPy array of shape (N, C), got {got}")
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (N, C) (a batch of N examples with C features), "
                         f"got shape {x.shape}")
    if x.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one example, got shape {x.shape}")
    return x.shape[1]


def _check_channels(channels: int, **arrays) -> None:
    """Check that each array is a floating-point array of shape (C,)."""
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f":
            got = f"an array of dtype {a.dtype}" if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{name} must be a floating-point NumPy array of shape (C,), got {got}")
        if a.shape != (channels,):
            raise ValueError(f"{name} must have shape (C,) = ({channels},), one value per feature of x, "
                             f"got shape {a.shape}")


# --------------------------------------------------------------------------------------------------------------
# 2. Batch normalization, forward.


@exercise(unit="07_batchnorm", section="2. Batch normalization, forward")
def batchnorm_forward(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, running_mean: np.ndarray, running_var: np.ndarray, *,
    training: bool = True, momentum: float = 0.1, eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The output of batch normalization and the new running statistics, as ``torch.nn.BatchNorm1d`` computes.

    In training (``training=True``), with the statistics of the batch, for each channel :math:`c`:

    .. math::

        \mu_B &= \frac{1}{N} \sum_{i=1}^{N} x_i, \qquad
        \sigma_B^2 = \frac{1}{N} \sum_{i=1}^{N} (x_i - \mu_B)^2 \\
        \hat x_i &= \frac{x_i - \mu_B}{\sqrt{\sigma_B^2 + \epsilon}}, \qquad
        y_i = \gamma \, \hat x_i + \beta \\
        \hat\mu_\text{new} &= (1 - m) \, \hat\mu + m \, \mu_B, \qquad
        \hat\sigma^2_\text{new} = (1 - m) \, \hat\sigma^2 + m \, \frac{N}{N - 1} \, \sigma_B^2

    In eval (``training=False``), with the running statistics, which come back unchanged:

    .. math::

        y_i = \gamma \, \frac{x_i - \hat\mu}{\sqrt{\hat\sigma^2 + \epsilon}} + \beta

    where :math:`x_i` is row ``i`` of ``x``, :math:`N` is ``x.shape[0]``, :math:`\gamma` is ``gamma``,
    :math:`\beta` is ``beta``, :math:`\hat\mu` is ``running_mean``, :math:`\hat\sigma^2` is ``running_var``,
    :math:`m` is ``momentum`` and :math:`\epsilon` is ``eps``. Every operation is per channel (per column), so
    the statistics have shape :math:`(C,)` and broadcast against :math:`(N, C)`.

    Three details are torch's, and each one is a classic mistake when missed:

    - :math:`\sigma_B^2` is the *biased* variance (``np.var``'s default ``ddof=0``) and :math:`\epsilon` is
      inside the square root;
    - the running variance averages the *unbiased* variance :math:`\frac{N}{N-1}\sigma_B^2` (what ``ddof=1``
      gives): an estimate of the population's variance, for eval;
    - :math:`m = 0.1` weighs the *new* batch statistic (cs231n's 0.9 weighs the old value: see the module's
      warning).

    Args:
        x: the input, shape :math:`(N, C)`, floating point. Not modified.
        gamma: the scale :math:`\gamma` (the layer's ``weight``), shape :math:`(C,)`. Not modified.
        beta: the shift :math:`\beta` (the layer's ``bias``), shape :math:`(C,)`. Not modified.
        running_mean: :math:`\hat\mu`, shape :math:`(C,)` (zeros in a new layer). Not modified.
        running_var: :math:`\hat\sigma^2`, shape :math:`(C,)` (ones in a new layer). Not modified.
        training: normalize with the batch's statistics and update the running ones (``True``), or normalize
            with the running statistics (``False``).
        momentum: :math:`m \in [0, 1]`, the weight of the new batch statistic in the running averages.
        eps: :math:`\epsilon > 0`, added to the variance inside the square root.

    Returns:
        ``(y, new_running_mean, new_running_var)``: the output, shape :math:`(N, C)`, and the running statistics
        after this batch, shape :math:`(C,)`: new arrays (in eval, new arrays equal to the inputs).

    Raises:
        ValueError: a batch of one in training (torch's message: ``Expected more than 1 value per channel when
            training, got input of shape (1, C)``); an array of the wrong shape; ``momentum`` outside [0, 1];
            ``eps`` not greater than 0.
    """
    channels = _check_input("x", x)
    _check_channels(channels, gamma=gamma, beta=beta, running_mean=running_mean, running_var=running_var)
    _check_setting("momentum", momentum, "in [0, 1] (the weight of the new batch statistic)",
                   lambda v: 0 <= v <= 1)
    _check_setting("eps", eps, "greater than 0 (it keeps the square root away from 0)", lambda v: v > 0)
    # First, in training only, refuse a batch of one with torch's ValueError and its exact words (see Raises:
    # the shape in the message is x.shape, e.g. (1, 3)); in eval a batch of one is fine.
    # Training: the batch mean and the biased variance over axis 0 (one value per column), xhat with eps under
    # the square root, then the scale and shift. For the running variance, rescale the batch variance by
    # N / (N - 1) (the unbiased estimate) before averaging; the new batch statistic gets the weight momentum.
    # Eval: the same normalization, with running_mean and running_var in place of the batch's statistics, and
    # copies of the running statistics returned (np.array(...) or .copy(), never the caller's arrays).
    raise NotImplementedError(
        "batchnorm_forward is not implemented yet: write it in optimlab/batchnorm.py (explained in notebook 07_batchnorm, section '2. Batch normalization, forward')."
    )


# --------------------------------------------------------------------------------------------------------------
# 3. Batch normalization, backward.


@exercise(unit="07_batchnorm", section="3. Batch normalization, backward")
def batchnorm_backward(
    dout: np.ndarray, x: np.ndarray, gamma: np.ndarray, *, eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The gradients of batch normalization in training mode, as torch's autograd computes them.

    Given :math:`\delta_i = \partial L / \partial y_i` (row ``i`` of ``dout``), for each channel:

    .. math::

        \frac{\partial L}{\partial \beta} &= \sum_{i=1}^{N} \delta_i, \qquad
        \frac{\partial L}{\partial \gamma} = \sum_{i=1}^{N} \delta_i \, \hat x_i \\
        \frac{\partial L}{\partial x_i} &= \frac{\gamma}{N \sqrt{\sigma_B^2 + \epsilon}}
            \left( N \delta_i - \sum_{j=1}^{N} \delta_j - \hat x_i \sum_{j=1}^{N} \delta_j \, \hat x_j \right)

    where :math:`\hat x_i = (x_i - \mu_B) / \sqrt{\sigma_B^2 + \epsilon}` is recomputed from ``x`` (``x`` is
    the forward's input, :math:`\gamma` is ``gamma``, :math:`\epsilon` is ``eps``; :math:`\mu_B` and
    :math:`\sigma_B^2` are the batch's mean and biased variance, as in :func:`batchnorm_forward`). The sums are
    over the batch (axis 0); :math:`\partial L / \partial \gamma` and :math:`\partial L / \partial \beta` are
    *sums*, not means: the loss already averages over the batch, and its gradient ``dout`` carries the
    :math:`1/N`.

    Where :math:`\partial L / \partial x_i` comes from. Write :math:`s = 1/\sqrt{\sigma_B^2 + \epsilon}`
    (``invstd`` in torch's code) and :math:`g_i = \gamma \delta_i = \partial L / \partial \hat x_i`. The input
    :math:`x_i` reaches the loss by three paths, since :math:`\hat x_j = (x_j - \mu_B) s` depends on
    :math:`x_i` directly (when :math:`j = i`), through :math:`\mu_B` and through :math:`\sigma_B^2`:

    1. directly: :math:`g_i \, s`;
    2. through the mean, with :math:`\partial \mu_B / \partial x_i = 1/N`: :math:`-\frac{s}{N} \sum_j g_j`
       (the path through :math:`\sigma_B^2`'s own dependence on :math:`\mu_B` is zero, since
       :math:`\sum_j (x_j - \mu_B) = 0`);
    3. through the variance, with :math:`\partial \sigma_B^2 / \partial x_i = \frac{2}{N}(x_i - \mu_B)` and
       :math:`\partial s / \partial \sigma_B^2 = -\frac{1}{2} s^3`:
       :math:`\sum_j g_j (x_j - \mu_B) \cdot (-\tfrac12 s^3) \cdot \frac{2}{N}(x_i - \mu_B)
       = -\frac{s}{N} \hat x_i \sum_j g_j \hat x_j`.

    Their sum is the formula above. Dropping paths 2 and 3 leaves :math:`\gamma s \delta_i`, the gradient of a
    layer whose statistics were constants: the eval-mode gradient, wrong in training (relative error near 0.9
    on a small batch).

    Args:
        dout: :math:`\partial L / \partial y`, shape :math:`(N, C)`. Not modified.
        x: the input of the forward pass, shape :math:`(N, C)`, :math:`N \ge 2`. Not modified.
        gamma: the scale :math:`\gamma`, shape :math:`(C,)`. Not modified.
        eps: :math:`\epsilon > 0`, the same as in the forward pass.

    Returns:
        ``(dx, dgamma, dbeta)``: :math:`\partial L / \partial x`, shape :math:`(N, C)`, and
        :math:`\partial L / \partial \gamma`, :math:`\partial L / \partial \beta`, shape :math:`(C,)`.

    Raises:
        ValueError: a batch of one (the forward refuses it in training), arrays of the wrong shapes, ``eps``
            not greater than 0.
    """
    channels = _check_input("x", x)
    _check_input("dout", dout)
    if dout.shape != x.shape:
        raise ValueError(f"dout has shape {dout.shape} but x has shape {x.shape}; they must match")
    _check_channels(channels, gamma=gamma)
    _check_setting("eps", eps, "greater than 0 (it keeps the square root away from 0)", lambda v: v > 0)
    if x.shape[0] == 1:
        raise ValueError(f"x has shape {x.shape}: a batch of one has no batch statistics to differentiate "
                         "(batchnorm_forward refuses it in training)")
    # Recompute the batch mean, the biased variance, invstd = 1 / sqrt(var + eps) and xhat from x, as in the
    # forward. dbeta sums dout over the batch and dgamma sums dout times xhat. For dx use the formula of the
    # docstring: the sums over the batch are taken with axis=0 (keep them shaped (C,), they broadcast), and the
    # three terms inside the parentheses are the direct path, the mean's path and the variance's path.
    raise NotImplementedError(
        "batchnorm_backward is not implemented yet: write it in optimlab/batchnorm.py (explained in notebook 07_batchnorm, section '3. Batch normalization, backward')."
    )
