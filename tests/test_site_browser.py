"""Every page of the built book runs in headless Chromium without a script error.

Pages are served from 127.0.0.1. Failed loads of files from other hosts (the CDNs of MathJax
and of the widget scripts, unreachable on an offline machine) are allowed; every other
console error, every uncaught exception and every failed local load fails the test.

Animations are the players of ``adalearn.animation``: an element of class
``adalearn-player`` holding a play button (``adl-play``) and a step counter (``adl-step``,
text whose first integer is the step shown). Once play is pressed, the step must advance.
"""

import re
from urllib.parse import urlsplit

import pytest
from _browser import HOST

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SETTLE_MS = 300  # lets scripts that run after the load event report their errors
PLAY_TIMEOUT_MS = 5000
PLAYER, PLAY, STEP = ".adalearn-player", ".adl-play", ".adl-step"


def is_local(url):
    return urlsplit(url).hostname == HOST


def is_page_resource(url):
    """Tell whether the page itself asked for ``url`` (browsers ask for /favicon.ico alone)."""
    return is_local(url) and urlsplit(url).path != "/favicon.ico"


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
    """The step a player's counter shows."""
    text = player.locator(STEP).first.text_content()
    match = re.search(r"\d+", text)
    assert match, f"no step number in {text!r}"
    return int(match.group())


def player_advances(page, player):
    """Press a player's play button; tell whether its step then advances within the timeout."""
    # A player that sits at its last step restarts from 0 on play, so the step is compared
    # with its value just after the press, not before it.
    player.locator(PLAY).first.click()
    started = current_step(player)
    for _ in range(PLAY_TIMEOUT_MS // 100):
        page.wait_for_timeout(100)
        if current_step(player) > started:
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
        if PLAYER[1:] not in path.read_text(encoding="utf-8"):
            continue
        name = path.relative_to(book_build.html).as_posix()
        page, _ = open_page(browser, base + name)
        players = page.locator(PLAYER)
        for index in range(players.count()):
            if not player_advances(page, players.nth(index)):
                stuck.append(f"{name}: player {index}")
        page.close()
    assert not stuck, f"animations that do not advance on play: {stuck}"


PLAYER_PAGE = """<!DOCTYPE html><html><body>
<div class="adalearn-player">
  <button class="adl-play">play</button><span class="adl-step">step 50 / 50</span>
</div>
<div class="adalearn-player">
  <button class="adl-play">play</button><span class="adl-step">step 50 / 50</span>
</div>
<script>
const [good, broken] = document.querySelectorAll(".adalearn-player");
good.querySelector("button").onclick = () => {
  let step = 0;
  const counter = good.querySelector(".adl-step");
  counter.textContent = "step 0 / 50";
  setInterval(() => { step += 1; counter.textContent = `step ${step} / 50`; }, 20);
};
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
    players = page.locator(PLAYER)
    assert problems == []
    assert current_step(players.nth(1)) == 50
    assert player_advances(page, players.nth(0))
    assert not player_advances(page, players.nth(1))
    page.close()

    page, problems = open_page(browser, base + "bad.html")
    page.locator(PLAYER).nth(1).locator(PLAY).click()
    page.wait_for_timeout(SETTLE_MS)
    page.close()
    assert any("missing.png" in problem for problem in problems), problems
    assert any("undefinedName" in problem for problem in problems), problems
    assert not any("cdn.invalid" in problem for problem in problems), problems
