r"""The plain gradient-descent update (unit 01).

Every optimizer in this package is a *pure* update function: it takes the current parameter, its gradient and
the hyperparameters, and returns the new parameter without modifying anything it was given. Classes that update
arrays in place (like ``torch.optim``) are thin shells around such functions.
"""

import numpy as np

from ._exercise import exercise


@exercise(unit="01_gradient_descent", section="2. One step downhill")
def gd_update(param: np.ndarray, grad: np.ndarray, *, lr: float) -> np.ndarray:
    r"""One step of gradient descent.

    .. math::

        \theta_{t+1} = \theta_t - \eta \, g_t

    where :math:`\theta_t` is ``param``, :math:`g_t = \nabla L(\theta_t)` is ``grad`` and :math:`\eta` is
    ``lr``. This is ``torch.optim.SGD`` with its defaults (no momentum, no weight decay).

    Args:
        param: the current parameters :math:`\theta_t`, an array of any shape. Not modified.
        grad: the gradient of the loss at ``param``, same shape. Not modified.
        lr: the learning rate :math:`\eta > 0`.

    Returns:
        The new parameters :math:`\theta_{t+1}`, a new array with the shape and dtype of ``param``.
    """
    # One line. Step *against* the gradient, and return a new array: `param -= ...` would change the
    # caller's array behind their back.
    return param - lr * grad
