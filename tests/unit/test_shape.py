"""The shape rules (``tests/shape.py``): the tree keeps them, and the checker counts as documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.shape import MAX_FUNCTION_LINES, MAX_MODULE_LINES, shape_violations


def test_plugins_and_dags_keep_their_shape():
    assert shape_violations() == []


def _function(name: str, lines: int, indent: str = "") -> list[str]:
    """A function of exactly ``lines`` lines, ``def`` line included."""
    return [f"{indent}def {name}():", *[f"{indent}    x = {i}" for i in range(lines - 1)]]


def _check(tmp_path: Path, lines: list[str]) -> list[str]:
    module = tmp_path / "plugins" / "pkg" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text("\n".join(lines) + "\n")
    return shape_violations(["plugins"], base=tmp_path)


def _padded(body: list[str], total: int) -> list[str]:
    return body + [f"y{i} = {i}" for i in range(total - len(body))]


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(_padded([], MAX_MODULE_LINES), [], id="module-at-the-limit"),
        pytest.param(
            _padded([], MAX_MODULE_LINES + 1), [f"plugins/pkg/mod.py: 401 lines (limit {MAX_MODULE_LINES})"], id="module-over"
        ),
        pytest.param(_function("ok", MAX_FUNCTION_LINES), [], id="function-at-the-limit"),
        pytest.param(
            ["", *_function("long", MAX_FUNCTION_LINES + 1)],
            [f"plugins/pkg/mod.py:2 long(): 61 lines (limit {MAX_FUNCTION_LINES})"],
            id="function-over",
        ),
        pytest.param(["@decorator", "@other", *_function("ok", MAX_FUNCTION_LINES)], [], id="decorators-not-counted"),
        pytest.param(
            ["class C:", *_function("method", MAX_FUNCTION_LINES + 1, indent="    ")],
            ["plugins/pkg/mod.py:2 C.method(): 61 lines (limit 60)"],
            id="method-over",
        ),
        pytest.param(
            ["def outer():", *_function("inner", MAX_FUNCTION_LINES, indent="    ")],
            ["plugins/pkg/mod.py:1 outer(): 61 lines (limit 60)"],
            id="nested-function-counts-in-its-enclosing-one",
        ),
    ],
)
def test_the_checker_counts_modules_and_functions(tmp_path, lines, expected):
    assert _check(tmp_path, lines) == expected


def test_every_module_below_the_roots_is_checked(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "dags" / "deep" / "er").mkdir(parents=True)
    (tmp_path / "dags" / "deep" / "er" / "big.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    (tmp_path / "elsewhere.py").write_text("x = 1\n" * (MAX_MODULE_LINES + 1))  # outside the roots
    assert shape_violations(["plugins", "dags"], base=tmp_path) == ["dags/deep/er/big.py: 401 lines (limit 400)"]


def test_a_missing_root_is_an_error_not_a_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="no folder"):
        shape_violations(["plugins"], base=tmp_path)
