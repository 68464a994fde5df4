"""Headless Chromium and a local HTTP server, shared by the browser tests and benchmarks."""

import functools
import http.server
import os
import re
import shutil
import threading

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
