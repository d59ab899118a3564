r"""Loss surfaces and data sets to optimize (given, not an exercise).

A *problem* has ``loss(x)`` and ``grad(x)`` for a point ``x`` of shape (d,), and, for the two-dimensional ones,
``bounds`` (the window to draw) and ``minimum`` (where the loss is smallest). ``loss`` also accepts a grid of
points of shape (..., 2), so contour plots need no loop.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Quadratic:
    r"""The quadratic bowl :math:`L(x) = \tfrac12 x^\top A x` with a symmetric positive definite ``A``.

    Its gradient is :math:`A x`; its curvature along each eigenvector of ``A`` is the eigenvalue. The largest
    eigenvalue is the smoothness constant :math:`L`, the smallest the strong-convexity constant :math:`\mu`,
    and :math:`\kappa = L / \mu` is the condition number.
    """

    A: np.ndarray
    bounds: tuple[float, float, float, float] = (-2.5, 2.5, -2.5, 2.5)

    @classmethod
    def with_condition(cls, kappa: float, *, smallest: float = 1.0, angle: float = np.pi / 6) -> Quadratic:
        """A 2-D bowl with eigenvalues ``smallest`` and ``kappa * smallest``, its axes rotated by ``angle``."""
        c, s = np.cos(angle), np.sin(angle)
        rotation = np.array([[c, -s], [s, c]])
        A = rotation @ np.diag([kappa * smallest, smallest]) @ rotation.T
        return cls(A=(A + A.T) / 2)

    @property
    def eigenvalues(self) -> np.ndarray:
        """The curvatures, smallest first."""
        return np.linalg.eigvalsh(self.A)

    @property
    def minimum(self) -> np.ndarray:
        return np.zeros(len(self.A))

    def loss(self, x: np.ndarray) -> np.ndarray | float:
        x = np.asarray(x, dtype=np.float64)
        value = 0.5 * np.einsum("...i,ij,...j->...", x, self.A, x)
        return float(value) if value.ndim == 0 else value

    def grad(self, x: np.ndarray) -> np.ndarray:
        return self.A @ np.asarray(x, dtype=np.float64)


@dataclass(frozen=True)
class Rosenbrock:
    r"""Rosenbrock's banana valley :math:`L(x, y) = (a - x)^2 + b (y - x^2)^2`, smallest at :math:`(a, a^2)`.

    Easy to find the valley, slow to follow it: on the valley floor :math:`y = x^2` the curvature across the valley
    is about :math:`b (1 + 4x^2)^2` times the curvature along it, :math:`25 b` at the minimum.
    """

    a: float = 1.0
    b: float = 100.0
    bounds: tuple[float, float, float, float] = (-2.0, 2.0, -1.0, 3.0)

    @property
    def minimum(self) -> np.ndarray:
        return np.array([self.a, self.a**2])

    def loss(self, x: np.ndarray) -> np.ndarray | float:
        x = np.asarray(x, dtype=np.float64)
        value = (self.a - x[..., 0]) ** 2 + self.b * (x[..., 1] - x[..., 0] ** 2) ** 2
        return float(value) if value.ndim == 0 else value

    def grad(self, x: np.ndarray) -> np.ndarray:
        x0, x1 = np.asarray(x, dtype=np.float64)
        return np.array([-2 * (self.a - x0) - 4 * self.b * x0 * (x1 - x0**2), 2 * self.b * (x1 - x0**2)])


@dataclass(frozen=True)
class Beale:
    r"""Beale's function :math:`(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2`, smallest
    (zero) at :math:`(3, 0.5)`: flat plateaus and steep, curved walls."""

    bounds: tuple[float, float, float, float] = (-4.5, 4.5, -4.5, 4.5)

    @property
    def minimum(self) -> np.ndarray:
        return np.array([3.0, 0.5])

    def loss(self, x: np.ndarray) -> np.ndarray | float:
        x = np.asarray(x, dtype=np.float64)
        a, b = x[..., 0], x[..., 1]
        value = (1.5 - a + a * b) ** 2 + (2.25 - a + a * b**2) ** 2 + (2.625 - a + a * b**3) ** 2
        return float(value) if value.ndim == 0 else value

    def grad(self, x: np.ndarray) -> np.ndarray:
        a, b = np.asarray(x, dtype=np.float64)
        r1, r2, r3 = 1.5 - a + a * b, 2.25 - a + a * b**2, 2.625 - a + a * b**3
        return np.array([2 * r1 * (b - 1) + 2 * r2 * (b**2 - 1) + 2 * r3 * (b**3 - 1),
                         2 * r1 * a + 2 * r2 * 2 * a * b + 2 * r3 * 3 * a * b**2])


@dataclass(frozen=True)
class Saddle:
    r"""A saddle :math:`\tfrac12 (x^2 - y^2) + \tfrac14 y^4`: a saddle point at the origin, minima at
    :math:`(0, \pm 1)`. Started on the ridge, an optimizer has to notice the tiny slope away from it."""

    bounds: tuple[float, float, float, float] = (-1.5, 1.5, -1.5, 1.5)

    @property
    def minimum(self) -> np.ndarray:
        return np.array([0.0, 1.0])

    def loss(self, x: np.ndarray) -> np.ndarray | float:
        x = np.asarray(x, dtype=np.float64)
        value = 0.5 * (x[..., 0] ** 2 - x[..., 1] ** 2) + 0.25 * x[..., 1] ** 4 + 0.25
        return float(value) if value.ndim == 0 else value

    def grad(self, x: np.ndarray) -> np.ndarray:
        a, b = np.asarray(x, dtype=np.float64)
        return np.array([a, -b + b**3])


def make_regression(
    rng: np.random.Generator, *, n: int = 1000, d: int = 10, noise: float = 0.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic linear-regression data set ``y = X w_true + noise``.

    The features are standard normal with one column of ones last (the intercept), so a linear model with
    weights of shape (d,) can fit it exactly up to the noise.

    Returns:
        X of shape (n, d), y of shape (n,), and the true weights of shape (d,).
    """
    X = np.column_stack([rng.standard_normal((n, d - 1)), np.ones(n)])
    w_true = rng.normal(scale=2.0, size=d)
    y = X @ w_true + noise * rng.standard_normal(n)
    return X, y, w_true


def descend(
    problem, x0: np.ndarray, *, update: Callable[..., np.ndarray], steps: int, **hyperparameters
) -> np.ndarray:
    """Run ``update`` for ``steps`` steps from ``x0`` on ``problem``.

    ``update`` is either stateless, ``x <- update(x, problem.grad(x), **hyperparameters)`` like
    :func:`optimlab.gd.gd_update`, or stateful, ``x, state <- update(x, problem.grad(x), state,
    **hyperparameters)`` like the functions of :mod:`optimlab.optim` (it has an argument named ``state``; the
    state starts as ``{}``). Stops early, keeping what it has, once the iterate is no longer finite (a
    diverging run).

    Returns:
        The visited points, shape (steps_taken + 1, d), ``x0`` first.
    """
    stateful = "state" in inspect.signature(update).parameters
    state: dict = {}
    path = [np.asarray(x0, dtype=np.float64)]
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            if stateful:
                x, state = update(path[-1], problem.grad(path[-1]), state, **hyperparameters)
            else:
                x = update(path[-1], problem.grad(path[-1]), **hyperparameters)
            path.append(np.asarray(x, dtype=np.float64))
            if not np.all(np.isfinite(x)) or np.max(np.abs(x)) > 1e12:
                break
    return np.array(path)
