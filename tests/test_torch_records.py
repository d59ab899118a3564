"""The recorded torch schedules that notebook 05 draws: the reference reproduces them, and torch still gives them."""

import json

import numpy as np
import pytest

from autograder import torch_records
from conftest import submodule

RECORDS = json.loads(torch_records.RECORDS.read_text())["records"]


def test_every_schedule_of_the_unit_has_a_record():
    functions = {r["function"] for r in RECORDS.values()}
    assert functions == {"step_lr", "multistep_lr", "exponential_lr", "cosine_annealing_lr", "linear_lr",
                         "warmup_cosine_lr", "cyclic_lr", "one_cycle_lr", "plateau_step"}


@pytest.mark.parametrize("name", [n for n in RECORDS if n != "plateau"])
def test_the_reference_reproduces_torchs_recorded_learning_rates(ref, name):
    record = RECORDS[name]
    function = getattr(submodule(ref, "schedules"), record["function"])
    mine = [function(t, **record["arguments"]) for t in range(len(record["lr"]))]
    assert np.max(np.abs(np.subtract(mine, record["lr"]))) < 1e-12
    assert len(set(np.round(record["lr"], 12))) > 3, "the record shows a schedule, not a constant"


def test_the_reference_reproduces_torchs_recorded_plateau(ref):
    record = RECORDS["plateau"]
    plateau_step = submodule(ref, "schedules").plateau_step
    lr, state, lrs = record["base_lr"], {}, []
    for metric in record["metrics"]:
        lr, state = plateau_step(metric, lr, state, **record["arguments"])
        lrs.append(lr)
    assert np.max(np.abs(np.subtract(lrs, record["lr"]))) < 1e-12
    assert len(set(lrs)) >= 3, "the record has at least two cuts"


def test_torch_still_gives_what_is_recorded():
    pytest.importorskip("torch")
    fresh = torch_records.build()["records"]
    assert fresh.keys() == RECORDS.keys()
    for name, record in RECORDS.items():
        assert {k: v for k, v in fresh[name].items() if k != "lr"} == {k: v for k, v in record.items() if k != "lr"}
        assert np.max(np.abs(np.subtract(fresh[name]["lr"], record["lr"]))) < 1e-15, name
