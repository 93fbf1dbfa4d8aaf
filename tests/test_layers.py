"""The package's layers only look down: no module imports a higher layer, lazily or not, relative imports
included (docs/architecture.md). The same rule as ../shared/tools/layer_check.py, kept here so that the
suite fails on a violation without anything beside the checkout."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import agorabench

ROOT = Path(agorabench.__file__).parent
LAYERS = [
    {"io", "taxonomy", "results", "errors", "jsonl", "__init__"},
    {"llm"}, {"data"}, {"generation"}, {"training"}, {"evaluation"}, {"metrics"}, {"analysis"}, {"report"},
    {"pipeline"},
    {"cli", "__main__", "testing"},
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}


def _top(part: str) -> str:
    return part[:-3] if part.endswith(".py") else part


def imported_modules(path: Path) -> list[tuple[int, list[str]]]:
    """(line, dotted parts) of every import of `path`, relative ones resolved against its package."""
    package = ["agorabench", *path.relative_to(ROOT).parts[:-1]]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.append((node.lineno, (node.module or "").split(".")))
            else:
                base = package[: len(package) - (node.level - 1)]
                if node.module:
                    found.append((node.lineno, [*base, *node.module.split(".")]))
                else:
                    found += [(node.lineno, [*base, alias.name]) for alias in node.names]
    return found


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(ROOT.rglob("*.py")):
        me = _top(path.relative_to(ROOT).parts[0])
        if me not in LAYER:
            problems.append(f"{path.relative_to(ROOT)}: top-level {me!r} has no layer")
            continue
        for line, parts in imported_modules(path):
            if parts[0] != "agorabench" or len(parts) < 2:
                continue
            other = _top(parts[1])
            if other in LAYER and LAYER[other] > LAYER[me]:
                problems.append(f"{path.relative_to(ROOT)}:{line}: {me} imports {'.'.join(parts)}")
    return problems


def test_no_module_imports_a_higher_layer():
    assert upward_imports() == []


def test_the_top_level_holds_only_the_layers():
    names = {_top(p.name) for p in ROOT.iterdir() if (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert names <= set(LAYER), names - set(LAYER)


def test_the_checker_sees_lazy_and_relative_upward_imports(tmp_path, monkeypatch):
    # A fake package tree with one lazy absolute and one relative upward import, checked by the same code.
    fake = tmp_path / "agorabench"
    (fake / "llm").mkdir(parents=True)
    (fake / "llm" / "bad.py").write_text("def f():\n    from agorabench.pipeline import run\n")
    (fake / "data").mkdir()
    (fake / "data" / "worse.py").write_text("from ..report import html\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", fake)
    problems = upward_imports()
    assert any("llm/bad.py:2: llm imports agorabench.pipeline" in p for p in problems)
    assert any("data/worse.py:1: data imports agorabench.report" in p for p in problems)
