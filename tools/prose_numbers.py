#!/usr/bin/env python3
"""List the numbers a notebook's prose states that none of its outputs show.

    python3 prose_numbers.py notebooks/*.ipynb        # report, exit 1 if any found
    python3 prose_numbers.py --json notebooks/03*.ipynb

A number in a markdown cell counts as shown when, after removing thousands
separators, it equals a number printed in any output of the same notebook
(stream, text/plain, text/html, text/markdown) rounded to the prose's own
precision ("4.8x" is shown by an output "4.77"), or appears in a code cell's
source (a setting such as a learning rate or an epoch count).

A markdown line may instead attribute its numbers to a record committed in the
repository by naming the file's path in backticks, e.g.
"(measured on an H100, `benchmarks/records/h100_vgg16.json`)": the numbers are
then looked up in that file.

Not counted as claims: integers up to --small (default 20: block numbers,
seeds, layer counts), numbers inside inline code spans or identifiers
(`block5_conv3`, `layers[:10]`), list/heading numbering, years, and a
notebook's own number. This is a reading aid with rough edges, not a judge:
read what it flags.

--strict adds the rules a measured claim needs: a quantity with a unit
(12 %, 3×, 3.5x, 1.63 s, 590 ms, 104 MB, 2 GiB) is checked whatever its size,
glued units included, and it counts as shown only by an output or a named
record, never by a number in code (a setting is not a measurement).
Dimensions such as 3×3 or 32x32 are not quantities.

tests/test_lesson_numbers.py runs it on every lesson with --strict, so the
course's check lives in this repository (it began as the reader in the
course's shared tools).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:[,\u202f\u2009 ]\d{3})+|\d+)(\.\d+)?(?![\w])")
CODE_SPAN = re.compile(r"`[^`]*`")
IDENT = re.compile(r"\b\w*[A-Za-z_]\w*\d\w*\b|\b\d+[A-Za-z_]\w*\b")
LIST_NUMBER = re.compile(r"^\s*(?:#+\s*)?\d+[.)]\s")
RECORD = re.compile(r"`([\w./-]+\.(?:json|csv|txt|md|tsv))`")
QUANTITY = re.compile(
    r"(?<![\w.×])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s?"
    r"(%|×(?!\s?\d)|x(?![\w\d])|ms\b|s\b|MB\b|MiB\b|GB\b|GiB\b|KB\b|KiB\b)"
)


def _numbers(text: str) -> list[str]:
    found = []
    for whole, frac in NUMBER.findall(text):
        digits = re.sub(r"[,\u202f\u2009 ]", "", whole)
        found.append(digits + (frac or ""))
    return found


def _matches(claim: str, shown: set[float]) -> bool:
    decimals = len(claim.split(".")[1]) if "." in claim else 0
    value = float(claim)
    return any(round(s, decimals) == value for s in shown)


def _text_of(output: dict) -> str:
    parts = [output.get("text", "")]
    data = output.get("data", {})
    for kind in ("text/plain", "text/html", "text/markdown"):
        parts.append(data.get(kind, ""))
    return "".join("".join(p) if isinstance(p, list) else p for p in parts)


def unshown_numbers(
    path: Path, small: int = 20, root: Path | None = None, strict: bool = False
) -> list[dict]:
    """Numbers stated in markdown cells of `path` that its outputs and code do not show.

    Args:
        path: The notebook.
        small: Integers up to this are not counted as claims.
        root: Where record paths named in the prose are looked up (the
            notebook's grandparent folder when None).
        strict: Also check every quantity with a unit, against outputs and
            records only.

    Returns:
        One dict per flagged number: notebook, cell index, number and line.
    """
    nb = json.loads(path.read_text())
    root = root or path.resolve().parent.parent
    shown: set[float] = set()
    printed: set[float] = set()
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        shown.update(float(n) for n in _numbers("".join(cell["source"])))
        for output in cell.get("outputs", []):
            printed.update(float(n) for n in _numbers(_text_of(output)))
    shown |= printed
    own_number = re.match(r"(\d+)", path.name)
    flagged = []
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        for line in "".join(cell["source"]).splitlines():
            record_numbers: set[float] = set()
            for record in RECORD.findall(line):
                file = root / record
                if file.is_file():
                    record_numbers.update(
                        float(n) for n in _numbers(file.read_text(errors="replace"))
                    )
            plain = CODE_SPAN.sub(" ", LIST_NUMBER.sub(" ", line))
            if strict:
                for whole, frac, unit in QUANTITY.findall(plain):
                    claim = whole.replace(",", "") + (frac or "")
                    if _matches(claim, printed) or _matches(claim, record_numbers):
                        continue
                    flagged.append(
                        {
                            "notebook": str(path),
                            "cell": index,
                            "number": claim + unit,
                            "line": line.strip(),
                        }
                    )
                plain = QUANTITY.sub(" ", plain)
            prose = IDENT.sub(" ", plain)
            for claim in _numbers(prose):
                value = float(claim)
                if "." not in claim and value <= small:
                    continue
                if "." not in claim and 1900 <= value <= 2100:
                    continue
                if own_number and "." not in claim and value == int(own_number.group(1)):
                    continue
                if _matches(claim, shown) or _matches(claim, record_numbers):
                    continue
                flagged.append(
                    {"notebook": str(path), "cell": index, "number": claim, "line": line.strip()}
                )
    return flagged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--small", type=int, default=20, help="ignore integers up to this (default 20)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="check every quantity with a unit, against outputs and records only",
    )
    args = parser.parse_args(argv)
    flagged = [
        f for nb in args.notebooks for f in unshown_numbers(nb, args.small, strict=args.strict)
    ]
    if args.json:
        print(json.dumps(flagged, indent=1))
    else:
        for f in flagged:
            print(f"{f['notebook']} cell {f['cell']}: {f['number']} — {f['line'][:120]}")
        print(
            f"{len(flagged)} number(s) in prose that no output or code of the same notebook shows"
        )
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
