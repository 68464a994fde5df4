"""Sphinx extension: the book's pages name their controls and structure for screen readers.

What the book's theme (sphinx-book-theme on pydata-sphinx-theme), myst-nb and docutils write
otherwise, and what a screen reader then meets:

- A folded code cell's toggle is ``<summary aria-label="Toggle hidden content">`` around the
  visible prompt "Show code cell source" (myst-nb): its name is not what sighted readers see,
  and speech input cannot reach it by the words on it (WCAG 2.5.3, label in name). Here the
  summary has no aria-label; its name is its visible prompt, "Show code cell source" while
  folded and "Hide code cell source" while open (the theme hides the other prompt).
- The sidebar's toggles that open a chapter's sections are summaries holding only a chevron
  icon, without a name (pydata-sphinx-theme's toctree): each is named "Sections of <chapter>".
- The references are a ``role="list"`` of entries with the deprecated role
  ``doc-biblioentry`` (docutils), which is not a list item: each entry is ``role="listitem"``.
- The theme's search button is labelled "Search" around the visible "Search Ctrl+K", and its
  colour-mode button holds icons with titles, which Font Awesome turns into SVG text that
  reads as the button's visible text: ``templates`` holds the theme's two components, the
  search button named by its visible text and the icons without titles, hidden from screen
  readers.

The theme's remaining finding, the book's title in the sidebar outside every landmark (axe
"region", moderate), needs the theme's layout itself; ``tests/test_site_browser.py`` lists
it with its upstream issue.
"""

import html
import re
from pathlib import Path

from docutils import nodes
from myst_nb.sphinx_ import HideCodeCellNode

TEMPLATES = Path(__file__).resolve().parent / "templates"
# A chapter's link in the sidebar's table of contents, followed by the toggle of its sections.
_SECTION_TOGGLE = re.compile(
    r'(?P<link><a class="[^"]*\breference internal\b[^"]*" href="[^"]*">'
    r"(?P<title>(?:(?!</a>).)*)</a>)(?P<details><details[^>]*>)<summary>"
)


def _visit_hidden_cell(translator, node):
    classes = " ".join(node["classes"])
    translator.body.append(f'<details class="admonition hide {classes}">\n<summary>\n')
    translator.body.append(
        f'<p class="collapsed admonition-title">{html.escape(node["prompt_show"])}</p>\n'
        f'<p class="expanded admonition-title">{html.escape(node["prompt_hide"])}</p>\n'
    )
    translator.body.append("</summary>\n")


def _depart_hidden_cell(translator, node):
    translator.body.append("</details>\n")


def _visit_citation(translator, node):
    if not isinstance(node.previous_sibling(), type(node)):
        translator.body.append('<div role="list" class="citation-list">\n')
    translator.body.append(translator.starttag(node, "div", classes=[node.tagname],
                                               role="listitem"))


def _depart_citation(translator, node):
    translator.body.append("</div>\n")
    if not isinstance(node.next_node(descend=False, siblings=True), type(node)):
        translator.body.append("</div>\n")


def _name_section_toggles(app, pagename, templatename, context, doctree):
    generate = context.get("generate_toctree_html")
    if generate is None:
        return

    def named(*args, **kwargs):
        toc = generate(*args, **kwargs)

        def name(match):
            title = html.unescape(re.sub(r"<[^>]+>", "", match["title"])).strip()
            label = html.escape(f"Sections of {title}")
            return f'{match["link"]}{match["details"]}<summary aria-label="{label}">'

        return type(toc)(_SECTION_TOGGLE.sub(name, str(toc)))

    context["generate_toctree_html"] = named


def _add_templates(app, config):
    # Before the theme's own folders, so that these components replace the theme's.
    config.templates_path.insert(0, str(TEMPLATES))


def setup(app):
    app.setup_extension("myst_nb")
    app.add_node(HideCodeCellNode, override=True, html=(_visit_hidden_cell, _depart_hidden_cell))
    app.add_node(nodes.citation, override=True, html=(_visit_citation, _depart_citation))
    app.connect("config-inited", _add_templates)
    # After the theme's handler, which puts generate_toctree_html into the context.
    app.connect("html-page-context", _name_section_toggles, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
