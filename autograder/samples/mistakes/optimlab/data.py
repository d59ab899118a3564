"""Mini-batches (unit 01)."""

from collections.abc import Iterator

import numpy as np

from ._exercise import exercise


@exercise(unit="01_gradient_descent", section="4. Batch, stochastic and mini-batch")
def minibatches(
    n: int, batch_size: int, *, rng: np.random.Generator, shuffle: bool = True, drop_last: bool = False
) -> Iterator[np.ndarray]:
    """Yield the sample indices of one epoch, ``batch_size`` at a time.

    One epoch visits every index in ``range(n)`` exactly once. With ``shuffle=True`` the order is
    ``rng.permutation(n)``, drawn once per call; with ``shuffle=False`` it is ``0, 1, ..., n - 1``. When
    ``batch_size`` does not divide ``n``, the last batch is shorter; ``drop_last=True`` leaves it out
    (the same convention as ``torch.utils.data.DataLoader``).

    Args:
        n: the number of samples, at least 0.
        batch_size: the number of indices per batch, at least 1.
        rng: the random generator to shuffle with. Use it, and only it: never ``np.random.shuffle`` or
            ``np.random.permutation``, which draw from NumPy's hidden global state and make runs
            impossible to reproduce.
        shuffle: whether to visit the samples in random order.
        drop_last: whether to leave out a last batch shorter than ``batch_size``.

    Yields:
        Integer index arrays of shape (batch_size,), the last one possibly shorter.

    Example:
        >>> [b.tolist() for b in minibatches(5, 2, rng=np.random.default_rng(0), shuffle=False)]
        [[0, 1], [2, 3], [4]]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if n < 0:
        raise ValueError(f"n must be at least 0, got {n}")
    # Draw the order once (rng.permutation(n) or np.arange(n)), then yield consecutive slices of it.
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]
