"""Contour plots of loss surfaces and an interactive learning-rate explorer (given, not an exercise)."""

from __future__ import annotations

import html
import importlib
import math
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


def _shortest(value: float) -> str:
    """The shortest ``g`` format of ``value`` that reads back as the same float: 0.999, 0.0367, 1e-10, 10."""
    if value == int(value) and abs(value) < 1e6:
        return str(int(value))
    for digits in range(1, 17):
        text = f"{value:.{digits}g}"
        if float(text) == value:
            return text
    return repr(value)


def slider_values(low: float, high: float, value: float) -> list[float]:
    """The positions of a slider over ``[low, high]``, always including ``low``, ``high`` and ``value``.

    The spacing follows where the parameter lives, so that one step changes it by a similar *relative* amount
    everywhere on the slider:

    - a range that spans a factor of 20 or more (a learning rate, an ``eps``) is logarithmic, 24 steps a decade;
    - a range below 1 whose distance to 1 spans a factor of 20 or more (``momentum``, ``alpha``, ``betas``) is
      logarithmic in ``1 - value``, so that 0.99, 0.995, 0.999 and 0.9999 are each a few steps apart;
    - any other range has about 100 even steps.

    Every position is rounded to two significant digits (of ``1 - value`` near 1), so its readout is short.
    """
    if low > 0 and high / low >= 20:
        exponents = np.arange(np.floor(24 * np.log10(low)), np.ceil(24 * np.log10(high)) + 1) / 24
        grid = [float(f"{10.0**e:.2g}") for e in exponents]
    elif high < 1 and (1 - low) / (1 - high) >= 20:
        exponents = np.arange(np.floor(24 * np.log10(1 - high)), np.ceil(24 * np.log10(1 - low)) + 1) / 24
        grid = [float(f"{1 - float(f'{10.0**e:.2g}'):.12g}") for e in exponents]
    else:
        step = float(f"{(high - low) / 100:.1g}")
        grid = [float(f"{low + k * step:.12g}") for k in range(int(np.ceil((high - low) / step)) + 1)]
    return sorted({low, high, value, *(v for v in grid if low <= v <= high)})


def _png(canvas) -> bytes:
    """The pixels of an Agg canvas as PNG bytes: RGB and light compression, a fraction of the time of savefig."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    rgba.convert("RGB").save(buffer, format="png", compress_level=1)
    return buffer.getvalue()


def _blit(explorer, artists):
    """Redraw an explorer's changing parts only: its two titles (``explorer._titles``) and ``artists``, over the
    background saved without them (``explorer._background``), which is much faster than drawing the figure."""
    explorer.left.set_title(explorer._titles[0], y=1.0)
    explorer.right.set_title(explorer._titles[1], y=1.0)
    explorer.canvas.restore_region(explorer._background)
    for artist in (*artists, explorer.left.title, explorer.right.title):
        explorer.fig.draw_artist(artist)
    return explorer.fig


def _slider(name: str, positions: list, value):
    """A slider over ``positions`` (readouts at their shortest), updated when released."""
    import ipywidgets as widgets

    return widgets.SelectionSlider(options=[(_shortest(float(v)), v) for v in positions], value=value,
                                   description=name, continuous_update=False, layout=widgets.Layout(width="60%"),
                                   style={"description_width": "80px"})


def _failure(exc: Exception, default_file: str = "optimlab/") -> tuple[str, tuple[str, str]]:
    """What an explorer says when the student's code fails: (the status line, the two titles). A stub's
    NotImplementedError names the function and the file to write it in; any other exception is a bug to show."""
    if isinstance(exc, NotImplementedError):
        message = str(exc)
        name = message.split(" ", 1)[0]
        where = message.split("write it in ", 1)[-1].split(" ", 1)[0] if "write it in" in message else default_file
        return message, (f"{name} is still a stub", f"implement it in {where}")
    return f"{type(exc).__name__}: {exc}", (f"your code raised {type(exc).__name__}", str(exc)[:50])


class _Picture:
    """An explorer's picture and the status line under its controls.

    The picture is a display_data output of the cell, replaced in place (update_display_data), so the notebook
    keeps the last one when saved. (Capturing with an Output widget would keep nothing, and makes nbclient, which
    runs the tests and nbgrader, echo the output back on the shell channel.)
    """

    def __init__(self, status):
        self.status, self.handle = status, None

    def show(self, png: bytes, text: str, message: str | None) -> None:
        import base64

        from IPython.display import display

        bundle = {"image/png": base64.b64encode(png).decode(), "text/plain": text}
        self.status.value = "" if message is None else (
            f'<span style="color: #b00">✘ {html.escape(message)}</span>')
        if self.handle is None:
            self.handle = display(bundle, raw=True, display_id=True)
        else:
            self.handle.update(bundle, raw=True)


#: The status line of an explorer while it retrains a network.
TRAINING = '<span style="color: #666">⏳ training a fresh network…</span>'


def _live(controls: dict, render, *, menu=None, busy: str | None = None):
    """Display a menu (if any), the sliders ``controls`` and a status line, then the picture, redrawn whenever a
    control changes: ``render(values)`` gives ``(png, text, message)`` for the sliders' values (the message is
    None, or what the status line says went wrong). ``busy`` is shown in the status line while it renders."""
    import ipywidgets as widgets
    from IPython.display import display

    status = widgets.HTML()
    box = widgets.VBox([*([menu] if menu is not None else []), *controls.values(), status])
    display(box)
    picture = _Picture(status)

    def redraw(change=None):
        if busy:
            status.value = busy  # the update goes out now, while the kernel is still busy rendering
        picture.show(*render({name: control.value for name, control in controls.items()}))

    for control in [*([menu] if menu is not None else []), *controls.values()]:
        control.observe(redraw, names="value")
    redraw()
    return box


class Explorer:
    """Rerun *your* update function with the hyperparameters of some sliders, and redraw its path.

    ``update`` names a function of the package, ``"gd.gd_update"`` or ``"optim.adam_update"``: it is looked up
    at every redraw, so an edit to the package shows at the next move of a slider (with ``%autoreload`` on).
    While the function is still a stub, the figure and the line under the sliders say what to implement instead
    of showing a traceback.

    The figure is made once. A redraw pastes the pixels of what does not change (the contours, the axes; the loss
    axis spans whole decades and is drawn once for each range of them) and draws only the lines and the titles
    over them, so one move of a slider (run, picture, PNG) takes a few tens of milliseconds. :meth:`draw` and :meth:`png` do the work without any widget, for scripts
    and tests; :meth:`show` adds the sliders.

    The picture is a plain ``image/png`` output of the cell, updated in place at each move (not a widget): so the
    saved notebook, its exports and its feedback show the figure of the last slider position.

    Args:
        problem: a 2-D problem of :mod:`optimlab.problems`.
        x0: the starting point.
        update: ``"module.function"`` in the package; stateful functions (with a ``state`` argument) get their
            state carried from step to step.
        steps: how many steps to run.
        sliders: ``{name: (low, high, value)}``; the positions between ``low`` and ``high`` are spaced as
            :func:`slider_values` says (logarithmic for ranges that span decades, logarithmic in ``1 - value``
            for parameters near 1).
        hyper: turns the sliders' values into the function's keyword arguments (e.g. two sliders ``beta1`` and
            ``beta2`` into ``betas=(beta1, beta2)``); by default they are passed as they are.
    """

    def __init__(self, problem, x0: Sequence[float], *, update: str = "gd.gd_update", steps: int = 40,
                 sliders: dict[str, tuple[float, float, float]] | None = None, hyper=None):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullLocator

        self.problem, self.x0, self.update, self.steps = problem, np.asarray(x0, dtype=float), update, steps
        self.sliders = sliders or {"lr": (1e-3, 1.0, 0.05)}
        self.hyper = hyper or (lambda values: values)
        self.message: str | None = None  # why the last draw shows no path (a stub, an error), or None
        self.fig = Figure(figsize=(10, 4.2), dpi=80)
        self.canvas = FigureCanvasAgg(self.fig)
        self.left, self.right = self.fig.subplots(1, 2)
        contours(problem, self.left)
        self.left.plot(*self.x0, marker="s", markersize=6, color="crimson")
        (self.path_line,) = self.left.plot([], [], marker="o", markersize=3, linewidth=1.2, color="crimson",
                                           animated=True)
        (self.loss_line,) = self.right.semilogy([], [], color="crimson", animated=True)
        self.right.set(xlabel="step", ylabel="loss")
        self.right.yaxis.set_label_coords(-0.11, 0.5)  # a fixed place: no measuring of tick labels per redraw
        self.right.yaxis.set_minor_locator(NullLocator())  # ticks at the decades only: fewer artists to draw
        for ax in (self.left, self.right):  # room for the two-line titles that draw() writes, at a fixed place
            ax.set_title("title\ntitle", y=1.0)
            ax.title.set_animated(True)
        self.right.set_xlim(0, steps)
        self.fig.tight_layout()
        # What never changes, once: the whole figure without the loss axis (its y-axis) and the animated artists.
        # The loss axis has whole decades as limits, and is drawn once for each pair of limits (_paste_background).
        self.right.yaxis.set_visible(False)
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.right.yaxis.set_visible(True)
        self._backgrounds: dict[tuple[int, int], object] = {}

    def _function(self):
        module, name = self.update.rsplit(".", 1)
        return importlib.import_module(f"{__package__}.{module}"), name

    def _run(self, values: dict):
        """The path for these slider values, or None with ``self.message`` saying why there is none."""
        module, name = self._function()
        self.message = None
        try:
            return descend(self.problem, self.x0, update=getattr(module, name), steps=self.steps,
                           **self.hyper(values))
        except NotImplementedError as exc:
            where = f"optimlab/{module.__name__.rsplit('.', 1)[1]}.py"
            self.message = str(exc) if name in str(exc) else f"{name} is not implemented yet: write it in {where}."
            self._title = f"{name} is still a stub:\nimplement it in {where}"
        except Exception as exc:  # a bug in the student's update: say so where the path would be
            self.message = f"{name} raised {type(exc).__name__}: {exc}"
            self._title = f"{name} raised {type(exc).__name__}:\n{str(exc)[:60]}"
        return None

    def draw(self, **values):
        """Run the update with these slider values and redraw; returns the figure.

        When the update is a stub or raises, the figure shows no path, its title says why, and so does
        ``self.message``.
        """
        points = self._run(values)
        if points is None:
            self._decades = (-1, 1)
            self.path_line.set_data([], [])
            self.loss_line.set_data([], [])
            self.left.set_title(self._title, y=1.0)
            self.right.set_title("", y=1.0)
        else:
            losses = self.problem.loss(points)
            self.path_line.set_data(points[:, 0], points[:, 1])
            self.loss_line.set_data(np.arange(len(points)), np.maximum(losses, 1e-300))
            finite = losses[np.isfinite(losses)]
            self._decades = (int(np.floor(np.log10(max(finite.min(), 1e-300)))),
                             int(np.ceil(np.log10(max(finite.max(), 1e-300))))) if len(finite) else (-1, 1)
            shown = ", ".join(f"{k} = {_shortest(float(v))}" for k, v in values.items())
            threshold = f"   (2/L = {2 / self.problem.eigenvalues[-1]:.3g})" if (
                hasattr(self.problem, "eigenvalues") and self.update == "gd.gd_update") else ""
            self.right.set_title(shown + threshold, y=1.0)
            diverged = len(points) <= self.steps or not np.isfinite(losses[-1])
            self.left.set_title(f"diverged after {len(points) - 1} steps" if diverged
                                else f"after {self.steps} steps: loss {losses[-1]:.2e}", y=1.0)
        # Paste what has not changed, then draw what has over it.
        self._paste_background()
        for artist in (self.loss_line, self.right.title, self.path_line, self.left.title):
            self.fig.draw_artist(artist)
        return self.fig

    def _paste_background(self):
        """Paste the figure without its lines and titles, with a loss axis from 10**low to 10**high."""
        low, high = getattr(self, "_decades", (-1, 1))
        high = max(high, low + 1)
        if (low, high) not in self._backgrounds:
            if len(self._backgrounds) >= 64:
                self._backgrounds.clear()
            self.right.set_ylim(10.0**low, 10.0**high)
            self.canvas.restore_region(self._background)
            self.fig.draw_artist(self.right.yaxis)
            self._backgrounds[low, high] = self.canvas.copy_from_bbox(self.fig.bbox)
        self.canvas.restore_region(self._backgrounds[low, high])

    def png(self, **values) -> bytes:
        """The figure for these slider values, as PNG bytes."""
        self.draw(**values)
        return _png(self.canvas)

    def show(self):
        """Display the sliders and, under them, the figure; returns the box of widgets."""
        controls = {name: _slider(name, slider_values(low, high, value), value)
                    for name, (low, high, value) in self.sliders.items()}

        def render(values):
            png = self.png(**values)
            return png, f"<{self.update} explorer: {self.message or 'the path and its loss'}>", self.message

        return _live(controls, render)


def lr_explorer(problem, x0: Sequence[float], *, steps: int = 40, lr: float = 0.05,
                lr_range: tuple[float, float] = (1e-3, 1.0)):
    """A learning-rate slider that reruns *your* ``gd_update`` and redraws its path (see :class:`Explorer`)."""
    return Explorer(problem, x0, update="gd.gd_update", steps=steps,
                    sliders={"lr": (lr_range[0], lr_range[1], lr)}).show()


# --------------------------------------------------------------------------------------------------------------
# Unit 05: a schedule and the training it gives.

#: The schedules of :class:`ScheduleExplorer`: (function of ``optimlab.schedules``, its sliders, the arguments
#: the sliders do not set). Sliders are ``(low, high, value)``; integer bounds make an integer slider. Every
#: schedule is stepped once per mini-batch, for ``steps`` batches; ``total`` stands for that number.
SCHEDULES = {
    "constant": (None, {"lr": (1e-3, 3.0, 0.1)}, {}),
    "step": ("step_lr", {"lr": (1e-3, 3.0, 0.3), "step_size": (5, 150, 50), "gamma": (0.05, 0.95, 0.3)}, {}),
    "exponential": ("exponential_lr", {"lr": (1e-3, 3.0, 0.3), "gamma": (0.9, 0.999, 0.99)}, {}),
    "cosine": ("cosine_annealing_lr", {"lr": (1e-3, 3.0, 0.3), "T_max": (10, 300, 150)}, {}),
    "warmup + cosine": ("warmup_cosine_lr", {"lr": (1e-3, 3.0, 0.3), "warmup_iters": (1, 75, 15),
                                             "start_factor": (0.01, 1.0, 0.1)}, {"T_max": "total - warmup"}),
    "cyclic (triangular2)": ("cyclic_lr", {"base_lr": (1e-4, 0.3, 0.01), "max_lr": (0.01, 3.0, 0.3),
                                           "step_size_up": (5, 75, 20)}, {"mode": "triangular2"}),
    "one cycle": ("one_cycle_lr", {"max_lr": (0.01, 3.0, 0.3), "pct_start": (0.05, 0.95, 0.3)},
                  {"total_steps": "total"}),
}


def _int_values(low: int, high: int, value: int) -> list[int]:
    """Integer slider positions: every integer on a short range, else about 100 roughly log-spaced ones."""
    if high - low <= 100:
        grid = range(low, high + 1)
    else:
        grid = {int(round(v)) for v in np.geomspace(max(low, 1), high, 100)}
    return sorted({low, high, value, *(v for v in grid if low <= v <= high)})


class ScheduleExplorer:
    """Choose a schedule and its parameters; see *your* schedule's learning rates and the training they give.

    Every redraw calls your function of :mod:`optimlab.schedules` (looked up at each redraw, so an edit shows at
    the next move of a slider) at every step ``t = 0, ..., steps - 1``, then trains a small network on the
    digits with those learning rates, one mini-batch per step (SGD with momentum 0.9, your ``momentum_update``;
    the batches come from your ``minibatches``). The network, its initial weights and the order of the batches are
    the same at every redraw, so what changes in the training curve is the schedule's doing.

    Left: the learning rate over the steps, as a fraction of its peak (the title gives the peak). Right: the
    training loss, an exponential moving average of the batch losses, and the validation accuracy at the end.
    While a function is a stub, the figure and the line under the controls say what to implement.

    Args:
        schedule: the schedule shown first, a key of :data:`SCHEDULES`.
        steps: how many mini-batches to train for.
        hidden: the width of the network's hidden layer (64 inputs, ``hidden`` ReLU units, 10 outputs).
        seed: the seed of the network's weights, of the data split and of the batches.
    """

    def __init__(self, schedule: str = "warmup + cosine", *, steps: int = 150, hidden: int = 32, seed: int = 0):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullLocator

        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(map(repr, SCHEDULES))}, got {schedule!r}")
        from . import nn

        self.schedule, self.steps, self.hidden, self.seed = schedule, steps, hidden, seed
        split = nn.load_digits(seed=seed)
        self.X, self.y, self.X_val, self.y_val = split.X_train, split.y_train, split.X_val, split.y_val
        self.message: str | None = None
        self.fig = Figure(figsize=(10, 3.8), dpi=80)
        self.canvas = FigureCanvasAgg(self.fig)
        self.left, self.right = self.fig.subplots(1, 2)
        self.left.set(xlim=(0, steps), ylim=(0, 1.08), xlabel="step (mini-batch)", ylabel="lr / peak lr")
        self.right.set(xlim=(0, steps), ylim=(1e-2, 10), yscale="log", xlabel="step (mini-batch)",
                       ylabel="training loss (moving average)")
        self.right.yaxis.set_minor_locator(NullLocator())
        (self.lr_line,) = self.left.plot([], [], color="crimson", animated=True)
        (self.loss_line,) = self.right.plot([], [], color="crimson", animated=True)
        for ax in (self.left, self.right):  # one short line each: text is the slowest thing to draw
            ax.set_title("title", y=1.0)
            ax.title.set_animated(True)
        self.fig.tight_layout()
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def _arguments(self, schedule: str, values: dict) -> dict:
        """The keyword arguments of the schedule's function, from the slider values."""
        _, _, fixed = SCHEDULES[schedule]
        arguments = dict(values)
        if "lr" in arguments:
            arguments["base_lr"] = arguments.pop("lr")
        for name, value in fixed.items():
            if value == "total":
                arguments[name] = self.steps
            elif value == "total - warmup":
                arguments[name] = self.steps - values["warmup_iters"]
            else:
                arguments[name] = value
        return arguments

    def learning_rates(self, schedule: str, values: dict) -> np.ndarray:
        """Your schedule's learning rate at each step, for these slider values."""
        name = SCHEDULES[schedule][0]
        if name is None:
            return np.full(self.steps, float(values["lr"]))
        from . import schedules

        function = getattr(schedules, name)
        arguments = self._arguments(schedule, values)
        return np.array([function(t, **arguments) for t in range(self.steps)], dtype=float)

    def train(self, lrs: np.ndarray) -> tuple[np.ndarray, float]:
        """Train the network with these learning rates: (smoothed training loss per step, validation accuracy)."""
        from . import nn, optim

        rng = np.random.default_rng(self.seed)
        model = nn.mlp([self.X.shape[1], self.hidden, 10], rng=rng)
        opt = optim.SGD(model.parameters(), lr=float(lrs[0]), momentum=0.9)
        step = nn.training_steps(model, opt, self.X, self.y, batch_size=32, rng=rng)
        smoothed, average = [], 0.0
        with np.errstate(all="ignore"):
            for t, lr in enumerate(lrs, start=1):
                loss = step(float(lr))
                if not np.isfinite(loss):
                    break
                average = 0.9 * average + 0.1 * loss
                smoothed.append(average / (1 - 0.9**t))
            model.eval()
            accuracy = nn.accuracy(model(self.X_val), self.y_val) if len(smoothed) == len(lrs) else float("nan")
        return np.array(smoothed), accuracy

    def draw(self, schedule: str | None = None, **values):
        """Compute the schedule with these slider values, train, and redraw; returns the figure."""
        schedule = schedule or self.schedule
        self.message = None
        lrs = losses = None
        try:
            lrs = self.learning_rates(schedule, values)
            losses, accuracy = self.train(lrs)
        except Exception as exc:  # a stub, or a bug in the student's code: say so where the curves would be
            self.message, self._titles = _failure(exc)
        if self.message is None:
            peak = float(np.max(np.abs(lrs))) or 1.0
            self.lr_line.set_data(np.arange(len(lrs)), lrs / peak)
            self.loss_line.set_data(np.arange(1, len(losses) + 1), np.clip(losses, 1e-2, 10))
            result = (f"diverged after {len(losses)} steps" if len(losses) < len(lrs) else
                      f"loss {losses[-1]:.3f}, validation accuracy {accuracy:.3f}")
            self._titles = (f"{schedule}, peak lr {_shortest(float(f'{peak:.3g}'))}", result)
        else:
            self.lr_line.set_data([], [])
            self.loss_line.set_data([], [])
        return _blit(self, (self.lr_line, self.loss_line))

    def png(self, schedule: str | None = None, **values) -> bytes:
        """The figure for this schedule and these slider values, as PNG bytes."""
        self.draw(schedule, **values)
        return _png(self.canvas)

    def sliders(self, schedule: str) -> dict[str, tuple]:
        """The sliders of a schedule: ``{name: (low, high, value)}``."""
        return SCHEDULES[schedule][1]

    @staticmethod
    def positions(bounds: tuple) -> list:
        """The positions of one slider (integers for integer bounds)."""
        low, high, value = bounds
        if all(isinstance(v, int) for v in bounds):
            return _int_values(low, high, value)
        return slider_values(low, high, value)

    def show(self):
        """Display the schedule menu, its sliders and, under them, the figure; returns the box of widgets."""
        import ipywidgets as widgets
        from IPython.display import display

        menu = widgets.Dropdown(options=list(SCHEDULES), value=self.schedule, description="schedule",
                                style={"description_width": "80px"})
        controls: dict[str, widgets.SelectionSlider] = {}
        slider_box = widgets.VBox()
        status = widgets.HTML()
        box = widgets.VBox([menu, slider_box, status])
        display(box)
        picture = _Picture(status)

        def redraw(change=None):
            values = {name: control.value for name, control in controls.items()}
            png = self.png(menu.value, **values)
            picture.show(png, f"<schedule explorer: {self.message or menu.value}>", self.message)

        def build(change=None):
            controls.clear()
            for name, bounds in self.sliders(menu.value).items():
                controls[name] = _slider(name, self.positions(bounds), bounds[2])
                controls[name].observe(redraw, names="value")
            slider_box.children = list(controls.values())
            if change is not None:
                redraw()

        menu.observe(build, names="value")
        build()
        redraw()
        return box


# --------------------------------------------------------------------------------------------------------------
# Unit 07: a network with and without batch normalization, retrained at each move.

#: The sliders of :class:`BatchNormExplorer`: ``{name: (low, high, value)}``. ``init_scale`` is the standard
#: deviation of the initial weights, ``lr`` plain SGD's learning rate; ``batch_size`` takes powers of two.
BATCHNORM_SLIDERS = {"init_scale": (1e-3, 1.0, 0.2), "lr": (1e-2, 10.0, 0.3), "batch_size": (2, 128, 32)}

#: The choices of the explorer's menu: whether a BatchNorm1d sits between each Linear layer and its ReLU.
BATCHNORM_CHOICES = {"with BatchNorm1d": True, "without": False}


class BatchNormExplorer:
    """Train a deep network with and without *your* batch normalization; see the training curve and what
    happens to the activations, for an initialization scale, a learning rate and a batch size of your choice.

    The network is ``64 - 48 - 48 - 48 - 48 - 10``: four hidden layers, each ``Linear``, then (with batch
    normalization) ``nn.BatchNorm1d``, whose forward and backward are your ``batchnorm_forward`` and
    ``batchnorm_backward``, then ``ReLU``. Its weights are drawn from a normal distribution with standard deviation
    ``init_scale`` and its biases are zero. Every redraw trains a fresh network for ``steps`` mini-batches of the
    first 1024 training digits (a multiple of every batch size, so that no batch has a single example) with plain
    SGD at the rate ``lr``; the weights and the order of the batches are the same at every redraw (for one
    ``seed``), so what changes is the sliders' doing.

    Left: the training loss (an exponential moving average of the batch losses) and, in the title, the validation
    accuracy at the end, in eval mode. Right: the standard deviation of each hidden layer's ReLU input over the
    validation images, at initialization (dashed) and after training (solid): with batch normalization it stays
    near 1 whatever the scale; without, it shrinks or grows layer after layer. While a function is a stub, the
    figure and the line under the controls say what to implement.

    Args:
        batchnorm: the menu's first choice, a key of :data:`BATCHNORM_CHOICES`.
        steps: how many mini-batches to train for.
        width: the width of the hidden layers.
        depth: the number of hidden layers.
        seed: the seed of the data split, of the weights and of the batches.
    """

    def __init__(self, batchnorm: str = "with BatchNorm1d", *, steps: int = 150, width: int = 48, depth: int = 4,
                 seed: int = 0):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullLocator

        if batchnorm not in BATCHNORM_CHOICES:
            raise ValueError(f"batchnorm must be one of {', '.join(map(repr, BATCHNORM_CHOICES))}, got {batchnorm!r}")
        from . import nn

        self.batchnorm, self.steps, self.width, self.depth, self.seed = batchnorm, steps, width, depth, seed
        split = nn.load_digits(seed=seed)
        self.X, self.y = split.X_train[:1024], split.y_train[:1024]
        self.X_val, self.y_val = split.X_val, split.y_val
        self.message: str | None = None
        self.fig = Figure(figsize=(10, 3.8), dpi=80)
        self.canvas = FigureCanvasAgg(self.fig)
        self.left, self.right = self.fig.subplots(1, 2)
        self.left.set(xlim=(0, steps), ylim=(1e-2, 10), yscale="log", xlabel="step (mini-batch)",
                      ylabel="training loss (moving average)")
        self.right.set(xlim=(0.8, depth + 0.2), ylim=(1e-8, 1e4), yscale="log", xticks=range(1, depth + 1),
                       xlabel="hidden layer", ylabel="std of the ReLU input")
        for ax in (self.left, self.right):
            ax.yaxis.set_minor_locator(NullLocator())
        self.right.axhline(1.0, color="lightgray", linewidth=0.8)
        (self.loss_line,) = self.left.plot([], [], color="crimson", animated=True)
        (self.init_line,) = self.right.plot([], [], "o--", color="gray", markersize=4, animated=True,
                                            label="at initialization")
        (self.end_line,) = self.right.plot([], [], "o-", color="crimson", markersize=4, animated=True,
                                           label="after training")
        self.right.legend(handles=[self.init_line, self.end_line], loc="upper left", fontsize=8)
        for ax in (self.left, self.right):  # one short line each: text is the slowest thing to draw
            ax.set_title("title", y=1.0)
            ax.title.set_animated(True)
        self.fig.tight_layout()
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def network(self, batchnorm: bool, init_scale: float):
        """A fresh network: Linear (weights N(0, init_scale^2), zero biases), [BatchNorm1d], ReLU, ..., Linear."""
        from . import nn

        rng = np.random.default_rng(self.seed)
        sizes = [self.X.shape[1]] + [self.width] * self.depth + [10]
        layers = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            linear = nn.Linear(n_in, n_out, rng=rng)
            linear.weight[...] = init_scale * rng.standard_normal(linear.weight.shape)
            linear.bias[...] = 0.0
            layers.append(linear)
            if i < self.depth:
                layers += [nn.BatchNorm1d(n_out)] if batchnorm else []
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def relu_inputs_std(self, model) -> np.ndarray:
        """The standard deviation of each hidden layer's ReLU input over the validation images, in eval mode."""
        from . import nn

        model.eval()
        found, h = [], self.X_val
        with np.errstate(all="ignore"):
            for layer in model:
                if isinstance(layer, nn.ReLU):
                    found.append(float(np.std(h)))
                h = layer(h)
        model.train()
        return np.array(found)

    def train(self, batchnorm: bool, init_scale: float, lr: float, batch_size: int):
        """Train a fresh network: (smoothed training loss per step, validation accuracy, ReLU-input stds at
        initialization, after training)."""
        from . import nn, optim

        model = self.network(batchnorm, init_scale)
        before = self.relu_inputs_std(model)
        opt = optim.SGD(model.parameters(), lr=lr)
        step = nn.training_steps(model, opt, self.X, self.y, batch_size=int(batch_size),
                                 rng=np.random.default_rng(self.seed + 1))
        smoothed, average = [], 0.0
        with np.errstate(all="ignore"):
            for t in range(1, self.steps + 1):
                loss = step(lr)
                if not np.isfinite(loss):
                    break
                average = 0.9 * average + 0.1 * loss
                smoothed.append(average / (1 - 0.9**t))
            finished = len(smoothed) == self.steps
            model.eval()
            accuracy = nn.accuracy(model(self.X_val), self.y_val) if finished else float("nan")
        after = self.relu_inputs_std(model) if finished else np.full(self.depth, np.nan)
        return np.array(smoothed), accuracy, before, after

    def draw(self, batchnorm: str | None = None, **values):
        """Train with these slider values (``init_scale``, ``lr``, ``batch_size``) and redraw; returns the
        figure."""
        batchnorm = batchnorm or self.batchnorm
        values = {name: bounds[2] for name, bounds in BATCHNORM_SLIDERS.items()} | values
        self.message = None
        try:
            losses, accuracy, before, after = self.train(BATCHNORM_CHOICES[batchnorm], float(values["init_scale"]),
                                                         float(values["lr"]), int(values["batch_size"]))
        except Exception as exc:  # a stub, or a bug in the student's code: say so where the curves would be
            self.message, self._titles = _failure(exc, "optimlab/batchnorm.py")
        if self.message is None:
            layers = np.arange(1, self.depth + 1)
            self.loss_line.set_data(np.arange(1, len(losses) + 1), np.clip(losses, 1e-2, 10))
            self.init_line.set_data(layers, np.clip(before, 1e-8, 1e4))
            self.end_line.set_data(layers, np.clip(after, 1e-8, 1e4))
            result = (f"diverged after {len(losses)} steps" if len(losses) < self.steps else
                      f"loss {losses[-1]:.3g}, validation accuracy {accuracy:.3f}")
            shown = (f"{batchnorm}: init scale {_shortest(float(values['init_scale']))}, "
                     f"lr {_shortest(float(values['lr']))}, batch {int(values['batch_size'])}")
            self._titles = (result, shown)
        else:
            for line in (self.loss_line, self.init_line, self.end_line):
                line.set_data([], [])
        return _blit(self, (self.loss_line, self.init_line, self.end_line))

    def png(self, batchnorm: str | None = None, **values) -> bytes:
        """The figure for this choice and these slider values, as PNG bytes."""
        self.draw(batchnorm, **values)
        return _png(self.canvas)

    @staticmethod
    def positions(name: str) -> list:
        """The positions of one slider: powers of two for the batch size, :func:`slider_values` otherwise."""
        low, high, value = BATCHNORM_SLIDERS[name]
        if name == "batch_size":
            return [2**k for k in range(int(np.log2(low)), int(np.log2(high)) + 1)]
        return slider_values(low, high, value)

    def show(self):
        """Display the menu, the sliders, a status line and, under them, the figure; returns the box of widgets.

        A move retrains the network (about a second): the status line says so while it runs."""
        import ipywidgets as widgets

        menu = widgets.Dropdown(options=list(BATCHNORM_CHOICES), value=self.batchnorm, description="network",
                                style={"description_width": "80px"})
        controls = {name: _slider(name, self.positions(name), bounds[2])
                    for name, bounds in BATCHNORM_SLIDERS.items()}

        def render(values):
            png = self.png(menu.value, **values)
            return png, f"<batch-norm explorer: {self.message or menu.value}>", self.message

        return _live(controls, render, menu=menu, busy=TRAINING)


def _with_zero(low: float, high: float, value: float) -> list[float]:
    """Log-spaced slider positions over ``[low, high]``, with 0 (the regularizer off) first."""
    return [0.0, *slider_values(low, high, value if value > 0 else low)]


class RegularizationExplorer:
    """Train a network on few digits with *your* regularizers; see the gap between training and validation.

    Every redraw trains a 64-128-10 network from the same initial weights, on the first ``examples`` digits of
    the training set, for ``epochs`` epochs of mini-batches of 32 (SGD with momentum 0.9: your
    ``momentum_update``; the batches come from your ``minibatches``). The L2 penalty enters through your
    ``regularization.penalty_grads`` (the biases are not decayed), dropout through ``nn.Dropout``, which calls
    your ``dropout_mask``, ``dropout_forward`` and ``dropout_backward``; with its slider at 0, each is off (and your
    function is not called).

    Left: the training and the validation loss after each epoch (the training loss measured in eval mode, without
    dropout, so the two are comparable); the title gives the best validation loss, its epoch (where early stopping
    would stop) and the validation accuracy there. Right: a histogram of the magnitudes of the first layer's
    weights; its title gives their norm. While a function is a stub, the figure and the line under the controls
    say what to implement.

    Args:
        epochs: how many epochs each redraw trains for.
        lr: SGD's learning rate.
        seed: the seed of the weights, of the split, of the batches and of the dropout masks.
    """

    SLIDERS = {"weight_decay": (1e-4, 0.1, 0.0), "dropout": (0.0, 0.8, 0.0), "examples": (50, 500, 150)}

    def __init__(self, *, epochs: int = 60, lr: float = 0.1, seed: int = 0):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullLocator

        from . import nn

        self.epochs, self.lr, self.seed = epochs, lr, seed
        split = nn.load_digits(seed=seed)
        self.X, self.y, self.X_val, self.y_val = split.X_train, split.y_train, split.X_val, split.y_val
        self.message: str | None = None
        self.fig = Figure(figsize=(10, 3.8), dpi=80)
        self.canvas = FigureCanvasAgg(self.fig)
        self.left, self.right = self.fig.subplots(1, 2)
        self.left.set(xlim=(0, epochs), ylim=(1e-3, 3), yscale="log", xlabel="epoch", ylabel="loss")
        self.left.yaxis.set_minor_locator(NullLocator())
        self.bins = np.geomspace(1e-4, 1.0, 41)
        self.right.set(xlim=(1e-4, 1.0), ylim=(0, 0.2), xscale="log", xlabel="|weight| of the first layer",
                       ylabel="fraction of the weights")
        self.right.xaxis.set_minor_locator(NullLocator())
        (self.train_line,) = self.left.plot([], [], color="gray", linestyle="--", label="training",
                                            animated=True)
        (self.val_line,) = self.left.plot([], [], color="crimson", label="validation", animated=True)
        (self.best_point,) = self.left.plot([], [], "o", color="crimson", animated=True)
        (self.hist_line,) = self.right.plot([], [], color="crimson", drawstyle="steps-post", animated=True)
        self.left.legend(loc="lower left")
        for ax in (self.left, self.right):  # one short line each: text is the slowest thing to draw
            ax.set_title("title", y=1.0)
            ax.title.set_animated(True)
        self.fig.tight_layout()
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def train(self, weight_decay: float, dropout: float, examples: int) -> dict:
        """Train once: the per-epoch training and validation losses and the first layer's weights."""
        from . import data, nn, optim, regularization

        rng = np.random.default_rng(self.seed)
        model = nn.mlp([self.X.shape[1], 128, 10], rng=rng, dropout=dropout)
        opt = optim.SGD(model.parameters(), lr=self.lr, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        X, y = self.X[:examples], self.y[:examples]
        train, val, accuracy = [], [], []
        with np.errstate(all="ignore"):
            for _ in range(self.epochs):
                model.train()
                for batch in data.minibatches(len(X), 32, rng=rng):
                    loss_fn(model(X[batch]), y[batch])
                    model.backward(loss_fn.backward())
                    grads = model.grads()
                    if weight_decay:
                        grads = regularization.penalty_grads(grads, model.parameters(), l2=weight_decay)
                    opt.step(grads)
                model.eval()
                train.append(loss_fn(model(X), y))
                logits = model(self.X_val)
                val.append(loss_fn(logits, self.y_val))
                accuracy.append(nn.accuracy(logits, self.y_val))
                if not np.isfinite(val[-1]):
                    break
        return {"train": np.array(train), "val": np.array(val), "accuracy": np.array(accuracy),
                "weights": model[0].weight.copy()}

    def draw(self, weight_decay: float = 0.0, dropout: float = 0.0, examples: int = 150):
        """Train with these settings and redraw; returns the figure."""
        self.message = None
        try:
            run = self.train(weight_decay, dropout, examples)
        except Exception as exc:  # a stub, or a bug in the student's code: say so where the curves would be
            self.message, self._titles = _failure(exc, "optimlab/regularization.py")
        if self.message is None:
            epochs = np.arange(1, len(run["val"]) + 1)
            self.train_line.set_data(epochs, np.clip(run["train"], 1e-3, 3))
            self.val_line.set_data(epochs, np.clip(run["val"], 1e-3, 3))
            best = int(np.nanargmin(run["val"]))
            self.best_point.set_data([best + 1], [np.clip(run["val"][best], 1e-3, 3)])
            magnitudes = np.abs(run["weights"]).ravel()
            counts, _ = np.histogram(np.clip(magnitudes, 1e-4, 1.0), bins=self.bins)
            self.hist_line.set_data(self.bins, np.append(counts, counts[-1]) / magnitudes.size)
            self._titles = (f"best validation loss {run['val'][best]:.3f} at epoch {best + 1} "
                            f"(accuracy {run['accuracy'][best]:.3f})",
                            f"|W| = {np.linalg.norm(run['weights']):.1f}")
        else:
            for line in (self.train_line, self.val_line, self.best_point, self.hist_line):
                line.set_data([], [])
        return _blit(self, (self.train_line, self.val_line, self.best_point, self.hist_line))

    def png(self, **values) -> bytes:
        """The figure for these slider values, as PNG bytes."""
        self.draw(**values)
        return _png(self.canvas)

    def show(self):
        """Display the sliders, a status line and, under them, the figure; returns the box of widgets. A move
        retrains the network: the status line says so while it runs."""
        low, high, value = self.SLIDERS["weight_decay"]
        controls = {"weight_decay": _slider("weight_decay", _with_zero(low, high, value), value),
                    "dropout": _slider("dropout", slider_values(*self.SLIDERS["dropout"]), 0.0),
                    "examples": _slider("examples", _int_values(*self.SLIDERS["examples"]),
                                        self.SLIDERS["examples"][2])}

        def render(values):
            png = self.png(**values)
            return png, f"<regularization explorer: {self.message or values}>", self.message

        return _live(controls, render, busy=TRAINING)


#: The fine-tuning explorer's menu: what the network starts from and which of its parameters train. Each entry
#: is (start from the pretrained body?, the strategy of ``finetune_optimizer``).
FINETUNE_CHOICES = {"from scratch": (False, "full"), "linear probe": (True, "probe"),
                    "full fine-tuning": (True, "full"), "discriminative": (True, "discriminative")}

#: The fine-tuning explorer's sliders: {name: (low, high, start)}.
FINETUNE_SLIDERS = {"per_class": (1, 10, 5), "lr": (1e-4, 0.1, 3e-3)}


class FineTuningExplorer:
    """Fine-tune the pretrained network on a few labelled digits with *your* ``replace_head`` and
    ``finetune_optimizer``; see how fast it learns, against a network trained from scratch.

    Every redraw draws ``per_class`` training images of each digit (``finetune.few_shot``; the same images for a
    given ``per_class``), builds the network the menu asks for and trains it with Adam at the rate ``lr``, full
    batch, for ``epochs`` steps:

    - "from scratch": ``finetune.from_scratch(10)``, fresh weights, every parameter trained (your
      ``finetune_optimizer`` with ``strategy="full"``);
    - "linear probe", "full fine-tuning", "discriminative": your ``replace_head`` on the pretrained network (a
      new head for the 10 digits), then your ``finetune_optimizer`` with ``strategy="probe"``, ``"full"`` or
      ``"discriminative"`` (the rates divided by 2.6 per layer below the head).

    The same training from scratch (the same images and rate) is drawn beside it for comparison.

    Left: the validation accuracy after each step (the 359 validation digits), the chosen network in red, from
    scratch in grey, and the pretrained network's own zero-shot accuracy (its old head, no training) dotted.
    Right: the accuracy on each digit at the end; the title says how many parameters trained. While a function
    is a stub, the figure and the line under the controls say what to implement.

    Args:
        strategy: the menu's first choice, a key of :data:`FINETUNE_CHOICES`.
        epochs: how many full-batch steps each redraw trains for.
        seed: the seed of the examples drawn, of the new weights and of the data split.
    """

    def __init__(self, strategy: str = "full fine-tuning", *, epochs: int = 30, seed: int = 0):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import NullLocator

        if strategy not in FINETUNE_CHOICES:
            raise ValueError(f"strategy must be one of {', '.join(map(repr, FINETUNE_CHOICES))}, got {strategy!r}")
        from . import finetune, nn

        self.strategy, self.epochs, self.seed = strategy, epochs, seed
        split = nn.load_digits(seed=seed)
        self.X, self.y, self.X_val, self.y_val = split.X_train, split.y_train, split.X_val, split.y_val
        self.pretrained = finetune.load_pretrained()
        self.pretrained.eval()
        self.zero_shot = nn.accuracy(self.pretrained(self.X_val), self.y_val)
        self.message: str | None = None
        self.fig = Figure(figsize=(10, 3.8), dpi=80)
        self.canvas = FigureCanvasAgg(self.fig)
        self.left, self.right = self.fig.subplots(1, 2)
        self.left.set(xlim=(0, epochs), ylim=(0, 1), xlabel="step (full batch)", ylabel="validation accuracy")
        self.right.set(xlim=(-0.6, 9.6), ylim=(0, 1.05), xticks=range(10), xlabel="digit",
                       ylabel="validation accuracy at the end")
        for ax in (self.left, self.right):
            ax.yaxis.set_minor_locator(NullLocator())
        self.left.axhline(self.zero_shot, color="gray", linestyle=":", linewidth=1,
                          label=f"pretrained, zero-shot ({self.zero_shot:.2f})")
        (self.scratch_line,) = self.left.plot([], [], color="gray", linestyle="--", label="from scratch",
                                              animated=True)
        (self.chosen_line,) = self.left.plot([], [], color="crimson", label="the network of the menu", animated=True)
        self.left.legend(loc="lower right", fontsize=8)
        self.bars = list(self.right.bar(range(10), np.zeros(10), color="crimson", width=0.7))
        for bar in self.bars:
            bar.set_animated(True)
        for ax in (self.left, self.right):  # one short line each: text is the slowest thing to draw
            ax.set_title("title", y=1.0)
            ax.title.set_animated(True)
        self.fig.tight_layout()
        self.canvas.draw()
        self._background = self.canvas.copy_from_bbox(self.fig.bbox)

    def examples(self, per_class: int) -> np.ndarray:
        """The indices of the ``per_class`` training images of each digit that every redraw trains on."""
        from . import finetune

        return finetune.few_shot(self.y, int(per_class), np.random.default_rng(self.seed))

    def train(self, strategy: str, per_class: int, lr: float) -> dict:
        """Build the network for ``strategy`` (a key of :data:`FINETUNE_CHOICES`) and train it on ``per_class``
        images of each digit: the validation accuracy after each step, the per-digit accuracy at the end, and
        how many of its parameters trained."""
        from . import finetune, nn

        pretrained, how = FINETUNE_CHOICES[strategy]
        rng = np.random.default_rng(self.seed + 1)
        network = (finetune.replace_head(self.pretrained, 10, rng=rng) if pretrained
                   else finetune.from_scratch(10, rng=rng))
        trainers = finetune.finetune_optimizer(network, strategy=how, lr=float(lr))
        trained = sum(array.size for opt in trainers for array in opt.params.values())
        total = sum(array.size for array in network.parameters().values())
        chosen = self.examples(per_class)
        history = nn.fit(network, finetune.Optimizers(trainers), self.X[chosen], self.y[chosen], epochs=self.epochs,
                         batch_size=len(chosen), rng=rng, validation=(self.X_val, self.y_val), progress=False)
        network.eval()
        predicted = network(self.X_val).argmax(axis=1)
        per_digit = np.array([np.mean(predicted[self.y_val == d] == d) for d in range(10)])
        accuracy = np.full(self.epochs, np.nan)
        accuracy[:len(history.val_acc)] = history.val_acc
        return {"accuracy": accuracy, "per_digit": per_digit, "trained": trained, "total": total,
                "diverged": history.diverged}

    def draw(self, strategy: str | None = None, **values):
        """Train with this menu choice and these slider values (``per_class``, ``lr``) and redraw; returns the
        figure."""
        strategy = strategy or self.strategy
        values = {name: bounds[2] for name, bounds in FINETUNE_SLIDERS.items()} | values
        per_class, lr = int(values["per_class"]), float(values["lr"])
        self.message = None
        try:
            run = self.train(strategy, per_class, lr)
            baseline = run if strategy == "from scratch" else self.train("from scratch", per_class, lr)
        except Exception as exc:  # a stub, or a bug in the student's code: say so where the curves would be
            self.message, self._titles = _failure(exc, "optimlab/finetune.py")
        steps = np.arange(1, self.epochs + 1)
        if self.message is None:
            self.chosen_line.set_data(steps, run["accuracy"])
            if strategy == "from scratch":  # the red curve is the one from scratch
                self.scratch_line.set_data([], [])
            else:
                self.scratch_line.set_data(steps, baseline["accuracy"])
            for bar, height in zip(self.bars, np.nan_to_num(run["per_digit"])):
                bar.set_height(height)
            final, scratch = run["accuracy"][-1], baseline["accuracy"][-1]
            result = ("diverged" if run["diverged"] else f"{strategy}: {final:.3f}" + (
                "" if strategy == "from scratch" else f" (from scratch {scratch:.3f})"))
            self._titles = (f"{per_class} per digit, lr {_shortest(lr)}: {result}",
                            f"{run['trained']} of {run['total']} parameters trained")
        else:
            self.chosen_line.set_data([], [])
            self.scratch_line.set_data([], [])
            for bar in self.bars:
                bar.set_height(0.0)
        return _blit(self, (self.scratch_line, self.chosen_line, *self.bars))

    def png(self, strategy: str | None = None, **values) -> bytes:
        """The figure for this menu choice and these slider values, as PNG bytes."""
        self.draw(strategy, **values)
        return _png(self.canvas)

    @staticmethod
    def positions(name: str) -> list:
        """The positions of one slider: every whole number of examples, :func:`slider_values` for the rate."""
        low, high, value = FINETUNE_SLIDERS[name]
        if name == "per_class":
            return _int_values(low, high, value)
        return slider_values(low, high, value)

    def show(self):
        """Display the menu, the sliders, a status line and, under them, the figure; returns the box of widgets.

        A move retrains the network (and the one from scratch beside it): the status line says so while it
        runs."""
        import ipywidgets as widgets

        menu = widgets.Dropdown(options=list(FINETUNE_CHOICES), value=self.strategy, description="network",
                                style={"description_width": "80px"})
        controls = {name: _slider(name, self.positions(name), bounds[2])
                    for name, bounds in FINETUNE_SLIDERS.items()}

        def render(values):
            png = self.png(menu.value, **values)
            return png, f"<fine-tuning explorer: {self.message or menu.value}>", self.message

        return _live(controls, render, menu=menu, busy=TRAINING)


# --------------------------------------------------------------------------------------------------------------
# Unit 09: the gradient of a tanh RNN through time, and what clipping does to the parameters' gradient.

#: The recurrent explorer's menu: how the parameters' gradient is clipped before a step (sections 3 and 4).
RECURRENT_CHOICES = ("none", "by norm", "by value")

#: The recurrent explorer's sliders: ``{name: (low, high, start)}``. ``scale`` is the spectral radius of the
#: recurrent weight (``weight_hh = scale * Q``, Q orthogonal), ``T`` the length of the sequence, ``threshold``
#: clip_grad_norm's ``max_norm`` or clip_grad_value's ``clip_value``.
RECURRENT_SLIDERS = {"scale": (0.5, 2.0, 1.0), "T": (2, 200, 50), "threshold": (1e-3, 1e3, 1.0)}


class RecurrentExplorer:
    r"""The gradient of a tanh RNN through time, from *your* ``rnn_backward``, and what *your* ``clip_grad_norm``
    and ``clip_grad_value`` do to the parameters' gradient, for a recurrent weight of any scale.

    The network is section 2's: a tanh RNN with 4 inputs and 32 hidden units, torch's initialization
    (:func:`optimlab.rnn.init_rnn`) except for the recurrent weight, ``weight_hh = scale * Q`` with ``Q`` a fixed
    random orthogonal matrix, so that every singular value of ``weight_hh`` is ``scale``. One sequence of ``T``
    inputs drawn from :math:`N(0, 1)` (the first ``T`` of 200 fixed ones), from :math:`h_{-1} = 0`, and the loss
    :math:`L = u \cdot h_{T-1}` for a fixed random unit vector :math:`u`: it reads only the last hidden state.

    Left: :math:`\lVert \partial L / \partial h_t \rVert` for every step :math:`t`, on a log scale, in red, and
    :math:`\text{scale}^{\,T-1-t}` dashed: the exact norm for a linear RNN with the same ``weight_hh`` (no tanh),
    and a bound for the tanh RNN, whose derivative :math:`1 - h_t^2 \le 1` can only shrink it. Each
    :math:`\partial L / \partial h_t` is what your ``rnn_backward`` would return as ``dh0`` for the rest of the
    sequence, ``x[t+1:]`` from ``h0 = h[t]``; :meth:`gradients` gets all of them from one more call of your
    function. The x-axis spans 10, 25, 50, 100 or 200 steps, the y-axes whole decades: each new range is drawn
    once (a few tenths of a second), and a move within known ranges redraws only the lines and the bars.

    Right: the norms of the four parameters' gradients (your ``rnn_backward`` on the whole sequence) and their
    global norm, before clipping (grey) and after (red), clipped as the menu says at ``threshold``; the title
    gives the angle between the gradient before and after. While a function is a stub, the figure and the line
    under the controls say what to implement.

    Args:
        clipping: the menu's first choice, one of :data:`RECURRENT_CHOICES`.
        hidden: the number of hidden units. inputs: the size of each input.
        seed: the seed of the weights, of ``Q``, of ``u`` and of the inputs.
    """

    NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def __init__(self, clipping: str = "by norm", *, hidden: int = 32, inputs: int = 4, seed: int = 0):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        if clipping not in RECURRENT_CHOICES:
            raise ValueError(f"clipping must be one of {', '.join(map(repr, RECURRENT_CHOICES))}, got {clipping!r}")
        from . import rnn

        self.clipping, self.hidden, self.inputs, self.seed = clipping, hidden, inputs, seed
        rng = np.random.default_rng(seed)
        self.params = rnn.init_rnn(inputs, hidden, rng=rng)
        self.Q = np.linalg.qr(rng.standard_normal((hidden, hidden)))[0]
        u = rng.standard_normal(hidden)
        self.u = u / np.linalg.norm(u)
        self.x = rng.standard_normal((RECURRENT_SLIDERS["T"][1], 1, inputs))
        self.message: str | None = None
        self.fig = Figure(figsize=(10, 3.8), dpi=80)
        self.canvas = FigureCanvasAgg(self.fig)
        self.left, self.right = self.fig.subplots(1, 2)
        self.left.set(yscale="log", xlabel="step t (the loss reads the last one)", ylabel="|dL/dh_t|")
        self.right.set(yscale="log", xlim=(-0.6, 4.6), xticks=range(5), ylabel="gradient norm")
        self.right.set_xticklabels([*self.NAMES, "global"], fontsize=8)
        (self.bound_line,) = self.left.plot([], [], color="gray", linestyle="--", linewidth=1, animated=True,
                                            label="scale^(T-1-t): linear RNN")
        (self.norm_line,) = self.left.plot([], [], color="crimson", animated=True, label="tanh RNN (yours)")
        self.left.legend(handles=[self.norm_line, self.bound_line], loc="upper left", fontsize=8)
        self.before_bars = list(self.right.bar(np.arange(5) - 0.2, np.ones(5), width=0.38, color="lightgray",
                                               label="before clipping"))
        self.after_bars = list(self.right.bar(np.arange(5) + 0.2, np.ones(5), width=0.38, color="crimson",
                                              label="after"))
        self.right.legend([self.before_bars[0], self.after_bars[0]], ["before clipping", "after"], loc="upper right",
                          fontsize=8)
        for artist in (*self.before_bars, *self.after_bars):
            artist.set_animated(True)
        for ax in (self.left, self.right):  # one short line each: text is the slowest thing to draw
            ax.set_title("title", y=1.0)
            ax.title.set_animated(True)
            ax.yaxis.set_minor_locator(_null_locator())
        self.fig.tight_layout()
        self._backgrounds: dict[tuple, object] = {}

    def weight_hh(self, scale: float) -> np.ndarray:
        """The recurrent weight ``scale * Q``: every singular value (and the spectral radius) is ``scale``."""
        return float(scale) * self.Q

    def gradients(self, scale: float, T: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        r"""Your ``rnn_backward`` for the loss ``u . h[T-1]``: (the norms of dL/dh_t for t = 0, ..., T-1, the
        parameters' gradients ``{"weight_ih", "weight_hh", "bias_ih", "bias_hh"}``).

        ``rnn_backward`` returns dL/dh0 but not dL/dh_t for the steps in between. They come from a second call:
        its ``dx[t]`` is :math:`\delta_t W_{ih}`, so with the identity for ``weight_ih`` (and inputs of size H,
        zeros: the inputs only enter the weights' gradients) it is :math:`\delta_t` itself, the gradient at step
        t's pre-activation, and :math:`\partial L / \partial h_t = \texttt{dh}_t + \delta_{t+1} W_{hh}`.
        """
        from . import rnn

        T = int(T)
        p, W = self.params, self.weight_hh(scale)
        x = self.x[:T]
        h0 = np.zeros((1, self.hidden))
        h = rnn.rnn_forward(x, h0, p["weight_ih"], W, p["bias_ih"], p["bias_hh"])
        dh = np.zeros_like(h)
        dh[-1] = self.u
        _, _, grads = rnn.rnn_backward(dh, x, h0, h, p["weight_ih"], W)
        delta, _, _ = rnn.rnn_backward(dh, np.zeros((T, 1, self.hidden)), h0, h, np.eye(self.hidden), W)
        dL_dh = dh[:, 0].copy()
        dL_dh[:-1] += delta[1:, 0] @ W
        return np.linalg.norm(dL_dh, axis=1), {name: grads[name] for name in self.NAMES}

    def clip(self, clipping: str, grads: dict[str, np.ndarray], threshold: float) -> dict[str, np.ndarray]:
        """The gradients clipped as the menu says, by your ``clip_grad_norm`` or ``clip_grad_value``."""
        from . import rnn

        if clipping == "by norm":
            return rnn.clip_grad_norm(grads, float(threshold))[0]
        if clipping == "by value":
            return rnn.clip_grad_value(grads, float(threshold))
        return grads

    def _paste_background(self, T: int, left: tuple[int, int], right: tuple[int, int]):
        """Make the figure's background (axes, ticks, legends: no lines, bars or titles) the one for these
        limits, drawing it once for each: the x-axis spans the T steps, the y-axes whole decades."""
        width = min(w for w in (10, 25, 50, 100, 200, T) if w >= T)
        key = (width, left, right)
        self.left.set_xlim(-0.5, width - 0.5)  # the lines are drawn in these limits, whether drawn before or not
        self.left.set_ylim(10.0 ** left[0], 10.0 ** left[1])
        self.right.set_ylim(10.0 ** right[0], 10.0 ** right[1])
        if key not in self._backgrounds:
            if len(self._backgrounds) >= 64:
                self._backgrounds.clear()
            self.canvas.draw()
            self._backgrounds[key] = self.canvas.copy_from_bbox(self.fig.bbox)
        self._background = self._backgrounds[key]

    def draw(self, clipping: str | None = None, **values):
        """Compute the gradients with these slider values (``scale``, ``T``, ``threshold``), clip them as the
        menu says, and redraw; returns the figure."""
        clipping = clipping or self.clipping
        values = {name: bounds[2] for name, bounds in RECURRENT_SLIDERS.items()} | values
        scale, T, threshold = float(values["scale"]), int(values["T"]), float(values["threshold"])
        self.message = None
        norms = before = after = None
        with np.errstate(all="ignore"):
            try:  # a stub, or a bug in the student's code: say so where the curves would be
                norms, grads = self.gradients(scale, T)
                before = _norms(grads, self.NAMES)
                clipped = self.clip(clipping, grads, threshold)
                after = _norms(clipped, self.NAMES)
                angle = _angle(grads, clipped, self.NAMES)
            except Exception as exc:
                self.message, failure = _failure(exc, "optimlab/rnn.py")
        shown = f"scale {_shortest(scale)}, T = {T}"
        left = right = (-1, 1)
        if norms is None:
            self.norm_line.set_data([], [])
            self.bound_line.set_data([], [])
            left_title = failure[0]
        else:
            steps = np.arange(T)
            bound = scale ** (T - 1.0 - steps)
            finite = norms[np.isfinite(norms) & (norms > 0)]
            low, high = min(finite.min(initial=1.0), bound.min()), max(finite.max(initial=1.0), bound.max())
            left = _decades(low / 3, 3 * high)  # a margin: a curve at exactly 1 does not sit on the frame
            self.norm_line.set_data(steps, np.clip(np.nan_to_num(norms, nan=0.0), 10.0 ** left[0], 10.0 ** left[1]))
            self.bound_line.set_data(steps, bound)
            left_title = f"{shown}: |dL/dh_0| = {norms[0]:.1e}"
        if after is None:
            for bar in (*self.before_bars, *self.after_bars):
                bar.set_height(1e-300)
            right_title = failure[1] if norms is None else " ".join(failure)
        else:
            heights = np.concatenate([before, after])
            shown_heights = heights[np.isfinite(heights) & (heights > 0)]
            if len(shown_heights):
                right = _decades(shown_heights.min() / 3, 3 * shown_heights.max())
            for bar, height in zip((*self.before_bars, *self.after_bars), heights):
                bar.set_height(height if np.isfinite(height) and height > 0 else 1e-300)
            if clipping == "none":
                right_title = f"not clipped (threshold {_shortest(threshold)} unused): {before[-1]:.2g}"
            else:
                how = "clip_grad_norm" if clipping == "by norm" else "clip_grad_value"
                right_title = (f"{how} at {_shortest(threshold)}: {before[-1]:.2g} -> {after[-1]:.2g}, "
                               f"angle {angle:.1f}°")
        self._titles = (left_title, right_title)
        self._paste_background(T, left, right)
        return _blit(self, (self.bound_line, self.norm_line, *self.before_bars, *self.after_bars))

    def png(self, clipping: str | None = None, **values) -> bytes:
        """The figure for this menu choice and these slider values, as PNG bytes."""
        self.draw(clipping, **values)
        return _png(self.canvas)

    @staticmethod
    def positions(name: str) -> list:
        """The positions of one slider: whole numbers of steps for ``T``, :func:`slider_values` otherwise."""
        low, high, value = RECURRENT_SLIDERS[name]
        if name == "T":
            return _int_values(low, high, value)
        return slider_values(low, high, value)

    def show(self):
        """Display the menu, the sliders, a status line and, under them, the figure; returns the box of widgets."""
        import ipywidgets as widgets

        menu = widgets.Dropdown(options=list(RECURRENT_CHOICES), value=self.clipping, description="clipping",
                                style={"description_width": "80px"})
        controls = {name: _slider(name, self.positions(name), bounds[2])
                    for name, bounds in RECURRENT_SLIDERS.items()}

        def render(values):
            png = self.png(menu.value, **values)
            return png, f"<recurrent explorer: {self.message or menu.value}>", self.message

        return _live(controls, render, menu=menu)


def _norms(grads: dict, names: tuple) -> np.ndarray:
    """The norm of each gradient of ``names``, then their global norm (the norm of the norms)."""
    each = np.array([np.linalg.norm(np.asarray(grads[name], dtype=float)) for name in names])
    return np.append(each, np.linalg.norm(each))


def _angle(grads: dict, clipped: dict, names: tuple) -> float:
    """The angle in degrees between two gradients, each taken as one long vector (NaN if one is zero)."""
    a = np.concatenate([np.asarray(grads[name], dtype=float).ravel() for name in names])
    b = np.concatenate([np.asarray(clipped[name], dtype=float).ravel() for name in names])
    cosine = float(a @ b) / float(np.linalg.norm(a) * np.linalg.norm(b))
    return math.degrees(math.acos(min(1.0, max(-1.0, cosine)))) if math.isfinite(cosine) else math.nan


def _null_locator():
    from matplotlib.ticker import NullLocator

    return NullLocator()


def _decades(low: float, high: float) -> tuple[int, int]:
    """Whole decades around ``[low, high]``, rounded out to multiples of 2 decades, or of 10 for a range wider
    than 20 (fewer backgrounds to draw), at least 2 decades apart."""
    step = 2 if np.log10(max(high, 1e-300)) - np.log10(max(low, 1e-300)) <= 20 else 10
    low_exp = int(np.floor(np.log10(max(low, 1e-300)) / step) * step)
    high_exp = int(np.ceil(np.log10(max(high, 1e-300)) / step) * step)
    return low_exp, max(high_exp, low_exp + step)
