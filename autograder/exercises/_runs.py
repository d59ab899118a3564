"""Helpers shared by the optimizer units (02 to 04): gradient sequences for multi-step runs."""

import numpy as np

#: What an update function returns, in words, for the checks' messages.
RETURNS = "the new parameter and state"
PARTS = ("the parameter", "state")


def gradients(rng: np.random.Generator, shape: tuple[int, ...], steps: int, *, dtype=np.float64,
              positive: bool = False, scale: float = 1.0) -> list[np.ndarray]:
    """``steps`` different gradients of ``shape``: standard normal (or uniform in [0.1, 1.5) with
    ``positive``), times ``scale``, rounded to 3 decimals so that a failing case prints readably."""
    draws = [rng.uniform(0.1, 1.5, size=shape) if positive else rng.standard_normal(shape) for _ in range(steps)]
    return [np.round(scale * g, 3).astype(dtype) for g in draws]


def point(rng: np.random.Generator, shape: tuple[int, ...], *, dtype=np.float64) -> np.ndarray:
    """A starting parameter of ``shape``, rounded to 3 decimals."""
    return np.round(rng.uniform(-2.0, 2.0, size=shape), 3).astype(dtype)


def random_shape(rng: np.random.Generator) -> tuple[int, ...]:
    """A small shape: a vector or a matrix with 1 to 4 entries per axis."""
    return tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(1, 3)))
