"""Fixtures shared by the test modules: one build of the book per test session."""

import fcntl
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools import executed_book

ROOT = Path(__file__).resolve().parent.parent
BUILD_TIMEOUT = 30 * 60


@dataclass(frozen=True)
class BookBuild:
    """The outcome of ``jupyter-book build``: exit code, console log, seconds, HTML folder."""

    returncode: int
    log: str
    seconds: float
    html: Path


def _build_book(out: Path) -> None:
    """Build the book of this checkout into ``out``, recording its outcome next to it.

    The notebooks are those ``make test`` executed under nbmake earlier in the same run
    (``ADALEARN_EXECUTED_BOOK`` names their folder); without it, they are executed here first,
    under nbmake too. Either way each runs once, and the build reads its outputs only after
    checking that they come from this checkout as it is now.
    """
    start = time.perf_counter()
    given = os.environ.get("ADALEARN_EXECUTED_BOOK")
    folder = Path(given) if given else out / "executed"
    log, returncode = "", 0
    try:
        if not given:
            executed_book.prepare(folder)
            ran = executed_book.execute(folder, timeout=BUILD_TIMEOUT)
            log = ran.stdout
        problems = executed_book.problems(folder)
        if problems:
            log += "\nThe book is not built from these notebooks:\n" + "\n".join(problems)
            returncode = -1
        else:
            returncode, build_log = executed_book.build(folder, out, timeout=BUILD_TIMEOUT)
            log += build_log
    except subprocess.TimeoutExpired as timeout:
        # Recorded like a failed build, so the other workers do not start it again.
        output = timeout.output or b""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        log += f"{output}\nThe build did not finish within {BUILD_TIMEOUT} s."
        returncode = -1
    (out / "build.log").write_text(log, encoding="utf-8")
    (out / "build.seconds").write_text(f"{time.perf_counter() - start:.1f}")
    (out / "build.returncode").write_text(str(returncode))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # Before -m selects: `make test` runs the tests of the built book after nbmake's run.
    for item in items:
        if "book_build" in getattr(item, "fixturenames", ()):
            item.add_marker("notebooks")


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
