r"""Numerical gradients and the gradient check (unit 01).

The centred difference

.. math::

    \frac{\partial f}{\partial x_i} \approx \frac{f(x + h e_i) - f(x - h e_i)}{2h}

has an error of order :math:`h^2`; the forward difference :math:`(f(x + h e_i) - f(x)) / h` only of order
:math:`h`. Comparing an analytic gradient with the centred difference catches almost every bug in a backward
pass.
"""

from collections.abc import Callable

import numpy as np

from ._exercise import exercise


@exercise(unit="01_gradient_descent", section="5. Checking gradients")
def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, *, h: float = 1e-5) -> np.ndarray:
    r"""The centred-difference estimate of the gradient of ``f`` at ``x``.

    Args:
        f: a function of an array shaped like ``x``, returning a float.
        x: the point, an array of any shape. Not modified (work on a copy).
        h: the step :math:`h` of the difference.

    Returns:
        A float64 array shaped like ``x`` whose entry ``i`` is
        :math:`(f(x + h e_i) - f(x - h e_i)) / (2h)`.
    """
    # Work on a float64 copy of x (np.array(x, dtype=np.float64)); nudge one entry at a time, evaluate f, and put
    # the entry back before moving on. `for i in np.ndindex(x.shape)` visits every entry of an array of any shape:
    # x[i] is that entry in the array itself. (A "flat view" `x.reshape(-1)` is a view only for a C-ordered x; for
    # a transposed matrix it is a copy, and writing into it changes nothing.)
    raise NotImplementedError(
        "numerical_gradient is not implemented yet: write it in optimlab/gradcheck.py (explained in notebook 01_gradient_descent, section '5. Checking gradients')."
    )


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    r"""The largest relative difference :math:`\max_i |a_i - b_i| / \max(|a_i| + |b_i|, 10^{-12})`."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-12)))


def gradient_check(
    f: Callable[[np.ndarray], float], grad_f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, *, h: float = 1e-5
) -> float:
    """Compare an analytic gradient ``grad_f`` with :func:`numerical_gradient` at ``x``.

    Returns the relative error: below about 1e-7 the gradient is almost surely right; above 1e-3 it is almost
    surely wrong.
    """
    return relative_error(grad_f(x), numerical_gradient(f, x, h=h))
