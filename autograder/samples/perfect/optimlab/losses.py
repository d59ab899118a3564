r"""Least squares, the loss of linear regression (unit 01).

For a design matrix :math:`X` (n samples by d features), targets :math:`y` and weights :math:`w`:

.. math::

    L(w) = \frac{1}{2n} \lVert X w - y \rVert^2
         = \frac{1}{n} \sum_{i=1}^{n} \tfrac12 (x_i^\top w - y_i)^2

The factor :math:`\frac12` makes the gradient clean; the :math:`\frac1n` makes the loss an *average* over the
batch, so its size (and a good learning rate) does not depend on how many samples the batch holds.
"""

import numpy as np

from ._exercise import exercise


def least_squares_loss(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> float:
    """The mean squared error over the batch, halved.

    Args:
        w: weights, shape (d,).
        X: inputs, shape (n, d), one sample per row.
        y: targets, shape (n,).

    Returns:
        :math:`L(w) = \\frac{1}{2n} \\lVert Xw - y \\rVert^2`, a float.
    """
    residual = X @ w - y
    return 0.5 * float(residual @ residual) / len(y)


@exercise(unit="01_gradient_descent", section="4. Batch, stochastic and mini-batch")
def least_squares_grad(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    r"""The gradient of :func:`least_squares_loss` with respect to ``w``.

    .. math::

        \nabla L(w) = \frac{1}{n} X^\top (X w - y)

    Args:
        w: weights, shape (d,). Not modified.
        X: inputs, shape (n, d), one sample per row. Not modified.
        y: targets, shape (n,). Not modified.

    Returns:
        The gradient, shape (d,).
    """
    # The residual r = Xw - y has one entry per sample (shape (n,)). The gradient *averages* each sample's
    # contribution x_i * r_i over the batch: divide by n, do not just sum.
    return X.T @ (X @ w - y) / len(y)
