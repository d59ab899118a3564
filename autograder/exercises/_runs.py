"""Helpers shared by the units: gradient sequences for multi-step runs, memory layouts, and the mistakes every
optimizer update can make."""

import numpy as np
from optimlab.check import with_layout

#: What an update function returns, in words, for the checks' messages.
RETURNS = "the new parameter and state"
PARTS = ("the parameter", "state")

#: The layouts a hidden case draws from: C-contiguous half of the time, else one a caller really passes.
LAYOUT_CHOICES = (None, None, None, "F", "strided", "reversed")


def gradients(rng: np.random.Generator, shape: tuple[int, ...], steps: int, *, dtype=np.float64,
              positive: bool = False, scale: float = 1.0, layouts: bool = False) -> list[np.ndarray]:
    """``steps`` different gradients of ``shape``: standard normal (or uniform in [0.1, 1.5) with
    ``positive``), times ``scale``, rounded to 3 decimals so that a failing case prints readably; with
    ``layouts``, each in a random memory layout."""
    draws = [rng.uniform(0.1, 1.5, size=shape) if positive else rng.standard_normal(shape) for _ in range(steps)]
    grads = [np.round(scale * g, 3).astype(dtype) for g in draws]
    return [any_layout(rng, g) for g in grads] if layouts else grads


def point(rng: np.random.Generator, shape: tuple[int, ...], *, dtype=np.float64) -> np.ndarray:
    """A starting parameter of ``shape``, rounded to 3 decimals."""
    return np.round(rng.uniform(-2.0, 2.0, size=shape), 3).astype(dtype)


def random_shape(rng: np.random.Generator) -> tuple[int, ...]:
    """A small shape: a vector or a matrix with 1 to 4 entries per axis."""
    return tuple(int(n) for n in rng.integers(1, 5, size=rng.integers(1, 3)))


def random_dtype(rng: np.random.Generator):
    """float64 three times out of four, else float32."""
    return np.float32 if rng.random() < 0.25 else np.float64


def any_layout(rng: np.random.Generator, array: np.ndarray) -> np.ndarray:
    """``array`` in a memory layout drawn from :data:`LAYOUT_CHOICES`."""
    return with_layout(array, LAYOUT_CHOICES[int(rng.integers(len(LAYOUT_CHOICES)))])


def transposed(rows: int, cols: int, rng: np.random.Generator, *, dtype=np.float64) -> np.ndarray:
    """A (rows, cols) starting parameter that is the transpose of a C-ordered (cols, rows) array: Fortran-ordered,
    as the weights ``W.T`` of a layer are."""
    return point(rng, (cols, rows), dtype=dtype).T


def strided(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """The same arrays as strided views (every other element of a larger buffer)."""
    return [with_layout(a, "strided") for a in arrays]


def swapped(update):
    """A version of ``update`` that returns ``(state, param)`` instead of ``(param, state)``."""
    def impl(param, grad, state, **kwargs):
        new_param, new_state = update(param, grad, state, **kwargs)
        return new_state, new_param
    return impl


SWAPPED_EXPLAIN = ("An update returns the new parameter first and the new state second, "
                   "`return new_param, new_state`, as the caller unpacks it.")

FLOAT64_EXPLAIN = ("float32 inputs give float32 results: start arrays with np.zeros_like(param) or "
                   "np.full_like(param, value) (np.zeros(param.shape) is float64), and keep numbers Python floats "
                   "(math.sqrt, not np.sqrt, of a number: under NumPy 2 a NumPy float64 scalar makes a float32 "
                   "array float64).")

PARAM_RIGHT_STATE_WRONG_EXPLAIN = ("The parameter is right, so the step is computed from the right numbers; but "
                                   "the state returned is what the next step starts from, and it should hold "
                                   "torch's quantities under torch's names (see the docstring).")

STATE_RIGHT_PARAM_WRONG_EXPLAIN = ("The state is right, so the accumulators are updated correctly; the mistake is "
                                   "in the formula that turns them into the new parameter (which accumulator, "
                                   "its square root, eps, lr, the sign).")
