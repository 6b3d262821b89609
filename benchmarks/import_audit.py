"""Count imports placed inside functions, per package: each one is either a deferred heavy import
(torch, gradio...) or an import cycle dodged, and the second kind is what the layering contracts
cannot see. ``--list`` prints each one with its place, ``--internal`` keeps only the project's own.

    python -m benchmarks.import_audit [--list] [--internal]
"""

from __future__ import annotations

import argparse
import ast
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import REPO

PACKAGES = ("search", "indexer", "ui", "app.py")
OWN = ("search", "indexer", "ui", "app", "benchmarks")


@dataclass(frozen=True)
class FunctionImport:
    path: Path
    line: int
    module: str

    @property
    def internal(self) -> bool:
        return self.module.startswith(".") or self.module.split(".")[0] in OWN

    @property
    def package(self) -> str:
        """``search/models/encoders/x.py`` -> ``search.models`` (two levels, as the layers name them)."""
        parts = self.path.relative_to(REPO).with_suffix("").parts
        return ".".join(parts[:2]) if parts[0] == "search" and len(parts) > 2 else parts[0]


def _imports_in_functions(path: Path) -> Iterator[FunctionImport]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield FunctionImport(path, node.lineno, alias.name)
            elif isinstance(node, ast.ImportFrom):
                yield FunctionImport(path, node.lineno, "." * node.level + (node.module or ""))


def audit(root: Path = REPO) -> list[FunctionImport]:
    """Every import statement inside a function body (nested functions counted once)."""
    files: list[Path] = []
    for name in PACKAGES:
        place = root / name
        files += [place] if place.is_file() else sorted(place.rglob("*.py"))
    seen: dict[tuple[Path, int, str], FunctionImport] = {}
    for path in files:
        for found in _imports_in_functions(path):
            seen.setdefault((found.path, found.line, found.module), found)
    return list(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="print each import with its place")
    parser.add_argument("--internal", action="store_true", help="only the project's own modules")
    args = parser.parse_args()
    found = audit()
    if args.internal:
        found = [each for each in found if each.internal]
    if args.list:
        for each in sorted(found, key=lambda f: (str(f.path), f.line)):
            kind = "own" if each.internal else "ext"
            print(f"{each.path.relative_to(REPO)}:{each.line}\t{kind}\t{each.module}")
    total: Counter[str] = Counter(each.package for each in found)
    own: Counter[str] = Counter(each.package for each in found if each.internal)
    print(f"{'package':<22} {'all':>5} {'own':>5}")
    for package in sorted(total):
        print(f"{package:<22} {total[package]:>5} {own[package]:>5}")
    print(f"{'total':<22} {sum(total.values()):>5} {sum(own.values()):>5}")


if __name__ == "__main__":
    main()
