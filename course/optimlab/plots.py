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


class Explorer:
    """Rerun *your* update function with the hyperparameters of some sliders, and redraw its path.

    ``update`` names a function of the package, ``"gd.gd_update"`` or ``"optim.adam_update"``: it is looked up
    at every redraw, so an edit to the package shows at the next move of a slider (with ``%autoreload`` on).
    While the function is still a stub, the figure says so instead of showing a traceback.

    The figure is made once and only its lines change, so a redraw (run and picture) takes a few tens of
    milliseconds. :meth:`draw` does the work without any widget, for scripts and tests; :meth:`show` adds the
    sliders.

    Args:
        problem: a 2-D problem of :mod:`optimlab.problems`.
        x0: the starting point.
        update: ``"module.function"`` in the package; stateful functions (with a ``state`` argument) get their
            state carried from step to step.
        steps: how many steps to run.
        sliders: ``{name: (low, high, value)}``; a slider whose range spans a factor of 100 or more is
            logarithmic.
        hyper: turns the sliders' values into the function's keyword arguments (e.g. two sliders ``beta1`` and
            ``beta2`` into ``betas=(beta1, beta2)``); by default they are passed as they are.
    """

    def __init__(self, problem, x0: Sequence[float], *, update: str = "gd.gd_update", steps: int = 40,
                 sliders: dict[str, tuple[float, float, float]] | None = None, hyper=None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.problem, self.x0, self.update, self.steps = problem, np.asarray(x0, dtype=float), update, steps
        self.sliders = sliders or {"lr": (1e-3, 1.0, 0.05)}
        self.hyper = hyper or (lambda values: values)
        self.fig = Figure(figsize=(10, 4.2), dpi=80)
        FigureCanvasAgg(self.fig)
        self.left, self.right = self.fig.subplots(1, 2)
        contours(problem, self.left)
        (self.path_line,) = self.left.plot([], [], marker="o", markersize=3, linewidth=1.2, color="crimson")
        self.left.plot(*self.x0, marker="s", markersize=6, color="crimson")
        (self.loss_line,) = self.right.semilogy([], [], color="crimson")
        self.right.set(xlabel="step", ylabel="loss")
        for ax in (self.left, self.right):  # room for the two-line titles that draw() writes
            ax.set_title("title\ntitle")
        self.fig.tight_layout()
        self.right.set_title("")

    def _function(self):
        module, name = self.update.rsplit(".", 1)
        return importlib.import_module(f"{__package__}.{module}"), name

    def draw(self, **values):
        """Run the update with these slider values and redraw; returns the figure."""
        module, name = self._function()
        try:
            points = descend(self.problem, self.x0, update=getattr(module, name), steps=self.steps,
                             **self.hyper(values))
        except NotImplementedError:
            self.path_line.set_data([], [])
            self.loss_line.set_data([], [])
            self.left.set_title(f"{name} is still a stub:\nimplement it in optimlab/{module.__name__.rsplit('.', 1)[1]}.py")
            self.right.set_title("")
            return self.fig
        losses = self.problem.loss(points)
        self.path_line.set_data(points[:, 0], points[:, 1])
        self.loss_line.set_data(np.arange(len(points)), np.maximum(losses, 1e-300))
        self.right.relim()
        self.right.autoscale_view()
        shown = ", ".join(f"{k} = {v:.3g}" for k, v in values.items())
        threshold = f"   (2/L = {2 / self.problem.eigenvalues[-1]:.3g})" if (
            hasattr(self.problem, "eigenvalues") and self.update == "gd.gd_update") else ""
        self.right.set_title(shown + threshold)
        diverged = len(points) <= self.steps or not np.isfinite(losses[-1])
        self.left.set_title(f"diverged after {len(points) - 1} steps" if diverged
                            else f"after {self.steps} steps: loss {losses[-1]:.2e}")
        return self.fig

    def png(self, **values) -> bytes:
        """The figure for these slider values, as PNG bytes."""
        import io

        buffer = io.BytesIO()
        self.draw(**values).savefig(buffer, format="png")
        return buffer.getvalue()

    def show(self):
        """Display the sliders and the figure; returns the box of widgets."""
        import base64

        import ipywidgets as widgets
        from IPython.display import display

        controls = {}
        for name, (low, high, value) in self.sliders.items():
            common = dict(value=value, description=name, continuous_update=False, readout_format=".3g",
                          layout=widgets.Layout(width="60%"), style={"description_width": "80px"})
            if low > 0 and high / low >= 100:
                controls[name] = widgets.FloatLogSlider(base=10, min=np.log10(low), max=np.log10(high),
                                                        step=0.02, **common)
            else:
                controls[name] = widgets.FloatSlider(min=low, max=high, step=(high - low) / 200, **common)
        output = widgets.Output()

        def redraw(change=None):
            # Replace the widget's outputs from the kernel side, in one assignment. (Capturing with `with output:
            # display(fig)` draws the same in JupyterLab, but makes nbclient, which runs the tests and nbgrader,
            # echo the output back on the shell channel; that races with its wait for the cell's reply and can
            # stall the cell for the whole execution timeout.)
            values = {name: control.value for name, control in controls.items()}
            try:
                image = base64.b64encode(self.png(**values)).decode()
            except Exception as exc:  # a bug in the student's update: say so where the plot would be
                message = f"{self.update} raised {type(exc).__name__}: {exc}\n"
                output.outputs = ({"output_type": "stream", "name": "stderr", "text": message},)
                return
            output.outputs = ({"output_type": "display_data", "metadata": {},
                               "data": {"image/png": image, "text/plain": f"<{self.update} explorer>"}},)

        for control in controls.values():
            control.observe(redraw, names="value")
        redraw()
        box = widgets.VBox([*controls.values(), output])
        display(box)
        return box


def lr_explorer(problem, x0: Sequence[float], *, steps: int = 40, lr: float = 0.05,
                lr_range: tuple[float, float] = (1e-3, 1.0)):
    """A learning-rate slider that reruns *your* ``gd_update`` and redraws its path (see :class:`Explorer`)."""
    return Explorer(problem, x0, update="gd.gd_update", steps=steps,
                    sliders={"lr": (lr_range[0], lr_range[1], lr)}).show()
