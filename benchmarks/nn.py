"""One epoch of training with optimlab.nn against the same network in torch, and the time to 96 % on the digits.

    .venv/bin/python benchmarks/nn.py [--repeat 15]

The network is the 64-128-10 MLP of units 05-09 (ReLU), trained with SGD(lr=0.2, momentum=0.9) on the digits'
training split (1079 images) in batches of 32: 34 steps an epoch. One epoch is timed as a student runs it, with
``nn.fit(..., epochs=1)``, and against it the same network in torch (one thread), trained by a plain loop over
the same batches (``zero_grad``, forward, ``cross_entropy``, ``backward``, ``step``), in float64 and in float32.
The four are timed in turn, ``--repeat`` times, so a busy machine slows them alike; the ratio of the medians
(ours / torch) is what to compare between machines.

Then the whole run of the course: ``fit`` for 20 epochs with the validation set evaluated after each one, for
five initializations. It reports the wall time, the test accuracy reached, and the epoch (and the seconds of
training) at which the validation accuracy first reached 0.96. The benchmark fails (exit code 1) when a run
ends below 0.96 test accuracy or takes longer than BUDGET_SECONDS.
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
from optimlab import data, nn, optim  # noqa: E402

SIZES = [64, 128, 10]
SGD = dict(lr=0.2, momentum=0.9)
BATCH_SIZE = 32
EPOCHS = 20
BUDGET_SECONDS = 5.0  # for the 20 epochs, what a notebook cell may take


def ours_epoch(split: nn.Split, dtype, seed: int) -> float:
    model = nn.mlp(SIZES, rng=np.random.default_rng(seed), dtype=dtype)
    opt = optim.SGD(model.parameters(), **SGD)
    X = split.X_train.astype(dtype)
    start = time.perf_counter()
    nn.fit(model, opt, X, split.y_train, epochs=1, batch_size=BATCH_SIZE, rng=np.random.default_rng(seed),
           progress=False)
    return time.perf_counter() - start


def torch_epoch(split: nn.Split, dtype, seed: int) -> float:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128, dtype=dtype), torch.nn.ReLU(),
                                torch.nn.Linear(128, 10, dtype=dtype))
    opt = torch.optim.SGD(model.parameters(), **SGD)
    X, y = torch.tensor(split.X_train, dtype=dtype), torch.tensor(split.y_train)
    start = time.perf_counter()
    for batch in data.minibatches(len(X), BATCH_SIZE, rng=np.random.default_rng(seed)):
        index = torch.from_numpy(batch)
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[index]), y[index])
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def one_epoch(split: nn.Split, repeat: int) -> None:
    batches = -(-len(split.y_train) // BATCH_SIZE)
    runs = {("ours", "float64"): lambda s: ours_epoch(split, np.float64, s),
            ("torch", "float64"): lambda s: torch_epoch(split, torch.float64, s),
            ("ours", "float32"): lambda s: ours_epoch(split, np.float32, s),
            ("torch", "float32"): lambda s: torch_epoch(split, torch.float32, s)}
    for run in runs.values():  # warm up: first calls pay for imports and allocations
        run(0)
    times = {key: [] for key in runs}
    for seed in range(repeat):
        for key, run in runs.items():
            times[key].append(run(seed))
    print(f"one epoch: {len(split.y_train)} images, {batches} batches of {BATCH_SIZE}, SGD{tuple(SGD.values())} "
          f"(median of {repeat}, interleaved; torch on {torch.get_num_threads()} thread)")
    print(f"{'dtype':<8} {'ours ms':>8} {'torch ms':>9} {'ours us/step':>13} {'torch us/step':>14} {'ours/torch':>11}")
    for dtype in ("float64", "float32"):
        ours, theirs = statistics.median(times["ours", dtype]), statistics.median(times["torch", dtype])
        print(f"{dtype:<8} {ours * 1e3:8.1f} {theirs * 1e3:9.1f} {ours / batches * 1e6:13.0f} "
              f"{theirs / batches * 1e6:14.0f} {ours / theirs:11.2f}")


def full_runs(split: nn.Split, seeds=range(5)) -> bool:
    print(f"\nfit: {EPOCHS} epochs, validation after each, SGD{tuple(SGD.values())}, batches of {BATCH_SIZE}")
    print(f"{'seed':>4} {'wall s':>7} {'test acc':>9} {'val acc':>8} {'val >= 0.96 at epoch':>21} {'after s':>8}")
    ok = True
    for seed in seeds:
        rng = np.random.default_rng(seed)
        model = nn.mlp(SIZES, rng=rng)
        start = time.perf_counter()
        history = nn.fit(model, optim.SGD(model.parameters(), **SGD), split.X_train, split.y_train,
                         epochs=EPOCHS, batch_size=BATCH_SIZE, rng=rng, validation=(split.X_val, split.y_val),
                         progress=False)
        wall = time.perf_counter() - start
        model.eval()
        test = nn.accuracy(model(split.X_test), split.y_test)
        reached = next((k for k, acc in enumerate(history.val_acc) if acc >= 0.96), None)
        when = (f"{reached + 1:21d} {sum(history.epoch_time[:reached + 1]):8.3f}" if reached is not None
                else f"{'never':>21} {'':>8}")
        print(f"{seed:4d} {wall:7.3f} {test:9.3f} {history.val_acc[-1]:8.3f} {when}")
        ok &= test >= 0.96 and wall <= BUDGET_SECONDS
    print(f"bar: test accuracy >= 0.96 and at most {BUDGET_SECONDS:.0f} s a run: {'ok' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    split = nn.load_digits()
    one_epoch(split, args.repeat)
    return 0 if full_runs(split) else 1


if __name__ == "__main__":
    sys.exit(main())
