"""Record what ``torch.optim.lr_scheduler`` gives, for notebook 05 to draw beside the students' schedules.

    python -m autograder.torch_records          # needs torch; rewrites solutions/optimlab/torch_schedules.json

torch is not a dependency of the course: the notebook reads these recorded values instead. Each record names a
torch scheduler and its settings, the arguments of the matching function of ``optimlab.schedules`` (a pure
function of the step ``t``, or ``plateau_step`` fed the recorded metrics), and torch's learning rate after
construction and after each ``step()``. ``tests/test_torch_records.py`` checks that the reference reproduces every
record, and, where torch is installed, that torch still gives what is recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

from .paths import SOLUTIONS

RECORDS = SOLUTIONS / "optimlab" / "torch_schedules.json"
BASE_LR = 0.1

#: name: (torch's class and keyword arguments as text, the optimlab function, its arguments, number of steps)
SCHEDULES = {
    "step": ("StepLR(step_size=10, gamma=0.5)", "step_lr", {"base_lr": BASE_LR, "step_size": 10, "gamma": 0.5}, 60),
    "multistep": ("MultiStepLR(milestones=[15, 30, 30, 45], gamma=0.5)", "multistep_lr",
                  {"base_lr": BASE_LR, "milestones": [15, 30, 30, 45], "gamma": 0.5}, 60),
    "exponential": ("ExponentialLR(gamma=0.95)", "exponential_lr", {"base_lr": BASE_LR, "gamma": 0.95}, 60),
    "cosine": ("CosineAnnealingLR(T_max=20, eta_min=0.01)", "cosine_annealing_lr",
               {"base_lr": BASE_LR, "T_max": 20, "eta_min": 0.01}, 60),
    "linear": ("LinearLR(start_factor=0.1, total_iters=10)", "linear_lr",
               {"base_lr": BASE_LR, "start_factor": 0.1, "end_factor": 1.0, "total_iters": 10}, 60),
    "warmup_cosine": ("SequentialLR([LinearLR(start_factor=0.1, total_iters=10), CosineAnnealingLR(T_max=50)], "
                      "milestones=[10])", "warmup_cosine_lr",
                      {"base_lr": BASE_LR, "warmup_iters": 10, "T_max": 50, "start_factor": 0.1, "eta_min": 0.0}, 60),
    "cyclic": ("CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=10, mode='triangular')", "cyclic_lr",
               {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10, "mode": "triangular"}, 60),
    "cyclic2": ("CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=10, mode='triangular2')", "cyclic_lr",
                {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 10, "mode": "triangular2"}, 60),
    "one_cycle": ("OneCycleLR(max_lr=0.1, total_steps=60)", "one_cycle_lr", {"max_lr": 0.1, "total_steps": 60}, 60),
}

#: The metric sequence fed to ReduceLROnPlateau: it improves, stalls, improves a little (less than the
#: threshold), stalls again.
PLATEAU_METRICS = [1.0, 0.8, 0.7, 0.7, 0.71, 0.7, 0.69995, 0.72, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.59, 0.6,
                   0.6, 0.6, 0.6]
PLATEAU = ("ReduceLROnPlateau(mode='min', factor=0.5, patience=2, threshold=1e-4, cooldown=1)",
           {"mode": "min", "factor": 0.5, "patience": 2, "threshold": 1e-4, "threshold_mode": "rel",
            "cooldown": 1, "min_lr": 0.0, "eps": 1e-8})


def _torch_scheduler(opt, name: str):
    """torch's scheduler of the record ``name``, on ``opt``.

    CyclicLR and OneCycleLR get ``cycle_momentum=False``: by default torch also cycles SGD's momentum (notebook 05
    shows that), and these records are of the learning rate alone.
    """
    from torch.optim import lr_scheduler as s

    makers = {
        "step": lambda: s.StepLR(opt, step_size=10, gamma=0.5),
        "multistep": lambda: s.MultiStepLR(opt, milestones=[15, 30, 30, 45], gamma=0.5),
        "exponential": lambda: s.ExponentialLR(opt, gamma=0.95),
        "cosine": lambda: s.CosineAnnealingLR(opt, T_max=20, eta_min=0.01),
        "linear": lambda: s.LinearLR(opt, start_factor=0.1, total_iters=10),
        "warmup_cosine": lambda: s.SequentialLR(
            opt, [s.LinearLR(opt, start_factor=0.1, total_iters=10), s.CosineAnnealingLR(opt, T_max=50)],
            milestones=[10]),
        "cyclic": lambda: s.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=10, mode="triangular",
                                     cycle_momentum=False),
        "cyclic2": lambda: s.CyclicLR(opt, base_lr=0.01, max_lr=0.1, step_size_up=10, mode="triangular2",
                                      cycle_momentum=False),
        "one_cycle": lambda: s.OneCycleLR(opt, max_lr=0.1, total_steps=60, cycle_momentum=False),
    }
    return makers[name]()


def build() -> dict:
    """Every record, from torch (imported here: only this function needs it)."""
    import warnings

    import torch

    records = {}
    for name, (text, function, arguments, steps) in SCHEDULES.items():
        param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.SGD([param], lr=BASE_LR)
        scheduler = _torch_scheduler(opt, name)
        lrs = [scheduler.get_last_lr()[0]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # scheduler.step() without optimizer.step(): nothing is trained here
            for _ in range(steps - 1):
                opt.step()
                scheduler.step()
                lrs.append(scheduler.get_last_lr()[0])
        records[name] = {"torch": text, "function": function, "arguments": arguments, "lr": lrs}
    param = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([param], lr=BASE_LR)
    text, arguments = PLATEAU
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **{k: v for k, v in arguments.items()})
    lrs = []
    for metric in PLATEAU_METRICS:
        opt.step()
        scheduler.step(metric)
        lrs.append(opt.param_groups[0]["lr"])
    records["plateau"] = {"torch": text, "function": "plateau_step", "arguments": arguments,
                          "base_lr": BASE_LR, "metrics": PLATEAU_METRICS, "lr": lrs}
    return {"torch_version": torch.__version__.split("+")[0], "records": records}


def render(data: dict) -> str:
    return json.dumps(data, indent=1) + "\n"


def main() -> int:
    RECORDS.write_text(render(build()), encoding="utf-8")
    print(f"wrote {Path(RECORDS).relative_to(SOLUTIONS.parent)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
