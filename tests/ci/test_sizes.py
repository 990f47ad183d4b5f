"""No module in controller/ over MODULE_LINES lines and no function over FUNCTION_LINES: a reader
holds a function in one screen and finds a file by its name. The modules and functions over the
limit when the rule came in are listed with their size then: they may shrink, never grow, and one
back within the limit must leave the list (so the list only gets shorter)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULE_LINES = 300
FUNCTION_LINES = 60

# path (or path::function) -> lines when the rule came in (issue 11); every one has been split since:
# keep it empty (split, never raise).
KNOWN: dict[str, int] = {}


def sizes() -> dict[str, int]:
    """Every module's lines and every function's (decorators excluded), keyed as in KNOWN."""
    out: dict[str, int] = {}
    for path in sorted((ROOT / "controller").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        out[rel] = len(text.splitlines())
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                key = f"{rel}::{node.name}"
                out[key] = max(out.get(key, 0), (node.end_lineno or node.lineno) - node.lineno + 1)
    return out


def over(key: str, lines: int) -> bool:
    return lines > (FUNCTION_LINES if "::" in key else MODULE_LINES)


def test_no_new_module_or_function_over_the_limit() -> None:
    found = sizes()
    assert len(found) > 100  # every layer was read
    new = [f"{k}: {n} lines" for k, n in sorted(found.items()) if over(k, n) and k not in KNOWN]
    assert not new, "split these (modules <= 300 lines, functions <= 60):\n" + "\n".join(new)


def test_the_known_ones_never_grow() -> None:
    found = sizes()
    grown = [f"{k}: {found[k]} lines (was {n})" for k, n in KNOWN.items() if found.get(k, 0) > n]
    assert not grown, "\n".join(grown)


def test_the_list_only_gets_shorter() -> None:
    found = sizes()
    done = [k for k in KNOWN if not over(k, found.get(k, 0))]
    assert not done, "within the limit now (or gone): remove from KNOWN:\n" + "\n".join(done)


def test_the_rule_sees_a_long_function() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LINES))
    tree = ast.parse(f"def f():\n{body}\n")
    f = tree.body[0]
    assert isinstance(f, ast.FunctionDef) and over("m.py::f", f.end_lineno - f.lineno + 1)
