"""The book's table of contents and the weight of its built pages.

Shared by the tests (``tests/test_book.py``), which hold the pages to their budgets, and the
benchmarks (``benchmarks/bench_book.py``), which print what they weigh.
"""

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files():
    """The documents _toc.yml lists, as paths relative to the repository without suffix."""

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("root", "file"):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return list(walk(yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))))


class _Resources(HTMLParser):
    """Collect the ``src`` and ``href`` attributes of an HTML page."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        self.urls.extend(value for name, value in attrs if name in ("src", "href") and value)


def page_weight(page, site):
    """Bytes of ``page`` plus the distinct files of ``site/_images`` it shows or links."""
    parser = _Resources()
    parser.feed(page.read_text(encoding="utf-8"))
    images = site / "_images"
    files = set()
    for url in parser.urls:
        parts = urlsplit(url)
        if parts.scheme or parts.netloc or not parts.path:
            continue
        target = (page.parent / unquote(parts.path)).resolve()
        if target.is_relative_to(images) and target.is_file():
            files.add(target)
    return page.stat().st_size + sum(f.stat().st_size for f in files)
