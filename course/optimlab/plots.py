"""Contour plots of loss surfaces and an interactive learning-rate explorer (given, not an exercise)."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .problems import descend


def contours(problem, ax=None, *, levels: int = 20, resolution: int = 120):
    """Draw log-spaced contour lines of ``problem.loss`` over ``problem.bounds`` and mark the minimum."""
    ax = ax if ax is not None else plt.gca()
    x_lo, x_hi, y_lo, y_hi = problem.bounds
    xs, ys = np.linspace(x_lo, x_hi, resolution), np.linspace(y_lo, y_hi, resolution)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    values = problem.loss(grid)
    floor = max(values.min(), 1e-3)
    ax.contour(xs, ys, values, levels=np.geomspace(floor, values.max(), levels), cmap="Blues_r", linewidths=0.8)
    ax.plot(*problem.minimum, marker="*", markersize=12, color="gold", markeredgecolor="black", zorder=5)
    ax.set(xlim=(x_lo, x_hi), ylim=(y_lo, y_hi), aspect="equal", xlabel="$x_1$", ylabel="$x_2$")
    return ax


def path(ax, points: np.ndarray, label: str | None = None, **style):
    """Draw an optimization path (points of shape (steps + 1, 2)) as connected dots."""
    style = {"marker": "o", "markersize": 3, "linewidth": 1.2} | style
    (line,) = ax.plot(points[:, 0], points[:, 1], label=label, **style)
    ax.plot(*points[0], marker="s", color=line.get_color(), markersize=6)
    return line


def loss_curves(ax, problem, paths: dict[str, np.ndarray], *, log: bool = True):
    """Plot the loss along each path against the step number."""
    for label, points in paths.items():
        ax.plot(problem.loss(points), label=label)
    ax.set(xlabel="step", ylabel="loss", yscale="log" if log else "linear")
    ax.legend()
    return ax


def draw_descent(problem, x0: Sequence[float], *, lr: float, steps: int, fig=None):
    """Run *your* ``optimlab.gd.gd_update`` from ``x0`` and draw the path over the contours, beside its loss.

    The update is looked up at every call, so an edit to ``gd.py`` shows at the next call (with ``%autoreload``
    on). While ``gd_update`` is still a stub, the figure says so instead of showing a traceback.

    Returns:
        The figure, with the contour plot on the left and the loss against the step on the right.
    """
    gd = importlib.import_module(f"{__package__}.gd")
    fig = fig if fig is not None else plt.figure(figsize=(10, 4.2))
    fig.clear()
    left, right = fig.subplots(1, 2)
    contours(problem, left)
    try:
        points = descend(problem, x0, update=gd.gd_update, steps=steps, lr=lr)
    except NotImplementedError:
        left.set_title("gd_update is still a stub:\nimplement it in optimlab/gd.py (section 2)")
        right.axis("off")
        return fig
    path(left, points, color="crimson")
    losses = problem.loss(points)
    right.semilogy(np.arange(len(points)), losses, color="crimson")
    threshold = f"   (2/L = {2 / problem.eigenvalues[-1]:.3g})" if hasattr(problem, "eigenvalues") else ""
    right.set(xlabel="step", ylabel="loss", title=f"lr = {lr:.3g}{threshold}")
    diverged = len(points) <= steps or not np.isfinite(losses[-1])
    left.set_title(f"diverged after {len(points) - 1} steps" if diverged
                   else f"after {steps} steps: loss {losses[-1]:.2e}")
    return fig


def lr_explorer(problem, x0: Sequence[float], *, steps: int = 40, lr: float = 0.05,
                lr_range: tuple[float, float] = (1e-3, 1.0)):
    """A learning-rate slider that reruns *your* ``gd_update`` and redraws the path (see :func:`draw_descent`)."""
    import ipywidgets as widgets
    from IPython import get_ipython
    from IPython.display import display

    slider = widgets.FloatLogSlider(value=lr, base=10, min=np.log10(lr_range[0]), max=np.log10(lr_range[1]),
                                    step=0.02, description="lr", readout_format=".3g",
                                    continuous_update=False, layout=widgets.Layout(width="60%"))
    output = widgets.Output()

    def redraw(change=None):
        # Replace the widget's outputs from the kernel side, in one assignment. (Capturing with `with output:
        # display(fig)` draws the same in JupyterLab, but makes nbclient, which runs the tests and nbgrader, echo
        # the output back on the shell channel; that races with its wait for the cell's reply and can stall the
        # cell for the whole execution timeout.)
        open_before = set(plt.get_fignums())
        try:
            fig = draw_descent(problem, x0, lr=slider.value, steps=steps)
        except Exception as exc:  # a bug in gd_update: say so where the plot would be (a callback's error is hidden)
            for number in set(plt.get_fignums()) - open_before:
                plt.close(number)
            message = f"gd_update raised {type(exc).__name__}: {exc}\n"
            output.outputs = ({"output_type": "stream", "name": "stderr", "text": message},)
            return
        data, metadata = get_ipython().display_formatter.format(fig)
        plt.close(fig)
        output.outputs = ({"output_type": "display_data", "data": data, "metadata": metadata},)

    slider.observe(redraw, names="value")
    redraw()
    display(widgets.VBox([slider, output]))
    return slider
