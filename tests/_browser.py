"""Headless Chromium, a local HTTP server and axe-core: shared by browser tests and benchmarks."""

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

HOST = "127.0.0.1"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Every request that is not for the local server or a local file: a pattern, not a Python
# predicate, so that the page's own requests are never paused on their way.
NON_LOCAL = re.compile(rf"^(?!http://{re.escape(HOST)}:|file:|data:|blob:)")


def chromium_path():
    """The Chromium to drive: $ADALEARN_CHROMIUM, else ``chromium`` on the PATH."""
    path = os.environ.get("ADALEARN_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail("no Chromium found: install Debian's chromium or set ADALEARN_CHROMIUM")
    return path


def refuse_network(page):
    """Abort every non-local request ``page`` makes; return the list of refused URLs."""
    refused = []

    def refuse(route):
        refused.append(route.request.url)
        route.abort()

    page.route(NON_LOCAL, refuse)
    return refused


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class Servers:
    """Serve folders over HTTP on 127.0.0.1, each on a port of its own, until ``close``."""

    def __init__(self):
        self._running = []

    def __call__(self, folder):
        """Serve ``folder``; return its base URL."""
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer((HOST, 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        self._running.append((server, thread))
        return f"http://{HOST}:{server.server_port}/"

    def close(self):
        for server, thread in self._running:
            server.shutdown()
            server.server_close()
            thread.join()


# --- accessibility: axe-core and the figures' text alternatives ---------------------------------

ROOT = Path(__file__).resolve().parent.parent
# axe-core, pinned in tools/widget-assets/package.json like the site's MathJax.
AXE = ROOT / "tools" / "widget-assets" / "node_modules" / "axe-core" / "axe.min.js"
# The part of a page that is the book's own: the theme puts a chapter in <article>.
ARTICLE = "article"
# Impacts that fail a page when inside the article.
BLOCKING = ("critical", "serious")

# Every rule of axe-core, its experimental ones included (label-content-name-mismatch is one):
# per violation, its nodes and whether each lies inside the article.
AXE_RUN = """async (article) => {
    const experimental = axe.getRules(["experimental"]).map(rule => rule.ruleId);
    const result = await axe.run(document, {
        rules: Object.fromEntries(experimental.map(id => [id, {enabled: true}])),
        resultTypes: ["violations"],
    });
    return result.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help,
        nodes: v.nodes.map(n => {
            const selector = n.target[n.target.length - 1];
            const element = typeof selector === "string" ? document.querySelector(selector) : null;
            return {target: String(selector), impact: n.impact || v.impact,
                    article: !!(element && element.closest(article)),
                    html: n.html.slice(0, 160)};
        }),
    }));
}"""

# Every figure in the article (images, canvases, elements with role img or figure, <figure>),
# with the text alternative it offers: aria-labelledby, aria-label, alt, a <figure>'s caption.
FIGURES = """(article) => {
    const scope = document.querySelector(article) || document.body;
    const text = id => (document.getElementById(id) || {textContent: ""}).textContent;
    const selector = "img, canvas, svg[role=img], [role=img], [role=figure], figure";
    return [...scope.querySelectorAll(selector)]
        .filter(e => !e.closest("[aria-hidden=true]") && e.getAttribute("role") !== "presentation"
                     && e.getAttribute("role") !== "none")
        .map(e => {
            const labelledby = (e.getAttribute("aria-labelledby") || "").split(/\\s+/)
                .filter(Boolean).map(text).join(" ");
            const caption = e.tagName === "FIGURE" && e.querySelector("figcaption");
            let name = null;
            if (labelledby) name = labelledby;
            else if (e.hasAttribute("aria-label")) name = e.getAttribute("aria-label");
            else if (e.tagName === "IMG" && e.hasAttribute("alt")) name = e.getAttribute("alt");
            else if (caption) name = caption.textContent;
            else if (e.hasAttribute("title")) name = e.getAttribute("title");
            return {figure: e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") +
                        (e.getAttribute("src") ? " " + e.getAttribute("src").slice(0, 80) : ""),
                    name: name === null ? null : name.trim()};
        });
}"""

_PATH = re.compile(r"(^|/)[^\s/]+\.(png|jpe?g|gif|svg|webp|pdf)$|^\.\.?/|^data:|^https?:", re.I)
_HASH = re.compile(r"^[0-9a-f]{16,}\b", re.I)
_GENERIC = re.compile(r"^(image|img|figure|fig\.?|plot|picture|graph|chart|png|landscape|"
                      r"<Figure size [^>]*>)$", re.I)


def real_text_alternative(name):
    """Tell whether ``name`` says something: not missing or empty, not a file path, a data or
    web address, a hash, matplotlib's ``<Figure size ...>`` or a bare word like "image"."""
    if not name or not name.strip():
        return False
    name = name.strip()
    return not (_PATH.search(name) or _HASH.match(name) or _GENERIC.match(name))


def axe_path():
    """axe-core's script; the test fails with the install command when it is missing."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed at {AXE}: run "
                    "`npm ci --prefix tools/widget-assets --ignore-scripts` (make does it)")
    return AXE


def audit(page):
    """axe-core's violations on ``page`` and its figures without a real text alternative.

    Returns ``(violations, figures)``: violations as ``{id, impact, help, nodes}`` with each
    node's ``target``, ``impact``, ``html`` and whether it is inside the article; figures as
    the descriptions of those whose text alternative is missing or not real.
    """
    page.add_script_tag(path=str(axe_path()))
    violations = page.evaluate(AXE_RUN, ARTICLE)
    figures = [f"{f['figure']} (text alternative {f['name']!r})"
               for f in page.evaluate(FIGURES, ARTICLE) if not real_text_alternative(f["name"])]
    return violations, figures


def blocking(violations, *, article=True):
    """The critical and serious nodes of ``violations`` inside (or outside) the article, as
    ``"rule-id (impact): target"`` lines."""
    return [f"{v['id']} ({node['impact']}): {node['target']}"
            for v in violations for node in v["nodes"]
            if node["impact"] in BLOCKING and node["article"] == article]
