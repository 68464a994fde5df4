"""Fixtures shared by the test modules: one build of the book per test session."""

import fcntl
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 20 * 60


@dataclass(frozen=True)
class BookBuild:
    """The outcome of ``jupyter-book build``: exit code, console log, seconds, HTML folder."""

    returncode: int
    log: str
    seconds: float
    html: Path


def _build_book(out: Path) -> None:
    """Build the book of this checkout into ``out``, recording its outcome next to it."""
    # The jupyter-book of the running environment, and this checkout's adalearn first on the
    # kernel's path, so the build checks the code under test even beside another install.
    command = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(ROOT),
        "--path-output",
        str(out),
        "-W",
        "-n",
        "--keep-going",
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    start = time.perf_counter()
    try:
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=BUILD_TIMEOUT,
        )
        log, returncode = result.stdout, result.returncode
    except subprocess.TimeoutExpired as timeout:
        # Recorded like a failed build, so the other workers do not start it again.
        output = timeout.output or b""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        log = f"{output}\nThe build did not finish within {BUILD_TIMEOUT} s."
        returncode = -1
    (out / "build.log").write_text(log, encoding="utf-8")
    (out / "build.seconds").write_text(f"{time.perf_counter() - start:.1f}")
    (out / "build.returncode").write_text(str(returncode))


@pytest.fixture(scope="session")
def book_build(tmp_path_factory) -> BookBuild:
    """Build the book once per test run, shared by every test and every xdist worker."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        # Each xdist worker has its own base folder inside the run's shared one.
        base = base.parent
    out = base / "book"
    with open(base / "book.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / "build.returncode").exists():
            out.mkdir(exist_ok=True)
            _build_book(out)
    return BookBuild(
        returncode=int((out / "build.returncode").read_text()),
        log=(out / "build.log").read_text(encoding="utf-8"),
        seconds=float((out / "build.seconds").read_text()),
        html=out / "_build" / "html",
    )


@pytest.fixture(scope="module")
def serve():
    """Serve folders over HTTP on 127.0.0.1; a function folder -> base URL."""
    from _browser import Servers

    servers = Servers()
    yield servers
    servers.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, driven by playwright."""
    from _browser import CHROMIUM_ARGS, chromium_path
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()
