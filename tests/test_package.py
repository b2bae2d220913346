"""The package surface and the one-way module boundaries of DESIGN.md."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import seqera_analytics as sa

PKG = Path(sa.__file__).parent


def test_all_is_sorted_and_every_name_resolves():
    assert sa.__all__ == sorted(sa.__all__)
    for name in sa.__all__:
        assert getattr(sa, name) is not None, name
    from seqera_analytics import fetch_runs, sync  # from-imports resolve lazily too

    assert callable(fetch_runs) and callable(sync)


def test_importing_the_package_does_not_start_the_server_stack():
    # Notebook users import the library; the emulator's web stack and plotting load on demand.
    code = "import sys, seqera_analytics; print(sorted(m for m in ('starlette','uvicorn','matplotlib','ipywidgets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:  # relative: resolve against the package
                base = path.relative_to(PKG.parent).with_suffix("").parts[:-node.level]
                mod = ".".join([*base, mod] if mod else base)
            found.add(mod)
    return found


def package_imports(sub: str) -> set[str]:
    root = PKG / sub
    files = [root] if root.suffix == ".py" else list(root.rglob("*.py"))
    return set().union(*(imports_of(f) for f in files))


def test_api_never_imports_pandas_or_higher_layers():
    found = package_imports("api")
    assert not {m for m in found if m.split(".")[0] == "pandas"}
    for layer in ("frames", "store", "reports", "plots", "widgets", "ingest", "fetch", "emulator", "demo"):
        assert not {m for m in found if m.startswith(f"seqera_analytics.{layer}")}, layer


def test_data_flows_one_way():
    rules = {
        "frames": ("api", "store", "ingest", "fetch", "reports", "plots", "widgets", "emulator"),
        "store": ("api", "ingest", "fetch", "reports", "plots", "widgets", "emulator"),
        # reports read the cache's committed file list (store), never the API or the sync (#9)
        "reports": ("api", "ingest", "fetch", "plots", "widgets", "emulator", "demo"),
        "plots": ("api", "store", "ingest", "fetch", "widgets", "emulator", "demo"),
        # the explorer reads the cache; only Explorer.from_demo reaches the emulator, via demo
        "widgets": ("api", "ingest", "fetch", "emulator"),
        # the cache sync and the notebook fetchers share query building in api, not each other
        "ingest": ("fetch", "reports", "plots", "widgets", "emulator", "demo", "cli"),
        "fetch": ("ingest", "store", "reports", "plots", "widgets", "emulator", "demo", "cli"),
    }
    for sub, banned in rules.items():
        found = package_imports(sub)
        for b in banned:
            assert not {m for m in found if m.startswith(f"seqera_analytics.{b}")}, (sub, b)
