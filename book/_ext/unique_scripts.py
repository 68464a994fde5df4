"""Sphinx extension: emit each script of a page once.

sphinx-thebe adds its inline configuration script (``const THEBE_JS_URL = ...``) during
``env-before-read-docs``, after the HTML builder has started. Sphinx then lists it twice, once
with ``filename=None`` and once with ``filename=''``, which its own duplicate check does not
equate. The second ``const`` declaration throws a SyntaxError in the browser on every page.
This extension drops a script that repeats an earlier one, comparing file name (an empty
name and no name are the same), priority and attributes.
"""


def _key(script):
    if isinstance(script, str):
        return (script, None, ())
    return (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))


def _drop_repeated_scripts(app, pagename, templatename, context, doctree):
    seen = set()
    unique = []
    for script in context.get("script_files", []):
        key = _key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _drop_repeated_scripts)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
