"""The package builds into distributions an index accepts, and its wheel works without torch.

The slow test builds the sdist and the wheel as the release workflow does, checks them with
twine, checks that both carry the figures' browser code (``adalearn/animation/assets``),
installs the wheel into a clean virtual environment that has no torch, and runs the numpy part
of the README's example there, and a player, an explorer and a basin map.
"""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import adalearn

ROOT = Path(__file__).resolve().parents[1]
# The figures' scripts, styles and templates, which adalearn.animation reads at run time.
ASSETS = sorted(path.name for path in (ROOT / "adalearn" / "animation" / "assets").iterdir())

# Local state that is not part of the source: copying it would be slow (node_modules alone is
# hundreds of megabytes), and a stale build/ directory would put deleted modules into the wheel.
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "build",
    "dist",
    "_build",
    ".executed",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".ipynb_checkpoints",
    ".jupyter_cache",
    ".mypy_cache",
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
    try:
        import adalearn.optim
    except ModuleNotFoundError as error:
        assert "pip install 'adalearn[torch]'" in str(error), error
    else:
        raise AssertionError("adalearn.optim imported without torch")
    assert importlib.util.find_spec("torch") is None, "torch is installed in the clean venv"
    assert Path(adalearn.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), (
        adalearn.__file__
    )
    assert importlib.metadata.version("adalearn") == adalearn.__version__
    print("ok")
    """
)

# Run after the README's numpy part, in the same interpreter: the figures render from the
# installed package data, each with its script.
AFTER_README = textwrap.dedent(
    """
    import sys

    assert "torch" not in sys.modules, "the README's numpy part imported torch"
    assert set(runs) == {"Adam", "Momentum", "a sweep"}, sorted(runs)
    pages = {
        "adlPlayer": animation.compare(fn, {"Adam": runs["Adam"]}, dpi=40, density=1),
        "adlExplorer": animation.explore(fn, {"Adam": rules.Adam(lr=0.05)}, steps=5, dpi=40,
                                         density=1),
        "adlBasins": animation.basins("himmelblau", rules.SGD(lr=0.01), resolution=4,
                                      steps=5, lr=[0.01], dpi=40, density=1),
    }
    for start, figure in pages.items():
        page = figure.to_html()
        assert f"function {start}(root)" in page and f", {start});" in page, start
        assert "function adlFormat(v)" in page and "<style>.adl-figure{" in page, start
    print("ok")
    """
)


def run(command, cwd, env, timeout):
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def pins():
    """The ``name==version`` lines of requirements.txt, as pip constraints."""
    lines = (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if "==" in line.split("#", 1)[0]]


def readme_numpy_part():
    """The README's usage example up to its first torch line: what runs with numpy alone."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    usage = readme.split("## Use adalearn in your own notebook", 1)[1]
    code = re.search(r"```python\n(.*?)```", usage, re.DOTALL).group(1)
    numpy_part = code.split("import torch", 1)[0]
    assert "trajectory.run" in numpy_part, numpy_part
    return numpy_part


def test_the_version_lives_in_adalearn_init_only():
    metadata = project()
    assert "version" not in metadata, "pyproject.toml states a version of its own"
    assert "version" in metadata["dynamic"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert dynamic["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "adalearn.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", adalearn.__version__), adalearn.__version__


def test_the_changelog_has_the_current_version_and_an_unreleased_section():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    assert headings[0] == "Unreleased", headings
    assert adalearn.__version__ in headings, (adalearn.__version__, headings)
    dated = rf"^## \[{re.escape(adalearn.__version__)}\] - \d{{4}}-\d{{2}}-\d{{2}}$"
    assert re.search(dated, changelog, re.MULTILINE), "the current version has no dated heading"


def test_the_project_urls_follow_the_book_configuration():
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repository = config["repository"]["url"].rstrip("/")
    owner, name = repository.removeprefix("https://github.com/").split("/")
    assert project()["urls"] == {
        "Book": f"https://{owner}.github.io/{name}",
        "Source": repository,
        "Changelog": f"{repository}/blob/{config['repository']['branch']}/CHANGELOG.md",
        "Issues": f"{repository}/issues",
    }


def test_the_classifiers_name_each_supported_python_and_a_status():
    classifiers = project()["classifiers"]
    pythons = {c.rsplit(" :: ", 1)[1] for c in classifiers if c.count("::") == 2
               and c.startswith("Programming Language :: Python :: 3.")}
    assert pythons == {"3.11", "3.12", "3.13"}, pythons
    requires = SpecifierSet(project()["requires-python"])
    assert all(requires.contains(Version(python)) for python in pythons)
    assert sum(c.startswith("Development Status :: ") for c in classifiers) == 1


def test_every_changelog_heading_links_to_its_changes():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## \[([^\]]+)\]", changelog, re.MULTILINE)
    links = dict(re.findall(r"^\[([^\]]+)\]: (\S+)$", changelog, re.MULTILINE))
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    repository = config["repository"]["url"].rstrip("/")
    versions = headings[1:]
    expected = {"Unreleased": f"{repository}/compare/v{versions[0]}...HEAD"}
    for newer, older in zip(versions, versions[1:], strict=False):
        expected[newer] = f"{repository}/compare/v{older}...v{newer}"
    expected[versions[-1]] = f"{repository}/releases/tag/v{versions[-1]}"
    assert links == expected


def test_the_torch_extra_starts_at_the_tested_torch():
    # The tested torch is the pinned one; an older minimum would promise what nothing checks.
    (extra,) = [Requirement(text) for text in project()["optional-dependencies"]["torch"]]
    (pin,) = [Requirement(line) for line in pins() if Requirement(line).name == "torch"]
    pinned = Version(next(iter(pin.specifier)).version)
    assert extra.specifier.contains(pinned), (str(extra), str(pinned))
    (minimum,) = [Version(spec.version) for spec in extra.specifier if spec.operator == ">="]
    assert minimum.release[:2] == pinned.release[:2], (str(minimum), str(pinned))


def test_requires_python_admits_the_tested_python():
    requires = SpecifierSet(project()["requires-python"])
    tested = Version(f"{sys.version_info.major}.{sys.version_info.minor}")
    assert requires.contains(tested), (str(requires), str(tested))
    assert not requires.contains(Version(f"{tested.major}.{tested.minor - 1}")), (
        "requires-python admits an older Python than the one tested"
    )


@pytest.mark.slow
def test_the_wheel_passes_twine_and_runs_the_readme_example_without_torch(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
    }

    # As the release workflow builds, but with the pinned setuptools of this environment instead
    # of an isolated download of it: the sdist first, then the wheel from the unpacked sdist,
    # so a file missing from the sdist breaks the wheel.
    dist = tmp_path / "dist"
    build = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)]
    built = run(build, tmp_path, env, timeout=300)
    assert built.returncode == 0, (built.stdout + built.stderr)[-4000:]
    (wheel,) = dist.glob(f"adalearn-{adalearn.__version__}-py3-none-any.whl")
    (sdist,) = dist.glob(f"adalearn-{adalearn.__version__}.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        in_wheel = {name.rsplit("/", 1)[1] for name in archive.namelist()
                    if name.startswith("adalearn/animation/assets/")}
    with tarfile.open(sdist) as archive:
        in_sdist = {name.rsplit("/", 1)[1] for name in archive.getnames()
                    if "/adalearn/animation/assets/" in name}
    assert sorted(in_wheel) == ASSETS and sorted(in_sdist) == ASSETS, (in_wheel, in_sdist)

    twine = [sys.executable, "-m", "twine", "check", "--strict", str(wheel), str(sdist)]
    checked = run(twine, tmp_path, env, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("PASSED") == 2, checked.stdout

    # Type checkers use the package's annotations only where the marker ships (PEP 561).
    with zipfile.ZipFile(wheel) as archive:
        assert "adalearn/py.typed" in archive.namelist()
        metadata = archive.read(f"adalearn-{adalearn.__version__}.dist-info/METADATA").decode()
    with tarfile.open(sdist) as archive:
        assert f"adalearn-{adalearn.__version__}/adalearn/py.typed" in archive.getnames()
    urls = dict(
        line.removeprefix("Project-URL: ").split(", ", 1)
        for line in metadata.splitlines()
        if line.startswith("Project-URL: ")
    )
    assert urls == project()["urls"], urls

    # A clean venv without pip of its own: this environment's pip installs into it (--python),
    # which saves seeding a pip; --no-compile saves compiling numpy's and matplotlib's sources.
    venv = tmp_path / "venv"
    created = run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, env, 120)
    assert created.returncode == 0, created.stderr
    python = str(venv / "bin" / "python")

    # numpy and matplotlib at the project's pins, which pip's cache already holds.
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("\n".join(pins()) + "\n", encoding="utf-8")
    install = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    install += ["--no-compile", "--timeout", "30", "--retries", "1"]
    installed = run([*install, "--constraint", str(constraints), str(wheel)], tmp_path, env, 600)
    if installed.returncode != 0:
        output = installed.stdout + installed.stderr
        if any(phrase in output for phrase in NETWORK_ERRORS):
            pytest.skip(f"pip cannot reach a package index:\n{output[-2000:]}")
        pytest.fail(f"pip install {wheel.name} failed:\n{output[-4000:]}")

    checked = run([python, "-c", CHECK], tmp_path, env, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "ok"

    example = readme_numpy_part() + AFTER_README
    ran = run([python, "-c", example], tmp_path, {**env, "MPLBACKEND": "Agg"}, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.strip() == "ok", ran.stdout + ran.stderr
