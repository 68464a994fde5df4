"""The package installs into a clean virtual environment and its core works without torch."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Local state that is not part of the source: copying it would be slow, and a stale build/
# directory would put deleted modules into the wheel.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "_build",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    ".jupyter_cache",
)

# Phrases pip prints when it cannot reach a package index at all.
NETWORK_ERRORS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeoutError",
    "ReadTimeoutError",
)

CHECK = textwrap.dedent(
    """
    import importlib.metadata
    import importlib.util
    import sys
    from pathlib import Path

    import adalearn

    assert "torch" not in sys.modules, "import adalearn imported torch"
    import adalearn.functions
    import adalearn.rules
    import adalearn.trajectory

    assert "torch" not in sys.modules, "a numpy-only module imported torch"
    assert importlib.util.find_spec("torch") is None, "torch is installed in the clean venv"
    assert Path(adalearn.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), (
        adalearn.__file__
    )
    assert importlib.metadata.version("adalearn") == adalearn.__version__
    print("ok")
    """
)


def run(command, cwd, env, timeout):
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_installs_in_a_clean_venv_without_torch(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    venv = tmp_path / "venv"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }

    created = run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, timeout=120)
    assert created.returncode == 0, created.stderr
    python = str(venv / "bin" / "python")

    install = [python, "-m", "pip", "install", "--quiet", "--timeout", "30", "--retries", "1"]
    installed = run([*install, str(source)], tmp_path, env, timeout=600)
    if installed.returncode != 0:
        output = installed.stdout + installed.stderr
        if any(phrase in output for phrase in NETWORK_ERRORS):
            pytest.skip(f"pip cannot reach a package index:\n{output[-2000:]}")
        pytest.fail(f"pip install {ROOT} failed:\n{output[-4000:]}")

    checked = run([python, "-c", CHECK], tmp_path, env, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "ok"
