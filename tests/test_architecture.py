"""The shape of the codebase: module sizes, the import graph, where the environment is read.

These read the source with ``ast``; they fail with the offending modules named, so a change that
breaks a rule says where.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

from tests.conftest import PROJECT_ROOT

PACKAGES = ("studio", "renderers", "evaluations")
CHECKED_TREES = (*PACKAGES, "benchmarks", "scripts", "tests")
MAX_MODULE_LINES = 800
MAX_FORMAT_SKIPS = 20


def python_files(*trees: str) -> list[Path]:
    files = [PROJECT_ROOT / "app.py"]
    for tree in trees:
        files += sorted((PROJECT_ROOT / tree).rglob("*.py"))
    return [path for path in files if ".venv" not in path.parts]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """Every module of ``modules`` that ``path`` imports anywhere (function-level imports too)."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            while name and name not in modules:  # `from pkg import name`: the module or the package
                name = name.rpartition(".")[0]
            if name and name != this:
                found.add(name)
    return found


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm)."""
    files = {module_name(path): path for path in python_files(*PACKAGES) if path.name != "app.py"}
    graph = {name: imported_modules(path, set(files)) for name, path in files.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return cycles


def test_no_module_is_over_800_lines():
    long = {
        str(path.relative_to(PROJECT_ROOT)): n
        for path in python_files(*CHECKED_TREES)
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these by job: {long}"


def test_no_import_cycle_even_through_function_level_imports():
    assert import_cycles() == []


def test_the_cycle_finder_finds_a_cycle(tmp_path, monkeypatch):
    (tmp_path / "studio").mkdir()
    (tmp_path / "studio" / "__init__.py").write_text("")
    (tmp_path / "studio" / "a.py").write_text("def f():\n    from studio.b import g\n")
    (tmp_path / "studio" / "b.py").write_text("from studio import a\n")
    for package in ("renderers", "evaluations"):
        (tmp_path / package).mkdir()
    (tmp_path / "app.py").write_text("")
    monkeypatch.setattr(sys.modules[__name__], "PROJECT_ROOT", tmp_path)
    assert import_cycles() == [["studio.a", "studio.b"]]


def test_the_environment_is_read_only_in_config():
    reads = re.compile(r"os\.environ(?:\.get)?\s*[\[(]|os\.getenv\(")
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{number}"
        for path in python_files(*PACKAGES)
        if path.relative_to(PROJECT_ROOT) != Path("studio/config.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if reads.search(line)
    ]
    assert not offenders, f"read settings through studio.config: {offenders}"


def test_renderers_are_used_through_their_public_api():
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in python_files("studio", "evaluations", "benchmarks")
        if re.search(r"^\s*(from|import) renderers\.\w+", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    assert not offenders, f"import from `renderers`, not its modules: {offenders}"


def test_format_skips_are_kept_for_tables_only():
    count = sum(
        path.read_text(encoding="utf-8").count("fmt: skip")
        + path.read_text(encoding="utf-8").count("fmt: off")
        for path in python_files(*CHECKED_TREES)
        if path != Path(__file__)
    )
    assert count <= MAX_FORMAT_SKIPS


def test_docs_in_code_cite_no_document_the_repository_lacks():
    offenders = [
        str(path.relative_to(PROJECT_ROOT))
        for path in python_files(*CHECKED_TREES)
        if path != Path(__file__) and "DESIGN.md" in path.read_text(encoding="utf-8")
    ]
    assert not offenders
