"""Stored sweeps: a sample of every stored sweep, run again, gives the stored numbers exactly."""

import json
import sys
import types

import numpy as np
import pytest

from adalearn import sweeps

SAMPLES = [
    pytest.param(name, index, id=f"{name}-{index}")
    for name in sweeps.names()
    for index in sweeps.load(name).sample(2)
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "index"), SAMPLES)
def test_a_stored_run_is_reproduced_exactly(name, index):
    record = sweeps.load(name)
    fresh = sweeps.rerun(name, index)
    assert not sweeps.differences(record.results[index], fresh), (
        f"{name} run {index} ({record.configs[index]}) no longer gives its stored numbers "
        f"(stored with {record.environment}):\n"
        + "\n".join(sweeps.differences(record.results[index], fresh)[:20])
    )


@pytest.mark.parametrize("name", sweeps.names())
def test_a_stored_sweep_has_every_configuration_of_its_module(name):
    record = sweeps.load(name)
    module = sweeps._module(name)
    assert record.configs == sweeps._plain(module.CONFIGS)
    assert record.command.startswith(f"python -m adalearn.sweeps.{name}")
    assert {"python", "torch", "numpy", "cpu_capability"} <= record.environment.keys()


def test_an_edited_number_is_a_difference():
    stored = {"loss": [0.5, 0.25, 1 / 3], "best": {"lr": 0.01, "steps": 120}}
    edited = json.loads(json.dumps(stored))
    assert not sweeps.differences(stored, edited)
    edited["loss"][2] = float(np.nextafter(1 / 3, 1.0))  # one ulp
    edited["best"]["steps"] = 121
    assert sorted(sweeps.differences(stored, edited)) == [
        "result.best.steps: 120 != 121",
        f"result.loss[2]: {1 / 3!r} != {float(np.nextafter(1 / 3, 1.0))!r}",
    ]
    assert sorted(sweeps.differences(stored, {"loss": [0.5, 0.25]})) == [
        "result.best: missing",
        "result.loss: 3 values != 2 values",
    ]


def test_main_stores_each_float_as_the_run_produced_it(tmp_path, monkeypatch):
    values = [0.1 + 0.2, 1 / 3, float(np.float32(0.1)), 2.0**-1074, 1e300]
    module = types.ModuleType("adalearn.sweeps.roundtrip")
    module.CONFIGS = [{"seed": i} for i in range(len(values))]
    module.run = lambda config: {"value": np.float64(values[config["seed"]]),
                                 "array": np.array([values[config["seed"]], 1.5])}
    monkeypatch.setitem(sys.modules, "adalearn.sweeps.roundtrip", module)
    output = tmp_path / "roundtrip.json"
    assert sweeps.main("roundtrip", ["--output", str(output)]) == 0
    stored = json.loads(output.read_text(encoding="utf-8"))
    assert [run["config"] for run in stored["runs"]] == module.CONFIGS
    assert [run["result"]["value"] for run in stored["runs"]] == values
    assert [run["result"]["array"] for run in stored["runs"]] == [[v, 1.5] for v in values]
    assert stored["command"] == "python -m adalearn.sweeps.roundtrip"


def test_a_result_that_cannot_be_stored_is_refused():
    with pytest.raises(ValueError, match="finite"):
        sweeps._plain({"loss": float("nan")})
    with pytest.raises(TypeError, match="numbers, strings and lists"):
        sweeps._plain({"model": object()})


def test_an_unknown_sweep_names_the_stored_ones():
    with pytest.raises(ValueError, match="must be a stored sweep"):
        sweeps.load("no_such_sweep")
