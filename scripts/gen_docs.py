"""Doc tables the code produces, kept between markers so that a generator rewrites only its own
part of a page and a test can tell when a page drifted from the code.

    <!-- begin generated: netft plan --table model=llama3_8b -->
    | method | parallel | ... |
    <!-- end generated: netft plan --table model=llama3_8b -->

A block named by a `netft plan ...` command holds what that command prints (with --table the
table, else the advice line; rendered here, checked by tests/test_docs.py); other blocks belong to the script that names them
(bench/bench_sft.py rewrites its block of docs/benchmarks.md and keeps the rest of the page).

    python scripts/gen_docs.py            rewrite every `netft plan` block under docs/ (make docs)
    python scripts/gen_docs.py --check    exit 1 naming the blocks that differ from the code
"""
from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"<!-- begin generated: (?P<name>.+?) -->\n(?P<body>.*?)"
                   r"<!-- end generated: (?P=name) -->", re.S)


def begin(name: str) -> str:
    return f"<!-- begin generated: {name} -->"


def end(name: str) -> str:
    return f"<!-- end generated: {name} -->"


def blocks(text: str) -> list[tuple[str, str]]:
    """(name, body) of every generated block of a page."""
    return [(m["name"], m["body"]) for m in BLOCK.finditer(text)]


def replace_block(text: str, name: str, body: str) -> str:
    """The page with block `name` holding `body`; everything outside it kept as it was."""
    body = body.rstrip("\n") + "\n"
    new, n = re.subn(re.escape(begin(name)) + r"\n.*?" + re.escape(end(name)),
                     lambda _: f"{begin(name)}\n{body}{end(name)}", text, flags=re.S)
    if n != 1:
        raise ValueError(f"expected one block {begin(name)} ... {end(name)}, found {n}")
    return new


def write_block(path: Path, name: str, body: str) -> None:
    """Rewrite block `name` of `path` (a new page: the block alone)."""
    path = Path(path)
    text = path.read_text() if path.exists() else f"{begin(name)}\n{end(name)}\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_block(text, name, body))


def render(name: str) -> str | None:
    """The body a block named `name` should hold, or None when this script does not own it."""
    argv = shlex.split(name)
    if argv[:2] != ["netft", "plan"]:
        return None
    from netft.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(argv[1:])
    lines = out.getvalue().splitlines()
    if "--table" in argv:  # the table
        return "".join(ln + "\n" for ln in lines if ln.startswith("|"))
    return f"```\n{lines[-1]}\n```\n"  # the advice line


def stale(path: Path) -> list[str]:
    """Names of the blocks of `path` that differ from what the code renders now."""
    return [name for name, body in blocks(Path(path).read_text())
            if (want := render(name)) is not None and want != body]


def pages() -> list[Path]:
    return sorted((ROOT / "docs").glob("*.md"))


def main(argv=None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    drifted = []
    for page in pages():
        for name in stale(page):
            drifted.append(f"{page.relative_to(ROOT)}: {name}")
            if not check:
                write_block(page, name, render(name))
    for line in drifted:
        print(("stale " if check else "rewrote ") + line)
    return 1 if check and drifted else 0


if __name__ == "__main__":
    sys.exit(main())
