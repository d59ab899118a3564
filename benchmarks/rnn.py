"""One LSTM training step with optimlab.rnn against the same step in torch, on one thread, as a ratio.

    .venv/bin/python benchmarks/rnn.py [--repeat 15] [--T 50] [--hidden 32] [--batch 64]

The step is the one the notebook of unit 09 takes on the adding problem: a sequence regressor
``Sequential(LSTM(2, H), Linear(H, 1))`` over T steps, the mean squared error, the backward pass through time,
the gradients clipped to norm 1 and an Adam step (lr 0.05). Ours runs ``rnn.train_regressor`` for one step, so
the forward and backward are ``lstm_cell_forward`` / ``lstm_cell_backward`` called once per time step by the
toolkit's ``LSTM`` layer (the backward recomputes each step's gates, as the exercise's interface says); torch
runs ``torch.nn.LSTM`` (one fused call over the sequence) and ``clip_grad_norm_``, the same batch, the same
weights. Both in float64 and in float32, timed in turn ``--repeat`` times each (a busy machine slows them
alike); the ratio of the medians (ours / torch) is what to compare between machines. Then the forward and the
backward alone, to show where our time goes, and the seconds that the notebook's whole training takes at this
rate (``STEPS`` steps).

The benchmark fails (exit code 1) if one of our float64 steps disagrees with torch's (the loss, or a gradient
beyond 1e-10 relative): the timing would then be of something else.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy starts its BLAS: one thread, as in the tests
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "solutions"))
from optimlab import nn, optim, rnn  # noqa: E402

LR, CLIP, FORGET_BIAS = 0.05, 1.0, 1.0
STEPS = 300  # about what the LSTM needs on the adding problem at T = 50 with these settings


def ours_model(hidden: int, dtype, seed: int):
    rng = np.random.default_rng(seed)
    return nn.Sequential(rnn.LSTM(2, hidden, rng=rng, forget_bias=FORGET_BIAS, dtype=dtype),
                         nn.Linear(hidden, 1, rng=rng, dtype=dtype))


def torch_model(model, dtype):
    """torch's LSTM and Linear holding our model's weights."""
    lstm, head = torch.nn.LSTM(2, model[0].hidden_size).to(dtype), torch.nn.Linear(model[0].hidden_size, 1).to(dtype)
    with torch.no_grad():
        for name, value in model[0].parameters().items():
            getattr(lstm, name + "_l0").copy_(torch.from_numpy(value))
        head.weight.copy_(torch.from_numpy(model[1].weight))
        head.bias.copy_(torch.from_numpy(model[1].bias))
    return lstm, head


def ours_step(model, opt, batch) -> tuple[float, dict]:
    start = time.perf_counter()
    history = rnn.train_regressor(model, opt, lambda n, r: batch, steps=1, batch_size=len(batch[1]),
                                  rng=np.random.default_rng(0), clip=CLIP, progress=False)
    return time.perf_counter() - start, history


def torch_step(lstm, head, opt, batch) -> tuple[float, float]:
    x, y = (torch.from_numpy(a) for a in batch)
    start = time.perf_counter()
    opt.zero_grad()
    _, (h_n, _) = lstm(x)
    loss = torch.nn.functional.mse_loss(head(h_n[0]), y)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([*lstm.parameters(), *head.parameters()], CLIP)
    opt.step()
    return time.perf_counter() - start, loss.item()


def agreement(T: int, hidden: int, batch_size: int) -> float:
    """The largest relative difference between our gradients and torch's for one float64 step (before Adam)."""
    model = ours_model(hidden, np.float64, 0)
    lstm, head = torch_model(model, torch.float64)
    x, y = rnn.adding_problem(batch_size, T, rng=np.random.default_rng(1))
    loss_fn = rnn.MSELoss()
    loss = loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    _, (h_n, _) = lstm(torch.from_numpy(x))
    loss_t = torch.nn.functional.mse_loss(head(h_n[0]), torch.from_numpy(y))
    loss_t.backward()
    theirs = {f"0.{name}": getattr(lstm, name + "_l0").grad.numpy() for name in model[0].parameters()}
    theirs |= {"1.weight": head.weight.grad.numpy(), "1.bias": head.bias.grad.numpy()}
    worst = abs(loss - loss_t.item()) / abs(loss_t.item())
    for name, g in model.grads().items():
        worst = max(worst, float(np.max(np.abs(g - theirs[name])) / np.max(np.abs(theirs[name]))))
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(1)
    T, hidden, batch_size = args.T, args.hidden, args.batch

    worst = agreement(T, hidden, batch_size)
    print(f"one float64 step against torch: largest relative difference {worst:.1e} (loss and every gradient)")

    runs = {}
    for name, np_dtype, torch_dtype in (("float64", np.float64, torch.float64),
                                        ("float32", np.float32, torch.float32)):
        model = ours_model(hidden, np_dtype, 0)
        lstm, head = torch_model(model, torch_dtype)
        ours_opt = optim.Adam(model.parameters(), lr=LR)
        torch_opt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=LR)
        batch = rnn.adding_problem(batch_size, T, rng=np.random.default_rng(2), dtype=np_dtype)
        runs[name] = (model, ours_opt, lstm, head, torch_opt, batch)
        ours_step(model, ours_opt, batch)          # warm up: first calls pay for imports and allocations
        torch_step(lstm, head, torch_opt, batch)

    times = {(who, name): [] for name in runs for who in ("ours", "torch", "forward", "backward")}
    for _ in range(args.repeat):
        for name, (model, ours_opt, lstm, head, torch_opt, batch) in runs.items():
            times["ours", name].append(ours_step(model, ours_opt, batch)[0])
            times["torch", name].append(torch_step(lstm, head, torch_opt, batch)[0])
            start = time.perf_counter()
            model(batch[0])
            middle = time.perf_counter()
            model.backward(np.ones((batch_size, 1), dtype=batch[0].dtype))
            times["forward", name].append(middle - start)
            times["backward", name].append(time.perf_counter() - middle)

    print(f"one training step: LSTM(2, {hidden}) + Linear({hidden}, 1), T = {T}, batch {batch_size}, MSE, "
          f"clip_grad_norm {CLIP}, Adam lr {LR} (median of {args.repeat}, interleaved; torch on "
          f"{torch.get_num_threads()} thread)")
    print(f"{'dtype':<8} {'ours ms':>8} {'torch ms':>9} {'ours/torch':>11} {'fwd ms':>7} {'bwd ms':>7} "
          f"{'us/cell':>8} {STEPS:>4} steps s")
    for name in runs:
        ours, theirs = statistics.median(times["ours", name]), statistics.median(times["torch", name])
        fwd, bwd = statistics.median(times["forward", name]), statistics.median(times["backward", name])
        print(f"{name:<8} {ours * 1e3:8.1f} {theirs * 1e3:9.2f} {ours / theirs:11.1f} {fwd * 1e3:7.1f} "
              f"{bwd * 1e3:7.1f} {(fwd + bwd) / (2 * T) * 1e6:8.0f} {ours * STEPS:12.1f}")
    return 0 if worst < 1e-10 else 1


if __name__ == "__main__":
    sys.exit(main())
