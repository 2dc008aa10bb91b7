"""Shape rules of the code: no module of ``plugins/`` or ``dags/`` over :data:`MAX_MODULE_LINES` lines,
no function over :data:`MAX_FUNCTION_LINES` lines.

A function's length runs from its ``def`` line to its last line (decorators not counted); a nested
function counts on its own and as part of the function around it. ``python -m tests.shape`` prints
every violation and exits 1, or prints one OK line and exits 0 (``make lint`` runs it).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = ("plugins", "dags")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def shape_violations(roots: Iterable[str | Path] = ROOTS, base: Path = REPO) -> list[str]:
    """Every module over :data:`MAX_MODULE_LINES` and every function over :data:`MAX_FUNCTION_LINES` lines.

    Args:
        roots: folders to walk (every ``*.py`` below them), relative to ``base`` or absolute.
        base: the folder paths are reported relative to (the repository root).

    Returns:
        One readable line per violation, e.g. ``plugins/x.py: 401 lines (limit 400)`` or
        ``plugins/x.py:12 foo(): 61 lines (limit 60)``; empty when the code keeps its shape.

    Raises:
        FileNotFoundError: a root is not a folder.
    """
    found: list[str] = []
    for path in _python_files(roots, base):
        name = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
        found.extend(_module_violations(name, path.read_text(encoding="utf-8")))
    return found


def _python_files(roots: Iterable[str | Path], base: Path) -> Iterator[Path]:
    for root in roots:
        folder = base / root  # an absolute root stays itself
        if not folder.is_dir():  # a moved or misspelt root must not pass as "no violation"
            raise FileNotFoundError(f"shape check: no folder {folder}")
        yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _module_violations(name: str, source: str) -> list[str]:
    found = []
    lines = len(source.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name}: {lines} lines (limit {MAX_MODULE_LINES})")
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        return [*found, f"{name}:{exc.lineno} cannot be parsed: {exc.msg}"]
    for qualname, node in _functions(tree):
        length = node.end_lineno - node.lineno + 1
        if length > MAX_FUNCTION_LINES:
            found.append(f"{name}:{node.lineno} {qualname}(): {length} lines (limit {MAX_FUNCTION_LINES})")
    return found


def _functions(node: ast.AST, prefix: str = "") -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method below ``node`` (nested ones too), with its dotted name."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield f"{prefix}{child.name}", child
            yield from _functions(child, f"{prefix}{child.name}.")
        elif isinstance(child, ast.ClassDef):
            yield from _functions(child, f"{prefix}{child.name}.")
        else:
            yield from _functions(child, prefix)


def main() -> int:
    """Print the violations (exit status 1) or one OK line (0)."""
    found = shape_violations()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} shape violation(s): split the module or function", file=sys.stderr)
        return 1
    print(f"shape OK: {', '.join(f'{r}/' for r in ROOTS)} modules <= {MAX_MODULE_LINES} lines, functions <= {MAX_FUNCTION_LINES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
