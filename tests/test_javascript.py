"""The figures' browser code passes its node tests, on fixtures that Python writes.

The node tests (``tests/js/*.test.mjs``, node's built-in test runner) load the scripts as
the pages carry them and compare them with Python: the number formatting with
``format(x, ".4g")`` and ``format(x, ".Nf")`` on many doubles, the run status with
:func:`adalearn.plotting.run_status`, and the decoder of stored runs with the runs the
encoder was given. Each fixture holds the input and Python's answer; doubles travel as the
hexadecimal of their IEEE bits, so NaN, the infinities and -0 arrive as they left.
"""

import base64
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from adalearn import animation, plotting, rules
from adalearn.animation import _figure, _storage

JS_TESTS = sorted((Path(__file__).parent / "js").glob("*.test.mjs"))


def bits(x):
    return struct.pack(">d", float(x)).hex()


def format_values():
    """Doubles where formatting goes wrong: halves, carries, exponent edges, extremes."""
    rng = np.random.default_rng(21)
    values = [0.0, -0.0, float("nan"), float("inf"), float("-inf"), 5e-324, -5e-324,
              2.2250738585072014e-308, 1.7976931348623157e308, 1e-4, 9.9995e-5, 1e4, 9999.5,
              99995.0, 0.5, 1.5, 2.5, 0.125, 0.0625, 1.0625, 1.0635, 1234.5, 1235.5, 0.00012345]
    # Exact halves at the fourth significant digit (n + 1/2) * 10^k, representable in binary.
    values += [(n + 0.5) * 2.0**-k for n in range(1000, 10000, 997) for k in range(0, 12)]
    values += [float(v) for v in rng.integers(-10**6, 10**6, 400)]
    values += [k / 2**j for k in range(1, 200, 7) for j in range(1, 14)]
    magnitudes = 10.0 ** rng.uniform(-320, 308, 3000)
    values += list(np.where(rng.random(3000) < 0.5, -magnitudes, magnitudes))
    values += list(rng.uniform(-10, 10, 1000)) + list(rng.uniform(0, 100, 1000))
    return [float(v) for v in values]


def write_fixtures(folder):
    """The scripts as pages carry them and the fixtures, as files in ``folder``."""
    for name in ("figure.js", "status.js", "inflate.js", "runs.js", "basins.js"):
        (folder / name).write_text(_figure.asset(name), encoding="utf-8")
    values = format_values()
    # adlFixed is exact while |v| · 10^(decimals + 1) is below 2^53 (its digits are a double).
    fixed = [v for v in values if not np.isfinite(v) or abs(v) * 1e4 < 2**53]
    (folder / "format.json").write_text(json.dumps({
        "g4": [[bits(v), format(v, ".4g")] for v in values],
        "fixed": [[bits(v), decimals, format(v, f".{decimals}f")]
                  for v in fixed for decimals in (0, 1, 2, 3)],
        "status": [[bits(final), stopped, diverged,
                    plotting.run_status({"values": np.array([final]), "stopped": stopped,
                                         "diverged": diverged})]
                   for final, stopped, diverged in [(0.012345678, 150, False), (3.1e-4, 300, False),
                                                    (-2.5, 7, False), (np.nan, 12, True),
                                                    (1e300, 0, True), (0.0, 40, False)]],
    }), encoding="utf-8")

    cases = {}
    # An explorer's own runs: a rule with a rejected grid value (Nesterov momentum 0, not
    # run) and learning rates large enough to diverge, over two starts.
    explorer = animation.explore("cubic", {
        "Nesterov": rules.SGD(lr=0.02, momentum=0.9, nesterov=True),
        "Adam": rules.Adam(lr=0.1, betas=(0.9, 0.99))}, steps=30,
        starts=[(2.0, 3.0), (-1.0, 2.5)], dpi=40, density=1)
    data = explorer._data()
    order = [explorer._blocks[(label, 0)] for label in explorer.rules]
    cases["explorer"] = {"n": data["n"], "q": data["q"], "blob": data["blob"],
                         "runs": expected_runs(order, data["q"])}
    assert any(run is None for run in cases["explorer"]["runs"])
    assert any(run and run["diverged"] for run in cases["explorer"]["runs"])
    # Hand-made runs where LEB128 needs many bytes: deltas beyond 2^35, both signs, and a
    # run of a single point.
    block = _storage.Block((4,))
    block.valid[:] = [True, False, True, True]
    block.stopped[:] = [2, 0, 0, 1]
    block.diverged[:] = [False, False, False, True]
    block.final[:] = [1e-300, np.nan, -0.0, 7.5]
    block.points[0] = np.array([[0, 0], [2**40, -2**40], [-5, 2**20]], dtype=np.int64)
    block.points[2] = np.array([[-1, 1]], dtype=np.int64)
    block.points[3] = np.array([[3, 4], [127, -128]], dtype=np.int64)
    block.exit[3] = np.array([-(2**33), 2**33 - 1], dtype=np.int64)
    blob, offsets, total = _storage.pack([block])
    cases["wide"] = {"n": total, "q": 1, "blob": base64.b64encode(blob).decode("ascii"),
                     "runs": expected_runs([block], 1)}
    (folder / "runs.json").write_text(json.dumps(cases), encoding="utf-8")


def expected_runs(blocks, q):
    """What the decoder must return for ``blocks``: the runs the encoder was given."""
    runs = []
    for block in blocks:
        for r in range(block.valid.size):
            if not block.valid[r]:
                runs.append(None)
                continue
            exit_point = block.exit[r]
            runs.append({
                "last": int(block.stopped[r]), "diverged": bool(block.diverged[r]),
                "final": bits(block.final[r]),
                "points": (block.points[r] / q).ravel().tolist(),
                "exit": None if exit_point is None else (exit_point / q).tolist(),
            })
    return runs


def test_the_browser_code_passes_its_node_tests(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; it comes with npm (Debian: apt-get install -y npm)")
    assert JS_TESTS, "no node tests found"
    write_fixtures(tmp_path)
    env = {**os.environ, "ADALEARN_JS_FIXTURES": str(tmp_path)}
    result = subprocess.run([node, "--test", "--test-reporter=tap", *map(str, JS_TESTS)],
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    passed = int(re.search(r"^# pass (\d+)$", report, re.M).group(1))
    failed = int(re.search(r"^# fail (\d+)$", report, re.M).group(1))
    declared = sum(len(re.findall(r"^test\(", path.read_text(encoding="utf-8"), re.M))
                   for path in JS_TESTS)
    assert failed == 0 and passed == declared, report[-6000:]
