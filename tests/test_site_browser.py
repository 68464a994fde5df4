"""Every page of the built book runs in headless Chromium without a script error.

Pages are served from 127.0.0.1. Failed loads of files from other hosts (the CDNs of MathJax
and of the widget scripts, unreachable on an offline machine) are allowed; every other
console error, every uncaught exception and every failed local load fails the test.

Animations: an element with the attribute ``data-adalearn-player`` is a player. Inside it,
the element with ``data-adalearn-play`` starts playback, and the element with
``data-adalearn-step`` shows the current step (an ``<input>``'s value or a text whose first
integer is the step). After a press on play, the step must advance.
"""

import functools
import http.server
import os
import re
import shutil
import threading
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HOST = "127.0.0.1"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SETTLE_MS = 300  # lets scripts that run after the load event report their errors
PLAY_TIMEOUT_MS = 5000


def chromium_path():
    """The Chromium to drive: $ADALEARN_CHROMIUM, else ``chromium`` on the PATH."""
    path = os.environ.get("ADALEARN_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("no Chromium found: install Debian's chromium or set ADALEARN_CHROMIUM")
    return path


def is_local(url):
    return urlsplit(url).hostname == HOST


def is_page_resource(url):
    """Tell whether the page itself asked for ``url`` (browsers ask for /favicon.ico alone)."""
    return is_local(url) and urlsplit(url).path != "/favicon.ico"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def serve():
    """Serve folders over HTTP on 127.0.0.1; yields a function folder -> base URL."""
    servers = []

    def start(folder):
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer((HOST, 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://{HOST}:{server.server_port}/"

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        chromium.close()


def open_page(browser, url):
    """Open ``url``; return the page and the list its problems are collected into."""
    page = browser.new_page()
    problems = []

    def on_console(message):
        if message.type != "error":
            return
        source = message.location.get("url", "")
        if message.text.startswith("Failed to load resource") and not is_page_resource(source):
            return
        problems.append(f"console error: {message.text} ({source})")

    def on_request_failed(request):
        if is_page_resource(request.url):
            problems.append(f"failed to load {request.url}: {request.failure}")

    def on_response(response):
        if is_page_resource(response.url) and response.status >= 400:
            problems.append(f"HTTP {response.status} for {response.url}")

    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    page.on("console", on_console)
    page.on("requestfailed", on_request_failed)
    page.on("response", on_response)
    page.goto(url, wait_until="load")
    page.wait_for_timeout(SETTLE_MS)
    return page, problems


def current_step(player):
    """The step a player shows, read from its ``data-adalearn-step`` element."""
    text = player.locator("[data-adalearn-step]").first.evaluate(
        "e => (e.tagName === 'INPUT' ? e.value : e.textContent)"
    )
    match = re.search(r"\d+", text)
    assert match, f"no step number in {text!r}"
    return int(match.group())


def player_advances(page, player):
    """Press a player's play control; tell whether its step advances within the timeout."""
    before = current_step(player)
    player.locator("[data-adalearn-play]").first.click()
    for _ in range(PLAY_TIMEOUT_MS // 100):
        page.wait_for_timeout(100)
        if current_step(player) > before:
            return True
    return False


def built_pages(html):
    return sorted(p for p in html.rglob("*.html") if "_static" not in p.relative_to(html).parts)


def test_every_page_runs_without_script_errors(book_build, serve, browser):
    assert book_build.returncode == 0, "the book did not build"
    base = serve(book_build.html)
    pages = built_pages(book_build.html)
    assert pages
    failures = {}
    for path in pages:
        name = path.relative_to(book_build.html).as_posix()
        page, problems = open_page(browser, base + name)
        page.close()
        if problems:
            failures[name] = problems
    assert not failures, f"script errors: {failures}"


def test_every_animation_plays(book_build, serve, browser):
    assert book_build.returncode == 0, "the book did not build"
    base = serve(book_build.html)
    stuck = []
    for path in built_pages(book_build.html):
        if "data-adalearn-player" not in path.read_text(encoding="utf-8"):
            continue
        name = path.relative_to(book_build.html).as_posix()
        page, _ = open_page(browser, base + name)
        players = page.locator("[data-adalearn-player]")
        for index in range(players.count()):
            if not player_advances(page, players.nth(index)):
                stuck.append(f"{name}: player {index}")
        page.close()
    assert not stuck, f"animations that do not advance on play: {stuck}"


PLAYER_PAGE = """<!DOCTYPE html><html><body>
<div data-adalearn-player>
  <button data-adalearn-play>play</button>
  <input type="range" min="0" max="50" value="0" data-adalearn-step>
</div>
<div data-adalearn-player>
  <button data-adalearn-play>play</button><span data-adalearn-step>step 0 of 50</span>
</div>
<script>
const [slider, broken] = document.querySelectorAll("[data-adalearn-player]");
slider.querySelector("button").onclick = () => setInterval(() => {
  const s = slider.querySelector("input"); s.value = Number(s.value) + 1;
}, 20);
BROKEN_HANDLER
</script></body></html>"""


def test_the_checks_see_errors_and_stuck_players(tmp_path, serve, browser):
    (tmp_path / "good.html").write_text(PLAYER_PAGE.replace("BROKEN_HANDLER", ""))
    (tmp_path / "bad.html").write_text(
        PLAYER_PAGE.replace("BROKEN_HANDLER", "broken.onclick = () => undefinedName();")
        + '<img src="missing.png"><script src="https://cdn.invalid/x.js"></script>'
    )
    base = serve(tmp_path)

    page, problems = open_page(browser, base + "good.html")
    players = page.locator("[data-adalearn-player]")
    assert problems == []
    assert current_step(players.nth(1)) == 0
    assert player_advances(page, players.nth(0))
    assert not player_advances(page, players.nth(1))
    page.close()

    page, problems = open_page(browser, base + "bad.html")
    page.locator("[data-adalearn-player]").nth(1).locator("[data-adalearn-play]").click()
    page.wait_for_timeout(SETTLE_MS)
    page.close()
    assert any("missing.png" in problem for problem in problems), problems
    assert any("undefinedName" in problem for problem in problems), problems
    assert not any("cdn.invalid" in problem for problem in problems), problems
