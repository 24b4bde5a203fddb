"""The package's layers hold (docs/architecture.md, "Layers").

* the import-linter contracts of pyproject.toml (``[tool.importlinter]``) are kept: no module
  imports from a layer above its own, function-level imports included, and no two sibling
  modules or subpackages import each other;
* no two mindkit modules import each other, however indirectly (a cycle between a package's
  ``__init__`` and its own modules included), so no import needs to be deferred into a function
  to get past a cycle;
* no module imports an underscore name from another mindkit module (a name another module needs
  is public where it is defined).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mindkit"

# Underscore names allowed to be imported across modules, each (importer, module, name): none.
PENDING_PRIVATE_IMPORTS: set[tuple[str, str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (ROOT / rel).with_suffix(".py").is_file() or (ROOT / rel / "__init__.py").is_file()


def _private(name: str) -> bool:
    """``_x`` is private; ``__x__`` (``__version__``) is not."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _imported_from(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def private_imports() -> set[tuple[str, str, str]]:
    """Every (importer, module, name) where a mindkit module takes an underscore name from
    another mindkit module: ``from m import _x``, ``import m._x``, or ``m._x`` on a mindkit
    module bound by an import."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = _module_name(path)
        tree = ast.parse(path.read_text(), filename=str(path))
        modules = {}  # local name -> mindkit module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = _imported_from(importer, path.name == "__init__.py", node)
                if source.split(".")[0] != "mindkit":
                    continue
                for alias in node.names:
                    if _private(alias.name) or any(_private(p) for p in source.split(".")):
                        found.add((importer, source, alias.name))
                    if _is_module(f"{source}.{alias.name}"):
                        modules[alias.asname or alias.name] = f"{source}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] != "mindkit":
                        continue
                    parts = alias.name.split(".")
                    if any(_private(p) for p in parts):
                        found.add((importer, alias.name, parts[-1]))
                    if alias.asname:
                        modules[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules and _private(node.attr)):
                found.add((importer, modules[node.value.id], node.attr))
    return {f for f in found if f[0] != f[1]}


def _run_in_checkout(code: str) -> subprocess.CompletedProcess:
    """``code`` in a child process whose ``mindkit`` is this checkout's (not another installed
    copy), from the repository root."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_import_linter_contracts_are_kept():
    """``lint-imports`` with pyproject.toml's contracts."""
    done = _run_in_checkout(
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    report = done.stdout + done.stderr
    assert done.returncode == 0 and " 0 broken." in report, report


def test_no_import_cycle_between_modules():
    """No strongly connected set of modules in the import graph (grimp's, which counts imports
    inside functions too): a deferred import cannot hide a cycle."""
    done = _run_in_checkout(  # grimp comes with import-linter (the [dev] extras)
        "import json, grimp; g = grimp.build_graph('mindkit', cache_dir=None); "
        "print(json.dumps({m: sorted(g.find_modules_directly_imported_by(m)) "
        "for m in g.modules}))")
    assert done.returncode == 0, done.stderr
    edges = json.loads(done.stdout)
    # imports inside functions count: cli imports mindkit.sweep only inside its subcommands
    assert "mindkit.sweep" in edges["mindkit.cli"]
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in sorted(edges):  # Tarjan's strongly connected components, iteratively
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = len(index)
                stack.append(v)
                on_stack.add(v)
            if i < len(edges[v]):
                work.append((v, i + 1))
                w = edges[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    cycles.append(sorted(comp))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    assert not cycles, f"modules that import each other: {cycles}"


def test_no_underscore_name_is_imported_from_another_module():
    found = private_imports()
    new = sorted(found - PENDING_PRIVATE_IMPORTS)
    assert not new, ("underscore names imported from another mindkit module (make the name "
                     f"public where it is defined): {new}")
    gone = sorted(PENDING_PRIVATE_IMPORTS - found)
    assert not gone, f"no longer imported, drop them from PENDING_PRIVATE_IMPORTS: {gone}"


def test_the_private_import_check_sees_each_form(tmp_path, monkeypatch):
    """The AST walk flags ``from m import _x``, a relative ``from .m import _x`` and ``m._x``
    (a check that cannot fail would prove nothing)."""
    fake = tmp_path / "mindkit"
    (fake / "sub").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "sub" / "__init__.py").write_text("")
    (fake / "sub" / "a.py").write_text("_x = 1\n__version__ = '0'\n")
    (fake / "sub" / "b.py").write_text("from mindkit.sub.a import _x, __version__\n")
    (fake / "sub" / "c.py").write_text("from .a import _x\n")
    (fake / "sub" / "d.py").write_text("from mindkit.sub import a\ny = a._x\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert private_imports() == {("mindkit.sub.b", "mindkit.sub.a", "_x"),
                                 ("mindkit.sub.c", "mindkit.sub.a", "_x"),
                                 ("mindkit.sub.d", "mindkit.sub.a", "_x")}
