"""How long one move of a slider takes: rerun 200 steps of an update and redraw the figure, as PNG.

    .venv/bin/python benchmarks/widgets.py

For each explorer of the course, the time of one redraw (best of several) against drawing the same picture the
straightforward way, a fresh figure with fresh contours each time, measured in the same process. The bar: under
100 ms per move.
"""

import io
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "solutions"))
from optimlab import plots, problems  # noqa: E402

STEPS = 200
EXPLORERS = {
    "gd_update": ("gd.gd_update", {"lr": 0.1}, None),
    "momentum_update": ("optim.momentum_update", {"lr": 0.05, "momentum": 0.9}, None),
    "rmsprop_update": ("optim.rmsprop_update", {"lr": 0.05, "alpha": 0.9}, None),
    "adam_update": ("optim.adam_update", {"lr": 0.1, "beta1": 0.9, "beta2": 0.999},
                    lambda v: {"lr": v["lr"], "betas": (v["beta1"], v["beta2"])}),
}


def best(fn, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def fresh_figure(problem, x0, update, hyper):
    """The straightforward redraw: a new figure, new contours, the path, a PNG."""
    module, name = update.split(".")
    points = problems.descend(problem, x0, update=getattr(sys.modules[f"optimlab.{module}"], name), steps=STEPS,
                              **hyper)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=80)
    plots.contours(problem, left)
    plots.path(left, points)
    right.semilogy(problem.loss(points))
    fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
    plt.close(fig)


def main() -> int:
    problem, x0 = problems.Quadratic.with_condition(10), (2.0, -1.0)
    print(f"one slider move: {STEPS} steps and a redraw (best of 7)")
    print(f"{'update':<18} {'explorer ms':>12} {'fresh figure ms':>16} {'ratio':>6}  bar 100 ms")
    worst = 0.0
    for label, (update, values, hyper) in EXPLORERS.items():
        explorer = plots.Explorer(problem, x0, update=update, steps=STEPS, sliders={k: (0, 1, v) for k, v in
                                                                                  values.items()}, hyper=hyper)
        moved = best(lambda: explorer.png(**values))
        kwargs = hyper(values) if hyper else values
        fresh = best(lambda: fresh_figure(problem, x0, update, kwargs))
        worst = max(worst, moved)
        print(f"{label:<18} {moved * 1e3:12.1f} {fresh * 1e3:16.1f} {fresh / moved:6.1f}  "
              f"{'ok' if moved < 0.1 else 'OVER'}")
    return 0 if worst < 0.1 else 1


if __name__ == "__main__":
    sys.exit(main())
