"""How long one move of a slider takes in the kernel: rerun the update and redraw the figure, as PNG bytes.

    .venv/bin/python benchmarks/widgets.py

For each explorer of units 01-04 (its problem, its number of steps, its sliders), the time of one redraw as
:meth:`optimlab.plots.Explorer.png` does it (paste the pixels that never change, draw the lines, titles and loss
axis over them, encode a light PNG) against the baseline measured in the same process: the same figure redrawn in
full and saved with ``savefig``, as the explorer did before. The two are timed move by move, interleaved, so a
busy machine slows both alike; the ratio of the medians is what to compare between machines.

The bar is the browser's: under 150 ms from key press to new picture in JupyterLab, of which the kernel's part is
what this measures (``tests/test_browser.py`` prints the whole latency). The moves walk along the sliders, so
they include the redraws of the loss axis when its decades change. The benchmark fails (exit code 1) when the
explorer is not at least 1.5 times faster than the baseline.

The explorers of units 05 to 07 retrain a network at each move and are timed in sections of their own: unit 05's
against the same 150 ms, units 06's (60 epochs on a few hundred digits, with your penalty and dropout) and 07's (a
deeper network, with or without your BatchNorm1d) against 2 s a move, the bar for a widget that retrains and says
so in its status line while it does. Unit 08's (the fine-tuning explorer: your replace_head and finetune_optimizer, a
network fine-tuned and one from scratch per move) is timed against the same 2 s. Unit 09's (the recurrent explorer: your rnn_backward
twice and your clipping per move, no training) is timed against the same 2 s too, the moves that draw a new range of
its axes included.
"""

import io
import statistics
import sys
import time
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "solutions"))
from optimlab import plots, problems  # noqa: E402

BETAS = lambda v: {"lr": v["lr"], "betas": (v["beta1"], v["beta2"])}  # noqa: E731
# (problem, x0, update, steps, sliders, hyper) as the notebooks make them
EXPLORERS = {
    "01 gd_update": (problems.Quadratic.with_condition(10), (2.0, -1.0), "gd.gd_update", 40,
                     {"lr": (1e-3, 1.0, 0.05)}, None),
    "02 momentum_update": (problems.Quadratic.with_condition(50), (-2.0, 1.5), "optim.momentum_update", 60,
                           {"lr": (1e-3, 0.2, 0.0392), "momentum": (0.0, 0.99, 0.5)}, None),
    "03 rmsprop_update": (problems.Quadratic(A=np.diag([100.0, 1.0])), (1.0, 2.0), "optim.rmsprop_update", 100,
                          {"lr": (1e-3, 1.0, 0.03), "alpha": (0.5, 0.999, 0.99)}, None),
    "04 adam_update": (problems.Rosenbrock(), (-1.2, 1.0), "optim.adam_update", 500,
                       {"lr": (1e-3, 1.0, 0.1), "beta1": (0.0, 0.99, 0.9), "beta2": (0.8, 0.9999, 0.999)}, BETAS),
}
MOVES = 24


def moves(sliders: dict, spacing=None) -> list[dict]:
    """The slider values after each of MOVES key presses: one step right on each slider in turn, from the start
    values, turning back at the end of a slider's range (as a student exploring with the keyboard would)."""
    spacing = spacing or (lambda bounds: plots.slider_values(*bounds))
    positions = {name: spacing(bounds) for name, bounds in sliders.items()}
    index = {name: positions[name].index(value) for name, (_, _, value) in sliders.items()}
    step = dict.fromkeys(sliders, 1)
    values = []
    for k in range(MOVES):
        name = list(sliders)[k % len(sliders)]
        if not 0 <= index[name] + step[name] < len(positions[name]):
            step[name] = -step[name]
        index[name] += step[name]
        values.append({n: positions[n][i] for n, i in index.items()})
    return values


def full_redraw(explorer, values) -> bytes:
    """The baseline: the same run, then the whole figure drawn again and saved with savefig."""
    explorer.draw(**values)
    buffer = io.BytesIO()
    explorer.fig.savefig(buffer, format="png")
    return buffer.getvalue()


def main() -> int:
    print(f"one slider move in the kernel: run and picture (median of {MOVES} moves along the sliders, each move "
          "timed also as a full redraw, interleaved)")
    print(f"{'explorer':<20} {'explorer ms':>12} {'full redraw ms':>15} {'ratio':>6}")
    worst = float("inf")
    for label, (problem, x0, update, steps, sliders, hyper) in EXPLORERS.items():
        explorer = plots.Explorer(problem, x0, update=update, steps=steps, sliders=sliders, hyper=hyper)
        baseline = plots.Explorer(problem, x0, update=update, steps=steps, sliders=sliders, hyper=hyper)
        fast, slow = [], []
        for values in moves(sliders):
            start = time.perf_counter()
            explorer.png(**values)
            fast.append(time.perf_counter() - start)
            start = time.perf_counter()
            full_redraw(baseline, values)
            slow.append(time.perf_counter() - start)
        ratio = statistics.median(slow) / statistics.median(fast)
        worst = min(worst, ratio)
        print(f"{label:<20} {statistics.median(fast) * 1e3:12.1f} {statistics.median(slow) * 1e3:15.1f} {ratio:6.1f}")
    print(f"smallest ratio {worst:.1f} (bar: 1.5)")
    slow_schedules = schedule_explorer()
    slow_regularization = regularization_explorer()
    slow_batchnorm = batchnorm_explorer()
    slow_finetuning = finetuning_explorer()
    slow_recurrent = recurrent_explorer()
    return 0 if worst >= 1.5 and not (slow_schedules or slow_regularization or slow_batchnorm
                                      or slow_finetuning or slow_recurrent) else 1


def schedule_explorer() -> bool:
    """Unit 05's explorer: one move computes the schedule, retrains the small network and redraws. Timed against
    the same move redrawn in full and saved with savefig, interleaved; its training part is timed alone too.
    Returns whether a median move is over the 150 ms bar."""
    print("\nunit 05: the schedule explorer (150 mini-batches retrained per move)")
    print(f"{'schedule':<22} {'move ms':>8} {'training ms':>12} {'full redraw ms':>15} {'ratio':>6}")
    explorer, baseline = plots.ScheduleExplorer(), plots.ScheduleExplorer()
    over = False
    for schedule in plots.SCHEDULES:
        fast, slow, training = [], [], []
        for values in moves(explorer.sliders(schedule), spacing=plots.ScheduleExplorer.positions)[:8]:
            start = time.perf_counter()
            explorer.png(schedule, **values)
            fast.append(time.perf_counter() - start)
            start = time.perf_counter()
            explorer.train(explorer.learning_rates(schedule, values))
            training.append(time.perf_counter() - start)
            start = time.perf_counter()
            baseline.draw(schedule, **values)
            baseline.fig.savefig(io.BytesIO(), format="png")
            slow.append(time.perf_counter() - start)
        move = statistics.median(fast)
        over |= move > 0.150
        print(f"{schedule:<22} {move * 1e3:8.1f} {statistics.median(training) * 1e3:12.1f} "
              f"{statistics.median(slow) * 1e3:15.1f} {statistics.median(slow) / move:6.2f}")
    return over


def regularization_explorer() -> bool:
    """Unit 06's explorer: one move retrains a fresh 64-128-10 network for 60 epochs (your penalty_grads and
    dropout) and redraws, under a status line that says it is training; bar 2 s a move. Timed along the sliders,
    against the same move redrawn in full and saved with savefig, interleaved, and its training part alone. The
    number of training images sets the cost of a move most, so the largest (with dropout and the penalty on) is
    timed too. Returns whether a move, the slowest included, is over 2 s."""
    print("\nunit 06: the regularization explorer (a fresh network retrained for 60 epochs per move; bar 2 s)")
    print(f"{'move ms':>8} {'slowest ms':>11} {'training ms':>12} {'full redraw ms':>15}")
    explorer, baseline = plots.RegularizationExplorer(), plots.RegularizationExplorer()
    sliders = plots.RegularizationExplorer.SLIDERS
    positions = {"weight_decay": plots._with_zero(*sliders["weight_decay"]),
                 "dropout": plots.slider_values(*sliders["dropout"]),
                 "examples": plots._int_values(*sliders["examples"])}
    walk = moves(sliders, spacing={bounds: positions[name] for name, bounds in sliders.items()}.__getitem__)[:9]
    walk.append({"weight_decay": 0.01, "dropout": 0.5, "examples": sliders["examples"][1]})
    fast, slow, training = [], [], []
    for values in walk:
        start = time.perf_counter()
        explorer.png(**values)
        fast.append(time.perf_counter() - start)
        start = time.perf_counter()
        explorer.train(**values)
        training.append(time.perf_counter() - start)
        start = time.perf_counter()
        baseline.draw(**values)
        baseline.fig.savefig(io.BytesIO(), format="png")
        slow.append(time.perf_counter() - start)
    print(f"{statistics.median(fast) * 1e3:8.1f} {max(fast) * 1e3:11.1f} {statistics.median(training) * 1e3:12.1f} "
          f"{statistics.median(slow) * 1e3:15.1f}")
    return max(fast) > 2.0


def _time_menu_walk(explorer, baseline, choice, walk: list[dict], part, width: int) -> bool:
    """Time ``explorer``'s moves along ``walk`` for one choice of its menu, interleaved with ``part(values)`` (the
    move's costly part alone) and with ``baseline`` redrawing the same move in full and saving it with savefig;
    print one row (``width``: the part's column) and return whether a move was over 2 s."""
    fast, slow, parts = [], [], []
    for values in walk:
        start = time.perf_counter()
        explorer.png(choice, **values)
        fast.append(time.perf_counter() - start)
        start = time.perf_counter()
        part(values)
        parts.append(time.perf_counter() - start)
        start = time.perf_counter()
        baseline.draw(choice, **values)
        baseline.fig.savefig(io.BytesIO(), format="png")
        slow.append(time.perf_counter() - start)
    print(f"{choice:<18} {statistics.median(fast) * 1e3:8.1f} {max(fast) * 1e3:11.1f} "
          f"{statistics.median(parts) * 1e3:{width}.1f} {statistics.median(slow) * 1e3:15.1f}")
    return max(fast) > 2.0


def batchnorm_explorer() -> bool:
    """Unit 07's explorer: one move retrains a fresh 4-hidden-layer network (150 mini-batches, with or without
    your BatchNorm1d) and redraws, under a status line that says it is training. The bar for such a widget is 2 s
    a move (issue 10). Timed along the sliders for both choices of the menu, against the same move redrawn in full
    and saved with savefig, interleaved; its training part is timed alone too. The batch size changes the cost of
    a move most (150 batches of 128 images against 150 of 2), so its largest value is timed on its own as well.
    Returns whether a move, the slowest included, is over 2 s."""
    print("\nunit 07: the batch-norm explorer (a fresh network retrained for 150 mini-batches per move; bar 2 s)")
    print(f"{'network':<18} {'move ms':>8} {'slowest ms':>11} {'training ms':>12} {'full redraw ms':>15}")
    explorer, baseline = plots.BatchNormExplorer(), plots.BatchNormExplorer()
    sliders = plots.BATCHNORM_SLIDERS
    spacing = {bounds: plots.BatchNormExplorer.positions(name) for name, bounds in sliders.items()}.__getitem__
    over = False
    for choice, batchnorm in plots.BATCHNORM_CHOICES.items():
        walk = moves(sliders, spacing=spacing)[:9] + [{"init_scale": 0.2, "lr": 0.3, "batch_size": 128}]
        over |= _time_menu_walk(explorer, baseline, choice, walk, lambda values, batchnorm=batchnorm: explorer.train(
            batchnorm, values["init_scale"], values["lr"], values["batch_size"]), 12)
    return over


def finetuning_explorer() -> bool:
    """Unit 08's explorer: one move draws the labelled digits, builds the network with your replace_head and
    finetune_optimizer and trains it (30 full-batch Adam steps), and a network from scratch beside it, then
    redraws, under a status line that says it is training; bar 2 s a move. Timed along the sliders for every choice
    of the menu, against the same move redrawn in full and saved with savefig, interleaved; its training part is
    timed alone too. Ten examples per digit (the largest batch) is timed on its own as well. Returns whether a
    move, the slowest included, is over 2 s."""
    print("\nunit 08: the fine-tuning explorer (the menu's network and one from scratch, 30 steps each, per move; "
          "bar 2 s)")
    print(f"{'network':<18} {'move ms':>8} {'slowest ms':>11} {'training ms':>12} {'full redraw ms':>15}")
    explorer, baseline = plots.FineTuningExplorer(), plots.FineTuningExplorer()
    sliders = plots.FINETUNE_SLIDERS
    spacing = {bounds: plots.FineTuningExplorer.positions(name) for name, bounds in sliders.items()}.__getitem__
    over = False
    for choice in plots.FINETUNE_CHOICES:
        walk = moves(sliders, spacing=spacing)[:7] + [{"per_class": sliders["per_class"][1], "lr": 0.01}]
        over |= _time_menu_walk(explorer, baseline, choice, walk, lambda values, choice=choice: explorer.train(
            choice, values["per_class"], values["lr"]), 12)
    return over


def recurrent_explorer() -> bool:
    """Unit 09's explorer: one move runs your rnn_backward twice on a sequence of T steps (the parameters' gradient,
    and the gradient at every step) and your clip_grad_norm or clip_grad_value, then redraws. A move that reaches a
    new range of the axes (the x-axis's 10, 25, 50, 100 or 200 steps, the y-axes' decades) draws the figure's
    background once; the others redraw only the lines, bars and titles. Timed along the sliders for every choice of
    the menu, against the same move redrawn in full and saved with savefig, interleaved; the gradients alone are
    timed too, and the longest sequence (T = 200) on its own. Returns whether a move, the slowest included, is over
    2 s."""
    print("\nunit 09: the recurrent explorer (your rnn_backward and clipping per move; bar 2 s)")
    print(f"{'clipping':<18} {'move ms':>8} {'slowest ms':>11} {'gradients ms':>13} {'full redraw ms':>15}")
    explorer, baseline = plots.RecurrentExplorer(), plots.RecurrentExplorer()
    sliders = plots.RECURRENT_SLIDERS
    spacing = {bounds: plots.RecurrentExplorer.positions(name) for name, bounds in sliders.items()}.__getitem__
    over = False
    for choice in plots.RECURRENT_CHOICES:
        walk = moves(sliders, spacing=spacing)[:9] + [{"scale": 2.0, "T": sliders["T"][1], "threshold": 1.0}]
        over |= _time_menu_walk(explorer, baseline, choice, walk,
                                lambda values: explorer.gradients(values["scale"], values["T"]), 13)
    return over


if __name__ == "__main__":
    sys.exit(main())
