"""Sphinx extension: a built page loads nothing from the network.

- MathJax 3 is served by the site itself. ``mathjax_path`` (``_config.yml``) names
  ``mathjax/tex-chtml.js`` under ``_static``; this extension copies that file, the fonts it
  typesets with and the TeX extensions it loads on demand (``\\boldsymbol``, ``\\cancel``, ...)
  from the pinned npm package that the install step puts in
  ``tools/widget-assets/node_modules`` (``npm ci --prefix tools/widget-assets``). Nothing
  else of the package's 24 MB goes into the site.
- Pages show no ipywidgets: a playground's output carries an explorer as HTML, which the book
  prefers (``nb_mime_priority_overrides``). myst-nb would still embed the frozen widget
  state that execution recorded, and load RequireJS and the widget manager from CDNs to draw
  it; ``nb_ipywidgets_js`` is empty, and this extension drops the state script.
"""

import json
import shutil
from pathlib import Path

from sphinx.errors import ExtensionError

ROOT = Path(__file__).resolve().parents[2]
MATHJAX = ROOT / "tools" / "widget-assets" / "node_modules" / "mathjax"
MATHJAX_MAJOR = "3"
# What tex-chtml.js needs next to it, relative to the package's es5 folder.
MATHJAX_PARTS = ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def mathjax_version():
    """The installed MathJax's version; ExtensionError when it is missing or not MathJax 3."""
    manifest = MATHJAX / "package.json"
    if not manifest.is_file():
        raise ExtensionError(
            f"MathJax is not installed at {MATHJAX}: run `npm ci --prefix tools/widget-assets` "
            "(make does it)"
        )
    version = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    if version.split(".")[0] != MATHJAX_MAJOR:
        raise ExtensionError(f"the book is typeset with MathJax 3; installed: MathJax {version}")
    return version


def _check(app, config):
    if config.mathjax_path != "mathjax/tex-chtml.js":
        raise ExtensionError(
            "mathjax_path must be 'mathjax/tex-chtml.js', the copy this extension serves; "
            f"got {config.mathjax_path!r}"
        )
    mathjax_version()


def _copy_mathjax(app):
    # Before the pages are written, so that each names the file with its checksum.
    if app.builder.format != "html":
        return
    source = MATHJAX / "es5"
    target = Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part, dirs_exist_ok=True)
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / part, target / part)


def _drop_widget_state(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files", [])
    kept = [s for s in scripts if getattr(s, "attributes", {}).get("type") != WIDGET_STATE]
    if len(kept) != len(scripts):
        context["script_files"] = kept


def setup(app):
    app.connect("config-inited", _check)
    app.connect("html-page-context", _drop_widget_state, priority=900)
    app.connect("builder-inited", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
