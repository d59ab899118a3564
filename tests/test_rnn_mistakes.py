"""The self-checks of unit 09 (optimlab.rnn): the catalogue ``autograder/exercises/unit09.py`` on its own.

- check data recorded here from the catalogue (the unit need not be registered yet), on the public cases and on
  hidden draws, both validated: every catalogued mistake is named on the first case where it fails;
- the reference passes every case, the release's stubs fail every one with their own NotImplementedError;
- wrong implementations written here, independently of the catalogue's (another style: loops where the
  catalogue vectorizes, np.split, einsum, np.linalg.norm, torch's cs231n-like conventions), fail, with the
  classic mistake named where the catalogue has it; correct implementations in other styles (and torch's own
  autograd, when torch is installed) pass.
"""

import math
import shutil

import numpy as np
import pytest

from conftest import COURSE, assert_stub_fails_with_its_own_error, assert_wrong_and_named, load_package, released, \
    solution_lines, submodule

UNIT = "09_recurrent"
NAMES = ["rnn_backward", "clip_grad_norm", "clip_grad_value", "lstm_cell_forward", "lstm_cell_backward",
         "gru_cell_forward", "gru_cell_backward"]
IN_PLACE = "modifying an input in place"
FLOAT64_LEAK = "float64 leaking into a float32 computation"


@pytest.fixture(scope="module")
def rnn(ref):
    return submodule(ref, "rnn")


@pytest.fixture(scope="module")
def check(ref):
    return submodule(ref, "check")


@pytest.fixture(scope="module")
def catalogue(ref):
    from autograder.exercises import unit09

    return {e.name: e for e in unit09.EXERCISES}


@pytest.fixture(scope="module")
def specs(catalogue):
    """Check data on the public cases, recorded (and validated: every mistake named) from the catalogue itself."""
    from autograder.checkdata import record

    return {name: record(e, e.public()) for name, e in catalogue.items()}


@pytest.fixture(scope="module")
def hidden_specs(catalogue):
    """Twelve hidden draws, validated too: on them as well every catalogued mistake is named where it first
    fails (as tests/test_checks.py asks of every unit)."""
    from autograder.checkdata import record

    rng = np.random.default_rng(909)
    return {name: record(e, [c for _ in range(12) for c in e.hidden(rng)]) for name, e in catalogue.items()}


def _mistake(catalogue, name, mistake_id):
    return next(m for m in catalogue[name].mistakes if m.id == mistake_id)


# ------------------------------------------------------------------------------------------------ the catalogue


def test_the_catalogue_covers_every_exercise_of_the_module(catalogue, rnn):
    from optimlab._exercise import EXERCISES

    ours = {n for n, e in EXERCISES.items() if e.module == "rnn"}
    assert ours == set(catalogue) == set(NAMES)
    assert list(catalogue) == NAMES
    assert all(EXERCISES[n].unit == UNIT for n in ours)


def test_the_mistakes_the_issue_and_the_spec_ask_for_are_catalogued(catalogue):
    titles = {name: " | ".join(m.title for m in e.mistakes) for name, e in catalogue.items()}
    wanted = {
        "clip_grad_norm": ["each parameter clipped separately", "norm after clipping",
                           "clipping when the norm is below max_norm", "value clipping where norm clipping",
                           "no 1e-6", "inf norm", "norm_type ignored", "without its root",
                           "error_if_nonfinite ignored", IN_PLACE],
        "clip_grad_value": ["only the positive side", "norm clipping where value clipping", "np.sign(g) * clip_value"],
        "rnn_backward": ["previous hidden state missing", "tanh instead of its derivative", "h[t] in place of h[t-1]",
                         "weight_hh transposed in the gradient carried back", "dh0 not propagated",
                         "not summed over time", "bias gradient split in halves"],
        "lstm_cell_forward": ["cs231n's order i, f, o, g", "input and forget gates swapped", "from c rather than c_new",
                              "tanh in place of the sigmoid for the forget gate"],
        "lstm_cell_backward": ["missing the forget gate's factor", "missing the path through h_new", "tanh'(c_new)",
                               "dc_new ignored", "as s instead of s * (1 - s)", "cs231n's order"],
        "gru_cell_forward": ["reset gate applied before W_hn", "z and 1 - z swapped", "b_hn outside the reset product",
                             "wrong order: z, r, n"],
        "gru_cell_backward": ["z and 1 - z swapped", "direct path z * dh_new into dh missing",
                              "path through the reset gate r missing"],
    }
    for name, words in wanted.items():
        for w in words:
            assert w in titles[name], (name, w)
    assert sum(len(e.mistakes) for e in catalogue.values()) >= 50


def test_titles_are_distinct_within_an_exercise_and_explanations_are_short(catalogue):
    for e in catalogue.values():
        assert len({m.title for m in e.mistakes}) == len(e.mistakes), e.name
        assert len({m.id for m in e.mistakes}) == len(e.mistakes), e.name
        for m in e.mistakes:
            assert 40 < len(m.explain) < 450, (e.name, m.id)
            assert m.explain.count(". ") + m.explain.count(": ") <= 4, (e.name, m.id)


def test_no_explanation_or_label_of_the_catalogue_holds_a_solution_line(catalogue):
    secret = solution_lines("rnn")
    assert len(secret) >= 30
    words = [m.title + "\n" + m.explain for e in catalogue.values() for m in e.mistakes]
    words += [c["label"] for e in catalogue.values() for c in e.public()]
    assert not [line for line in secret for text in words if line in text]


def test_the_hidden_cases_hold_errors_float32_layouts_and_both_kinds_of_loss(catalogue):
    rng = np.random.default_rng(5)
    draws = {name: [c for _ in range(40) for c in e.hidden(rng)] for name, e in catalogue.items()}
    assert sum("expect_error" in c for c in draws["clip_grad_norm"]) == 40
    for name, cases in draws.items():
        text = repr(cases)
        assert "'float32'" in text and "'float64'" in text, name
        assert "'layout'" in text, name
    assert {c["label"] for c in draws["rnn_backward"]} == {"a random sequence with a loss on every step",
                                                           "a random sequence with a loss on its last step"}
    norm_types = {repr(c["args"].get("norm_type")) for c in draws["clip_grad_norm"]}
    assert len(norm_types) >= 4


@pytest.mark.parametrize("name", NAMES)
def test_the_reference_passes_the_public_and_hidden_checks(check, rnn, specs, hidden_specs, name):
    for spec in (specs[name], hidden_specs[name]):
        assert check.run_check(spec, getattr(rnn, name)) == (len(spec["cases"]), None)
        assert len(spec["cases"]) >= 5


def test_the_docstring_s_example_is_a_public_case(specs):
    (example,) = [c for c in specs["clip_grad_norm"]["cases"] if "docstring's example" in c["label"]]
    clipped, total = example["expected"]["tuple"]
    np.testing.assert_allclose(clipped["dict"]["w"]["array"], [0.59999988, 0.79999984], rtol=1e-7)
    assert total == 5.0


def _all_mistakes(names=NAMES):
    from autograder.exercises import unit09

    return [(e.name, m.id) for e in unit09.EXERCISES if e.name in names for m in e.mistakes]


@pytest.mark.parametrize("name, mistake_id", _all_mistakes(), ids=[f"{n}-{m}" for n, m in _all_mistakes()])
def test_every_catalogued_mistake_is_named_with_its_explanation(check, catalogue, specs, hidden_specs, name,
                                                                mistake_id):
    mistake = _mistake(catalogue, name, mistake_id)
    for spec in (specs[name], hidden_specs[name]):
        _, failure = check.run_check(spec, mistake.impl)
        assert failure is not None, f"{mistake.title} passes the checks of {name}"
        assert f"classic mistake: {mistake.title}." in failure
        assert mistake.explain in failure


@pytest.mark.parametrize("name", NAMES)
def test_no_two_mistakes_give_the_same_output_on_a_case(check, specs, hidden_specs, name):
    """Where two mistakes both differ from the expected output, they differ from each other too: whichever case
    a student's code first fails, the mistake named is the one made. One public case is the exception, on
    purpose: the GRU's first step from h = 0, where W_hn h = 0 makes the reset gate before W_hn, b_hn outside the
    reset product and no reset gate at all the same cell (each of the three is named on the cases before it)."""
    for spec in (specs[name], hidden_specs[name]):
        for c in spec["cases"]:
            if name == "gru_cell_forward" and c["label"] == "the first step: h = 0":
                assert {"reset_before", "bias_outside", "no_reset"} <= set(c["mistakes"])
                continue
            outputs = list(c.get("mistakes", {}).items())
            for k, (first, a) in enumerate(outputs):
                for second, b in outputs[k + 1:]:
                    assert check.difference(a, b, "output", spec.get("parts")) is not None, (c["label"], first,
                                                                                            second)


def _showing(check, spec, c, impl):
    """How far a mistake's output is from the expected one on case ``c``: the largest difference over every
    array and number, relative to the largest expected value."""
    got = check.collect(impl, c)["output"]

    def flat(encoded):
        if isinstance(encoded, dict):
            if "array" in encoded:
                return list(np.asarray(check.decode(encoded), dtype=np.float64).ravel())
            if "tuple" in encoded:
                return [v for item in encoded["tuple"] for v in flat(item)]
            if "dict" in encoded:
                return [v for item in encoded["dict"].values() for v in flat(item)]
        return [float(encoded)] if isinstance(encoded, (int, float)) else []

    expected, obtained = np.array(flat(c["expected"])), np.array(flat(got))
    return float(np.max(np.abs(expected - obtained)) / np.max(np.abs(expected)))


@pytest.mark.parametrize("name", NAMES)
def test_each_mistake_shows_far_above_the_tolerance_where_it_is_named(check, catalogue, specs, name):
    """On the first case a mistake fails, its output is at least 1e-7 away, relatively (the checks' tolerance is
    1e-9 in float64): most are 5% or more; only torch's 1e-6 is small, at a norm of 5, and it is shown large
    (a factor 2) on its own case."""
    spec = specs[name]
    for m in catalogue[name].mistakes:
        if m.detected_by != "output":
            continue
        first = next(c for c in spec["cases"] if not check.judge(spec, c, check.collect(m.impl, c)).passed)
        size = _showing(check, spec, first, m.impl)
        assert size > (5e-8 if m.id == "no_eps" else 0.05), (m.id, first["label"], size)
    if name == "clip_grad_norm":
        (micro,) = [c for c in spec["cases"] if "norm 1e-6" in c["label"]]
        assert _showing(check, spec, micro, _mistake(catalogue, name, "no_eps").impl) > 0.1  # twice the gradients


# ----------------------------------------------------------------------------------------------------- the stubs


@pytest.fixture(scope="module")
def stub(tmp_path_factory):
    """The release's rnn.py as a student first gets it: the release's package with rnn.py made from the
    solutions now (course/ may not hold it until the lead regenerates the release)."""
    top = tmp_path_factory.mktemp("release09")
    shutil.copytree(COURSE / "optimlab", top / "optimlab",
                    ignore=shutil.ignore_patterns("check_data", "pretrained", "__pycache__"))
    (top / "optimlab" / "rnn.py").write_text(released("rnn"), encoding="utf-8")
    return submodule(load_package(top, "optimlab_release09"), "rnn")


@pytest.mark.parametrize("name", NAMES)
def test_the_stubs_fail_every_case_with_their_own_error(check, specs, hidden_specs, stub, name):
    assert_stub_fails_with_its_own_error(check, specs[name], getattr(stub, name), UNIT)
    passed, failure = check.run_check(hidden_specs[name], getattr(stub, name), reraise=())
    assert passed == 0 and f"{name} is not implemented yet" in failure


# ---------------------------------------------------------------------------- wrong code written independently
# Each in a style of its own, not the catalogue's switches.


def _sig(z):
    return 0.5 * (1 + np.tanh(0.5 * z))


def _bptt_loop(dh, x, h0, h, weight_ih, weight_hh, *, keep=None, transposed=False, per_example=False):
    """A BPTT written step by step with einsum; ``keep`` truncates the recurrence (gradient carried back at most
    ``keep`` steps); ``transposed`` uses cs231n's layout for weight_hh throughout; ``per_example`` averages the
    parameters' gradients over the batch."""
    T, N = x.shape[:2]
    d_pre = np.zeros_like(h)
    for end in range(T):  # each step's loss, carried back on its own (a sum of truncated chains)
        g = dh[end]
        for t in range(end, max(-1, end - (keep if keep else T)), -1):
            a = g * (1 - h[t] ** 2)
            d_pre[t] = d_pre[t] + a
            g = a @ (weight_hh.T if transposed else weight_hh)
    prev = np.concatenate([h0[None], h[:-1]], axis=0)
    dx = np.einsum("tnh,hi->tni", d_pre, weight_ih)
    dh0 = d_pre[0] @ (weight_hh.T if transposed else weight_hh)
    w_hh = np.einsum("tnh,tnk->hk", d_pre, prev)
    grads = {"weight_ih": np.einsum("tnh,tni->hi", d_pre, x), "weight_hh": w_hh.T if transposed else w_hh,
             "bias_ih": d_pre.sum(axis=(0, 1)), "bias_hh": d_pre.sum(axis=(0, 1))}
    if per_example:
        grads = {k: v / N for k, v in grads.items()}
    return dx, dh0, grads


def bptt_one_step(dh, x, h0, h, weight_ih, weight_hh):
    return _bptt_loop(dh, x, h0, h, weight_ih, weight_hh, keep=1)


def bptt_two_steps(dh, x, h0, h, weight_ih, weight_hh):
    return _bptt_loop(dh, x, h0, h, weight_ih, weight_hh, keep=2)


def bptt_cs231n_layout(dh, x, h0, h, weight_ih, weight_hh):
    return _bptt_loop(dh, x, h0, h, weight_ih, weight_hh, transposed=True)


def bptt_mean_over_batch(dh, x, h0, h, weight_ih, weight_hh):
    return _bptt_loop(dh, x, h0, h, weight_ih, weight_hh, per_example=True)


def bptt_times_tanh(dh, x, h0, h, weight_ih, weight_hh):
    dx, carried = np.zeros_like(x), np.zeros_like(h0)
    grads = {"weight_ih": np.zeros_like(weight_ih), "weight_hh": np.zeros_like(weight_hh),
             "bias_ih": np.zeros(len(weight_hh), dtype=h.dtype), "bias_hh": np.zeros(len(weight_hh), dtype=h.dtype)}
    for t in reversed(range(len(x))):
        a = (dh[t] + carried) * np.tanh(np.arctanh(h[t]))          # "the derivative of tanh is tanh"
        grads["weight_ih"] = grads["weight_ih"] + np.einsum("nh,ni->hi", a, x[t])
        grads["weight_hh"] = grads["weight_hh"] + np.einsum("nh,nk->hk", a, h[t - 1] if t else h0)
        grads["bias_ih"] = grads["bias_ih"] + a.sum(0)
        grads["bias_hh"] = grads["bias_hh"] + a.sum(0)
        dx[t] = a @ weight_ih
        carried = a @ weight_hh
    return dx, carried, grads


def bptt_whh_outer_with_output(dh, x, h0, h, weight_ih, weight_hh):
    dx, carried = np.zeros_like(x), np.zeros_like(h0)
    w_ih, w_hh, b = 0 * weight_ih, 0 * weight_hh, np.zeros(len(weight_hh), dtype=h.dtype)
    for t in range(len(x) - 1, -1, -1):
        a = (dh[t] + carried) * (1 - h[t] * h[t])
        w_ih = w_ih + sum(np.outer(a[k], x[t][k]) for k in range(len(a)))
        w_hh = w_hh + sum(np.outer(a[k], h[t][k]) for k in range(len(a)))   # h[t]: the step's own output
        b = b + a.sum(0)
        dx[t] = a @ weight_ih
        carried = a @ weight_hh
    return dx, carried, {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b, "bias_hh": b.copy()}


def bptt_accumulates_into_dh(dh, x, h0, h, weight_ih, weight_hh):
    dx = np.zeros_like(x)
    w_ih, w_hh, b = np.zeros_like(weight_ih), np.zeros_like(weight_hh), np.zeros(len(weight_hh), dtype=h.dtype)
    for t in range(len(x) - 1, -1, -1):
        a = dh[t] * (1 - h[t] ** 2)
        if t:
            dh[t - 1] += a @ weight_hh                                   # writes into the caller's dh
        w_ih, w_hh, b = w_ih + a.T @ x[t], w_hh + a.T @ (h[t - 1] if t else h0), b + a.sum(0)
        dx[t] = a @ weight_ih
    return dx, a @ weight_hh, {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b, "bias_hh": b.copy()}


def bptt_float32(dh, x, h0, h, weight_ih, weight_hh):
    out = bptt_correct_einsum(*(a.astype(np.float32) for a in (dh, x, h0, h, weight_ih, weight_hh)))
    return out


def bptt_dh0_zero(dh, x, h0, h, weight_ih, weight_hh):
    dx, _, grads = bptt_correct_einsum(dh, x, h0, h, weight_ih, weight_hh)
    return dx, np.zeros_like(h0), grads


def bptt_correct_einsum(dh, x, h0, h, weight_ih, weight_hh):
    """Right: the deltas in one backward loop, the parameters' gradients in one einsum over all the steps."""
    deltas = np.empty_like(h)
    back = np.zeros_like(h0)
    for t in range(len(x) - 1, -1, -1):
        deltas[t] = (dh[t] + back) * (1 - h[t] * h[t])
        back = deltas[t] @ weight_hh
    prev = np.concatenate([h0[None], h[:-1]], axis=0)
    bias = np.einsum("tnh->h", deltas)
    return (np.einsum("tnh,hi->tni", deltas, weight_ih), back,
            {"weight_ih": np.einsum("tnh,tni->hi", deltas, x), "weight_hh": np.einsum("tnh,tnk->hk", deltas, prev),
             "bias_ih": bias, "bias_hh": bias.copy()})


def bptt_correct_jacobians(dh, x, h0, h, weight_ih, weight_hh):
    """Right, the slow way: each loss term carried back through the explicit Jacobians diag(1 - h**2) W_hh."""
    return _bptt_loop(dh, x, h0, h, weight_ih, weight_hh)


_NONFINITE = ("The total norm of order {} for gradients from `parameters` is non-finite, so it cannot be clipped. "
              "To disable this error and scale the gradients by the non-finite norm anyway, set "
              "`error_if_nonfinite=False`")


def _p(norm_type):
    return float(norm_type)


def _total(grads, p):
    flat = np.concatenate([g.ravel() for g in grads.values()]).astype(np.float64)
    return float(np.linalg.norm(flat, ord=p))


def clip_each_parameter(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    p = _p(norm_type)
    total = _total(grads, p)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(_NONFINITE.format(p))
    out = {}
    for name, g in grads.items():
        own = np.linalg.norm(g.ravel(), ord=p)
        out[name] = g * float(min(1.0, max_norm / (own + 1e-6)))
    return out, total


def clip_reports_clipped_norm(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    out, _ = clip_correct_concatenated(grads, max_norm, norm_type, error_if_nonfinite=error_if_nonfinite)
    return out, _total(out, _p(norm_type))


def clip_if_above_no_eps(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    total = _total(grads, _p(norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(_NONFINITE.format(_p(norm_type)))
    if total > max_norm:
        return {k: g * (max_norm / total) for k, g in grads.items()}, total
    return {k: g.copy() for k, g in grads.items()}, total


def clip_always_rescaled(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    total = _total(grads, _p(norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(_NONFINITE.format(_p(norm_type)))
    return {k: g * (max_norm / (total + 1e-6)) for k, g in grads.items()}, total


def clip_entries_at_max_norm(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    total = _total(grads, _p(norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(_NONFINITE.format(_p(norm_type)))
    return {k: np.minimum(np.maximum(g, -max_norm), max_norm) for k, g in grads.items()}, total


def clip_numpy_float64_coefficient(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    total = np.linalg.norm([np.linalg.norm(g.ravel(), ord=_p(norm_type)) for g in grads.values()], ord=_p(norm_type))
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(_NONFINITE.format(_p(norm_type)))
    coef = np.minimum(np.float64(max_norm) / (total + 1e-6), 1.0)             # a NumPy float64 scalar
    return {k: g * coef for k, g in grads.items()}, float(total)


def clip_in_place(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    total = _total(grads, _p(norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(_NONFINITE.format(_p(norm_type)))
    coef = min(1.0, max_norm / (total + 1e-6))
    for g in grads.values():
        np.multiply(g, coef, out=g)
    return {k: g.copy() for k, g in grads.items()}, total


def clip_never_raises(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    with np.errstate(all="ignore"):
        return clip_correct_concatenated(grads, max_norm, norm_type, error_if_nonfinite=False)


def clip_sum_of_squared_norms(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    total = sum(float(np.linalg.norm(g)) ** 2 for g in grads.values())
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(_NONFINITE.format(_p(norm_type)))
    coef = min(1.0, max_norm / (total + 1e-6))
    return {k: g * coef for k, g in grads.items()}, total


def clip_euclidean_only(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    return clip_correct_concatenated(grads, max_norm, 2.0, error_if_nonfinite=error_if_nonfinite)


def clip_returns_an_array_norm(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    out, total = clip_correct_concatenated(grads, max_norm, norm_type, error_if_nonfinite=error_if_nonfinite)
    return out, np.array(total)


def clip_correct_concatenated(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    """Right: one long vector, np.linalg.norm of it, a Python float coefficient."""
    p = _p(norm_type)
    with np.errstate(over="ignore"):
        total = _total(grads, p)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(_NONFINITE.format(p))
    coef = min(1.0, max_norm / (total + 1e-6))
    return {k: g * coef for k, g in grads.items()}, total


def clip_correct_by_hand(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
    """Right: the p-th powers summed by hand, the inf norm as the largest entry, the coefficient in a branch."""
    p = _p(norm_type)
    if p == math.inf:
        total = max(float(np.abs(g).max()) for g in grads.values())
    else:
        with np.errstate(over="ignore"):
            total = sum(float((np.abs(g) ** p).sum()) for g in grads.values()) ** (1.0 / p)
    if error_if_nonfinite and (math.isnan(total) or math.isinf(total)):
        raise RuntimeError(_NONFINITE.format(p))
    scale = max_norm / (total + 1e-6)
    return {k: (g * scale if scale < 1 else g.copy()) for k, g in grads.items()}, total


def value_positive_side_only(grads, clip_value):
    return {k: np.where(g > clip_value, clip_value, g).astype(g.dtype) for k, g in grads.items()}


def value_sign_everywhere(grads, clip_value):
    return {k: np.copysign(np.full_like(g, clip_value), g) for k, g in grads.items()}


def value_in_place(grads, clip_value):
    for g in grads.values():
        g[g > clip_value] = clip_value
        g[g < -clip_value] = -clip_value
    return {k: g.copy() for k, g in grads.items()}


def value_by_global_norm(grads, clip_value):
    return clip_correct_concatenated(grads, clip_value)[0]


def value_clamped_to_zero_and_v(grads, clip_value):
    return {k: np.clip(g, 0.0, clip_value) for k, g in grads.items()}


def value_correct_min_max(grads, clip_value):
    """Right: np.minimum and np.maximum, each dict entry in turn."""
    out = {}
    for k in grads:
        out[k] = np.minimum(np.maximum(grads[k], -clip_value), clip_value)
    return out


def _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, forget_bias=0.0, both_biases=True):
    a = x @ weight_ih.T + h @ weight_hh.T + bias_ih + (bias_hh if both_biases else 0.0)
    return np.split(a, 4, axis=1)


def lstm_cs231n_order(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    ai, af, ao, ag = _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    c2 = _sig(af) * c + _sig(ai) * np.tanh(ag)
    return _sig(ao) * np.tanh(c2), c2


def lstm_output_from_old_cell(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    ai, af, ag, ao = _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    return _sig(ao) * np.tanh(c), _sig(af) * c + _sig(ai) * np.tanh(ag)


def lstm_single_bias(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    ai, af, ag, ao = _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh, both_biases=False)
    c2 = _sig(af) * c + _sig(ai) * np.tanh(ag)
    return _sig(ao) * np.tanh(c2), c2


def lstm_keras_forget_bias(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    ai, af, ag, ao = _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    c2 = _sig(af + 1.0) * c + _sig(ai) * np.tanh(ag)                 # unit_forget_bias added again
    return _sig(ao) * np.tanh(c2), c2


def lstm_forward_float32(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return lstm_correct_split(*(a.astype(np.float32) for a in (x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)))


def lstm_correct_split(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """Right: np.split into four blocks, the sigmoid written with tanh."""
    ai, af, ag, ao = _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    c2 = _sig(ai) * np.tanh(ag) + _sig(af) * c
    return _sig(ao) * np.tanh(c2), c2


def _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, *, sign=1.0, dc_rule="f",
             tanh_slope=True, sig_slope=True):
    ai, af, ag, ao = _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    i, f, g, o = _sig(ai), _sig(af), np.tanh(ag), _sig(ao)
    c2 = f * c + i * g
    t2 = np.tanh(c2)
    grad_c2 = dc_new + sign * dh_new * o * ((1 - t2 ** 2) if tanh_slope else 1.0)
    s = (lambda v: v * (1 - v)) if sig_slope else (lambda v: v)
    pre = np.hstack([grad_c2 * g * s(i), grad_c2 * c * s(f), grad_c2 * i * (1 - g ** 2), dh_new * t2 * s(o)])
    dc = {"f": grad_c2 * f, "none": grad_c2, "next only": dc_new * f}[dc_rule]
    db = pre.sum(0)
    return pre @ weight_ih, pre @ weight_hh, dc, {"weight_ih": pre.T @ x, "weight_hh": pre.T @ h,
                                                  "bias_ih": db, "bias_hh": db.copy()}


def lstm_bw_sign_error(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, sign=-1.0)


def lstm_bw_dc_is_total(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, dc_rule="none")


def lstm_bw_dc_from_next_only(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, dc_rule="next only")


def lstm_bw_no_tanh_slope(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, tanh_slope=False)


def lstm_bw_sigmoid_slope_s(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    return _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh, sig_slope=False)


def lstm_bw_scales_dh_new_in_place(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    ai, af, ag, ao = _split_gates(x, h, weight_ih, weight_hh, bias_ih, bias_hh)
    dh_new *= 1.0                                       # harmless so far...
    out = _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)
    dc_new *= _sig(af)                                  # ...but this overwrites the caller's dc_new
    return out


def lstm_bw_correct_hstack(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
    """Right: np.hstack of the four blocks, the sigmoid written with tanh."""
    return _lstm_bw(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh)


def _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, rule="torch", z_keeps_old=True, order="rzn"):
    H = h.shape[1]
    w = {k: (weight_ih[j * H:(j + 1) * H], weight_hh[j * H:(j + 1) * H], bias_ih[j * H:(j + 1) * H],
             bias_hh[j * H:(j + 1) * H]) for j, k in enumerate(order)}
    r = _sig(x @ w["r"][0].T + w["r"][2] + h @ w["r"][1].T + w["r"][3])
    z = _sig(x @ w["z"][0].T + w["z"][2] + h @ w["z"][1].T + w["z"][3])
    wi, wh, bi, bh = w["n"]
    if rule == "torch":
        n = np.tanh(x @ wi.T + bi + r * (h @ wh.T + bh))
    elif rule == "no b_hn":
        n = np.tanh(x @ wi.T + bi + r * (h @ wh.T))
    else:  # Cho et al.
        n = np.tanh(x @ wi.T + bi + (r * h) @ wh.T + bh)
    return z * h + (1 - z) * n if z_keeps_old else (1 - z) * h + z * n


def gru_without_b_hn(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh, rule="no b_hn")


def gru_cho_reset(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh, rule="cho")


def gru_z_replaces(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh, z_keeps_old=False)


def gru_zrn_order(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh, order="zrn")


def gru_correct_blocks(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """Right: each gate from its own blocks of the weights."""
    return _gru(x, h, weight_ih, weight_hh, bias_ih, bias_hh)


def _gru_bw(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, *, direct=True, z_keeps_old=True,
            reset_grad=True, bias_hh_like_ih=False):
    H = h.shape[1]
    gi = x @ weight_ih.T + bias_ih
    gh = h @ weight_hh.T + bias_hh
    r = _sig(gi[:, :H] + gh[:, :H])
    z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    keep = z if z_keeps_old else 1 - z
    a_n = dh_new * (1 - keep) * (1 - n ** 2)
    a_z = dh_new * (h - n) * (1 if z_keeps_old else -1) * z * (1 - z)
    a_r = (a_n * gh[:, 2 * H:] * r * (1 - r)) if reset_grad else 0 * a_n
    d_gi = np.hstack([a_r, a_z, a_n])
    d_gh = np.hstack([a_r, a_z, a_n * r])
    dh = d_gh @ weight_hh + (dh_new * keep if direct else 0)
    return d_gi @ weight_ih, dh, {"weight_ih": d_gi.T @ x, "weight_hh": d_gh.T @ h, "bias_ih": d_gi.sum(0),
                                  "bias_hh": (d_gi if bias_hh_like_ih else d_gh).sum(0)}


def gru_bw_no_direct(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru_bw(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, direct=False)


def gru_bw_z_swapped(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru_bw(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, z_keeps_old=False)


def gru_bw_no_reset_grad(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru_bw(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, reset_grad=False)


def gru_bw_equal_bias_grads(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    return _gru_bw(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh, bias_hh_like_ih=True)


def gru_bw_correct_hstack(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
    """Right: the two sides' pre-activation gradients side by side, a sigmoid written with tanh."""
    return _gru_bw(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh)


#: (exercise, wrong implementation, the classic mistake's title or None when it has no name).
INDEPENDENT_MISTAKES = [
    ("rnn_backward", bptt_one_step, "the term through the previous hidden state missing (no gradient carried back)"),
    ("rnn_backward", bptt_two_steps, None),
    ("rnn_backward", bptt_cs231n_layout, None),
    ("rnn_backward", bptt_mean_over_batch, None),
    ("rnn_backward", bptt_times_tanh, "tanh instead of its derivative (times h, not 1 - h**2)"),
    ("rnn_backward", bptt_whh_outer_with_output, "weight_hh's gradient with h[t] in place of h[t-1]"),
    ("rnn_backward", bptt_accumulates_into_dh, IN_PLACE),
    ("rnn_backward", bptt_float32, None),
    ("rnn_backward", bptt_dh0_zero, None),
    ("clip_grad_norm", clip_each_parameter, "each parameter clipped separately instead of one global norm"),
    ("clip_grad_norm", clip_reports_clipped_norm, "the norm after clipping returned"),
    ("clip_grad_norm", clip_if_above_no_eps, "no 1e-6 in the coefficient (max_norm / total)"),
    ("clip_grad_norm", clip_always_rescaled, "clipping when the norm is below max_norm (gradients scaled up)"),
    ("clip_grad_norm", clip_entries_at_max_norm,
     "value clipping where norm clipping was asked (each entry clamped at max_norm)"),
    ("clip_grad_norm", clip_numpy_float64_coefficient, FLOAT64_LEAK),
    ("clip_grad_norm", clip_in_place, IN_PLACE),
    ("clip_grad_norm", clip_never_raises, "error_if_nonfinite ignored (no error for an infinite or NaN norm)"),
    ("clip_grad_norm", clip_sum_of_squared_norms, "the norm without its root (the squared norm for norm_type = 2)"),
    ("clip_grad_norm", clip_euclidean_only, "norm_type ignored (always the 2-norm)"),
    ("clip_grad_norm", clip_returns_an_array_norm, None),
    ("clip_grad_value", value_positive_side_only, "clipping only the positive side (np.minimum(g, clip_value))"),
    ("clip_grad_value", value_sign_everywhere, "every entry set to +-clip_value (np.sign(g) * clip_value)"),
    ("clip_grad_value", value_in_place, IN_PLACE),
    ("clip_grad_value", value_by_global_norm, "norm clipping where value clipping was asked"),
    ("clip_grad_value", value_clamped_to_zero_and_v, None),
    ("lstm_cell_forward", lstm_cs231n_order, "gates in cs231n's order i, f, o, g (torch's is i, f, g, o)"),
    ("lstm_cell_forward", lstm_output_from_old_cell, "the new hidden state from c rather than c_new"),
    ("lstm_cell_forward", lstm_single_bias, "bias_hh left out"),
    ("lstm_cell_forward", lstm_keras_forget_bias, None),
    ("lstm_cell_forward", lstm_forward_float32, None),
    ("lstm_cell_backward", lstm_bw_sign_error, None),
    ("lstm_cell_backward", lstm_bw_dc_is_total,
     "the cell state's gradient missing the forget gate's factor (dc = the total at c_new)"),
    ("lstm_cell_backward", lstm_bw_dc_from_next_only,
     "the cell state's gradient missing the path through h_new (dc = dc_new * f)"),
    ("lstm_cell_backward", lstm_bw_no_tanh_slope, "the tanh'(c_new) factor missing on the path through h_new"),
    ("lstm_cell_backward", lstm_bw_sigmoid_slope_s, "the sigmoid's derivative as s instead of s * (1 - s)"),
    ("lstm_cell_backward", lstm_bw_scales_dh_new_in_place, IN_PLACE),
    ("gru_cell_forward", gru_without_b_hn, None),
    ("gru_cell_forward", gru_cho_reset, "the reset gate applied before W_hn (to h, not to W_hn h + b_hn)"),
    ("gru_cell_forward", gru_z_replaces, "z and 1 - z swapped"),
    ("gru_cell_forward", gru_zrn_order, "gates in the wrong order: z, r, n (torch's is r, z, n)"),
    ("gru_cell_backward", gru_bw_no_direct, "the direct path z * dh_new into dh missing"),
    ("gru_cell_backward", gru_bw_z_swapped, "z and 1 - z swapped"),
    ("gru_cell_backward", gru_bw_no_reset_grad, "the path through the reset gate r missing"),
    ("gru_cell_backward", gru_bw_equal_bias_grads, None),
]


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_with_their_mistake_named(check, specs, name, buggy, title):
    assert_wrong_and_named(check, specs[name], buggy, title)


@pytest.mark.parametrize("name, buggy, title", INDEPENDENT_MISTAKES,
                         ids=[f"{n}-{b.__name__}" for n, b, _ in INDEPENDENT_MISTAKES])
def test_independent_wrong_implementations_fail_hidden_cases_too(check, hidden_specs, name, buggy, title):
    """On twelve hidden draws too, with the same mistake named."""
    assert_wrong_and_named(check, hidden_specs[name], buggy, title)


def _catalogue_base(name):
    """The catalogue's own implementation with every switch off: right (so each mistake is one change away)."""
    from autograder.exercises import unit09 as u

    return {"rnn_backward": u._bptt_variant(), "clip_grad_norm": u._clip_norm_variant(),
            "clip_grad_value": u._clip_value_variant(), "lstm_cell_forward": u._lstm_forward_variant(),
            "lstm_cell_backward": u._lstm_backward_variant(), "gru_cell_forward": u._gru_forward_variant(),
            "gru_cell_backward": u._gru_backward_variant()}[name]


CORRECT = [
    ("rnn_backward", bptt_correct_einsum),
    ("rnn_backward", bptt_correct_jacobians),
    ("clip_grad_norm", clip_correct_concatenated),
    ("clip_grad_norm", clip_correct_by_hand),
    ("clip_grad_value", value_correct_min_max),
    ("lstm_cell_forward", lstm_correct_split),
    ("lstm_cell_backward", lstm_bw_correct_hstack),
    ("gru_cell_forward", gru_correct_blocks),
    ("gru_cell_backward", gru_bw_correct_hstack),
] + [(name, _catalogue_base(name)) for name in NAMES]


@pytest.mark.parametrize("name, correct", CORRECT, ids=[f"{n}-{getattr(c, '__name__', 'base')}-{k}"
                                                        for k, (n, c) in enumerate(CORRECT)])
def test_correct_implementations_in_other_styles_pass(check, specs, hidden_specs, name, correct):
    for spec in (specs[name], hidden_specs[name]):
        assert check.run_check(spec, correct) == (len(spec["cases"]), None)


# ------------------------------------------------------------------------------- torch's autograd passes too


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


def _torch_cell(torch, name):
    """torch.nn.LSTMCell / GRUCell / RNN, with the case's weights, as an implementation of the exercise."""
    def params(module, weight_ih, weight_hh, bias_ih, bias_hh):
        with torch.no_grad():
            for attr, value in (("weight_ih", weight_ih), ("weight_hh", weight_hh), ("bias_ih", bias_ih),
                                ("bias_hh", bias_hh)):
                getattr(module, attr + ("_l0" if isinstance(module, torch.nn.RNN) else "")).copy_(
                    torch.from_numpy(np.ascontiguousarray(value)))
        return module

    def t(a, grad=False):
        return torch.from_numpy(np.ascontiguousarray(a).copy()).requires_grad_(grad)

    def grads_of(module, suffix=""):
        return {k: getattr(module, k + suffix).grad.numpy().copy() for k in ("weight_ih", "weight_hh", "bias_ih",
                                                                               "bias_hh")}

    def lstm_forward(x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        cell = params(torch.nn.LSTMCell(x.shape[1], h.shape[1], dtype=getattr(torch, x.dtype.name)), weight_ih,
                      weight_hh, bias_ih, bias_hh)
        h2, c2 = cell(t(x), (t(h), t(c)))
        return h2.detach().numpy(), c2.detach().numpy()

    def lstm_backward(dh_new, dc_new, x, h, c, weight_ih, weight_hh, bias_ih, bias_hh):
        cell = params(torch.nn.LSTMCell(x.shape[1], h.shape[1], dtype=getattr(torch, x.dtype.name)), weight_ih,
                      weight_hh, bias_ih, bias_hh)
        xs, hs, cs = t(x, True), t(h, True), t(c, True)
        h2, c2 = cell(xs, (hs, cs))
        ((h2 * t(dh_new)).sum() + (c2 * t(dc_new)).sum()).backward()
        return xs.grad.numpy(), hs.grad.numpy(), cs.grad.numpy(), grads_of(cell)

    def gru_forward(x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        cell = params(torch.nn.GRUCell(x.shape[1], h.shape[1], dtype=getattr(torch, x.dtype.name)), weight_ih,
                      weight_hh, bias_ih, bias_hh)
        return cell(t(x), t(h)).detach().numpy()

    def gru_backward(dh_new, x, h, weight_ih, weight_hh, bias_ih, bias_hh):
        cell = params(torch.nn.GRUCell(x.shape[1], h.shape[1], dtype=getattr(torch, x.dtype.name)), weight_ih,
                      weight_hh, bias_ih, bias_hh)
        xs, hs = t(x, True), t(h, True)
        (cell(xs, hs) * t(dh_new)).sum().backward()
        return xs.grad.numpy(), hs.grad.numpy(), grads_of(cell)

    def rnn_backward(dh, x, h0, h, weight_ih, weight_hh):
        # the biases do not enter the gradients; h (the forward's output) fixes them: any biases giving this h
        # are equivalent, so recover b_ih + b_hh from the first step and give it all to bias_ih
        pre0 = np.arctanh(h[0]) - x[0] @ weight_ih.T - h0 @ weight_hh.T
        layer = torch.nn.RNN(x.shape[2], h0.shape[1], dtype=getattr(torch, x.dtype.name))
        params(layer, weight_ih, weight_hh, pre0.mean(axis=0), np.zeros(h0.shape[1], dtype=h0.dtype))
        xs, hs = t(x, True), t(h0[None], True)
        out, _ = layer(xs, hs)
        (out * t(dh)).sum().backward()
        return xs.grad.numpy(), hs.grad.numpy()[0], grads_of(layer, "_l0")

    def clip_grad_norm(grads, max_norm, norm_type=2.0, *, error_if_nonfinite=False):
        tensors = {k: torch.nn.Parameter(torch.zeros(g.shape, dtype=getattr(torch, g.dtype.name)))
                   for k, g in grads.items()}
        for k, p in tensors.items():
            p.grad = t(grads[k])
        total = torch.nn.utils.clip_grad_norm_(list(tensors.values()), max_norm, norm_type,
                                               error_if_nonfinite=error_if_nonfinite)
        return {k: p.grad.numpy() for k, p in tensors.items()}, float(total)

    def clip_grad_value(grads, clip_value):
        tensors = {k: torch.nn.Parameter(torch.zeros(g.shape, dtype=getattr(torch, g.dtype.name)))
                   for k, g in grads.items()}
        for k, p in tensors.items():
            p.grad = t(grads[k])
        torch.nn.utils.clip_grad_value_(list(tensors.values()), clip_value)
        return {k: p.grad.numpy() for k, p in tensors.items()}

    return {"lstm_cell_forward": lstm_forward, "lstm_cell_backward": lstm_backward, "gru_cell_forward": gru_forward,
            "gru_cell_backward": gru_backward, "rnn_backward": rnn_backward, "clip_grad_norm": clip_grad_norm,
            "clip_grad_value": clip_grad_value}[name]


@pytest.mark.parametrize("name", NAMES)
def test_torch_passes_the_checks(check, torch, specs, hidden_specs, name):
    """torch's own modules and autograd, given each case's arrays, pass every public and hidden case: the
    expected outputs are torch's numbers (to the checks' tolerance)."""
    fn = _torch_cell(torch, name)
    for spec in (specs[name], hidden_specs[name]):
        assert check.run_check(spec, fn) == (len(spec["cases"]), None)
