"""The house's boundaries, read statically from the source (ast): who may import whom, and no import cycles.

- the shared core ``hecktor`` imports neither container package (``algorithm``, ``evaluation``), nor the
  generator, nor torch/MONAI;
- the evaluation imports no torch/MONAI and nothing of the algorithm or the generator;
- the algorithm imports nothing of the evaluation or the generator (its image ships neither);
- no import cycles between first-party modules (lazy imports inside functions included);
- the generator (``synthetic/``) is kept out of both images.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hecktor", "evaluation", "algorithm", "synthetic", "bench")
FORBIDDEN: dict[str, set[str]] = {
    "hecktor": {"algorithm", "evaluation", "synthetic", "bench", "torch", "monai"},
    "evaluation": {"algorithm", "synthetic", "bench", "torch", "monai"},
    "algorithm": {"evaluation", "synthetic", "bench"},
    "synthetic": {"algorithm", "evaluation", "bench", "torch", "monai"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    """Absolute names of every module ``name`` imports (``from pkg import sub`` yields ``pkg.sub`` when a module)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                yield sub if sub in MODULES else module


def _graph() -> dict[str, set[str]]:
    return {name: {m for m in _imports(name, path) if m in MODULES and m != name} for name, path in MODULES.items()}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_what_it_may(package: str) -> None:
    bad = sorted(
        f"{name} imports {imported}"
        for name, path in MODULES.items()
        if name.split(".")[0] == package
        for imported in _imports(name, path)
        if imported.split(".")[0] in FORBIDDEN[package]
    )
    assert not bad, bad


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(component)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, [sorted(c) for c in cycles]


def test_evaluation_loads_no_torch_or_monai() -> None:
    names = sorted(n for n in MODULES if n.split(".")[0] in ("evaluation", "hecktor") and not n.endswith("__main__"))
    code = (
        f"import importlib, sys\nfor n in {names!r}: importlib.import_module(n)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'monai')]\nassert not bad, bad[:5]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_generator_is_kept_out_of_the_images() -> None:
    allowed = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert not [line for line in allowed if "synthetic" in line]
    for dockerfile in sorted((ROOT / "docker").glob("*.Dockerfile")):
        copies = [line for line in dockerfile.read_text().splitlines() if line.strip().upper().startswith("COPY")]
        assert not [line for line in copies if "synthetic" in line], dockerfile.name
