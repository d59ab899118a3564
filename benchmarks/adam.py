"""The reference Adam step against a textbook version that allocates a temporary per operation.

    .venv/bin/python benchmarks/adam.py [--size 10000000] [--repeat 7]

Both run in this process on the same float32 arrays (10 million parameters by default), interleaved, so the ratio
holds whatever else the machine is doing. The issue's bar: the reference is at least 2x as fast.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "solutions"))
from optimlab.optim import adam_update  # noqa: E402


def naive_adam(param, grad, state, *, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    """Adam as it is usually first written: every expression a new whole-array temporary."""
    beta1, beta2 = betas
    step = state.get("step", 0) + 1
    exp_avg = beta1 * state.get("exp_avg", np.zeros_like(param)) + (1 - beta1) * grad
    exp_avg_sq = beta2 * state.get("exp_avg_sq", np.zeros_like(param)) + (1 - beta2) * grad * grad
    m_hat = exp_avg / (1 - beta1**step)
    v_hat = exp_avg_sq / (1 - beta2**step)
    return param - lr * m_hat / (np.sqrt(v_hat) + eps), {"step": step, "exp_avg": exp_avg, "exp_avg_sq": exp_avg_sq}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    param = rng.standard_normal(args.size, dtype=np.float32)
    grad = rng.standard_normal(args.size, dtype=np.float32)
    state = {"step": 3, "exp_avg": rng.standard_normal(args.size, dtype=np.float32) * 0.1,
             "exp_avg_sq": rng.random(args.size, dtype=np.float32) * 0.01}
    new_ref, _ = adam_update(param, grad, state)
    new_naive, _ = naive_adam(param, grad, state)
    assert new_ref.dtype == np.float32 and np.allclose(new_ref, new_naive, rtol=1e-5, atol=1e-7)
    times = {"reference": [], "naive": []}
    for _ in range(args.repeat):
        for name, fn in (("reference", adam_update), ("naive", naive_adam)):
            start = time.perf_counter()
            fn(param, grad, state)
            times[name].append(time.perf_counter() - start)
    best = {name: min(t) for name, t in times.items()}
    ratio = best["naive"] / best["reference"]
    print(f"Adam step on {args.size:,} float32 parameters (best of {args.repeat}):")
    print(f"  reference {best['reference'] * 1e3:7.1f} ms")
    print(f"  naive     {best['naive'] * 1e3:7.1f} ms")
    print(f"  speed-up  {ratio:7.2f}x  (bar: 2x) {'ok' if ratio >= 2 else 'BELOW THE BAR'}")
    return 0 if ratio >= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
