"""What a reader of the published book sees of its code, counted per chapter.

Usage::

    python tools/book_audit.py            # a table of every chapter in _toc.yml
    python tools/book_audit.py --check    # the same, and exit 1 when a page breaks a rule

Counted from the notebooks (the published page shows exactly the cells and inputs counted):

- *visible code lines*: non-blank source lines of code cells whose input the page shows, that
  is cells tagged neither ``remove-cell``, ``remove-input`` nor ``hide-input``;
- *visible asserts*: those of them that assert (``assert``, ``np.testing.assert_...``,
  ``torch.testing.assert_close``, ``pytest.raises``);
- *framing*: mentions, in Markdown cells or visible code, of documents a reader never saw
  ("the lab", "the seed", "the Keras seed", ...).

The rules ``--check`` enforces: no visible assert and no framing on any page, and at most
:data:`CODE_BUDGET` visible code lines a chapter on average.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

try:
    from tools.book_pages import ROOT, toc_files
except ImportError:  # run as a script: python tools/book_audit.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tools.book_pages import ROOT, toc_files

HIDDEN_TAGS = {"remove-cell", "remove-input", "hide-input"}
CODE_BUDGET = 130  # visible code lines per chapter, on average
ASSERT = re.compile(
    r"^\s*(assert\b|np\.testing\.assert|numpy\.testing\.assert|torch\.testing\.assert"
    r"|with pytest\.raises)"
)
FRAMING = re.compile(
    r"\bthe lab\b|\blab's\b|\b(?:Theano|Keras|PyTorch|Lasagne|NNDL) seed\b|\bseed's\b"
    r"|\bthe seeds?\b(?! \d)|\bseed (?:document|text|post)s?\b",
    re.IGNORECASE,
)


def audit(notebook: Path) -> dict:
    """Counts of one notebook: visible code lines and asserts, framing mentions."""
    if notebook.suffix == ".md":
        text = notebook.read_text(encoding="utf-8")
        return {"code": 0, "asserts": 0, "framing": len(FRAMING.findall(text))}
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    code = asserts = framing = 0
    for cell in cells:
        source = "".join(cell.get("source", ""))
        tags = set(cell.get("metadata", {}).get("tags", []))
        if cell["cell_type"] == "markdown":
            framing += len(FRAMING.findall(source))
        elif cell["cell_type"] == "code" and not tags & HIDDEN_TAGS:
            lines = [line for line in source.splitlines() if line.strip()]
            code += len(lines)
            asserts += sum(bool(ASSERT.match(line)) for line in lines)
            framing += len(FRAMING.findall(source))
    return {"code": code, "asserts": asserts, "framing": framing}


def chapters() -> list[Path]:
    """The pages of the table of contents (notebooks and Markdown), in its order."""
    found = []
    for name in toc_files():
        for suffix in (".ipynb", ".md"):
            if (ROOT / f"{name}{suffix}").is_file():
                found.append(ROOT / f"{name}{suffix}")
                break
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a rule is broken")
    args = parser.parse_args(argv)
    rows = [(path.stem, audit(path)) for path in chapters()]
    print(f"{'chapter':28s} {'code lines':>10s} {'asserts':>8s} {'framing':>8s}")
    for name, counts in rows:
        print(f"{name:28s} {counts['code']:10d} {counts['asserts']:8d} {counts['framing']:8d}")
    total = {key: sum(counts[key] for _, counts in rows) for key in ("code", "asserts", "framing")}
    print(f"{'total':28s} {total['code']:10d} {total['asserts']:8d} {total['framing']:8d}")
    problems = []
    if total["asserts"]:
        problems.append(f"{total['asserts']} visible asserts")
    if total["framing"]:
        problems.append(f"{total['framing']} mentions of documents the reader never saw")
    notebooks = sum(path.suffix == ".ipynb" for path in chapters())
    if notebooks and total["code"] > CODE_BUDGET * notebooks:
        problems.append(f"{total['code']} visible code lines, over {CODE_BUDGET} a chapter")
    for problem in problems:
        print(f"book_audit: {problem}", file=sys.stderr)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
