"""Every notebook runs top to bottom against the emulator (no token), as a user would.

Each notebook executes in a fresh kernel whose working directory is a temporary folder (so
files a notebook writes land there), with a deliberately bogus ``TOWER_ACCESS_TOKEN`` in the
test process that must *not* reach the kernel. The notebooks as committed carry no outputs.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

NAMES = [
    "01_quickstart.ipynb",
    "02_monthly_cost_report.ipynb",
    "03_runtime_and_failures.ipynb",
    "04_right_sizing.ipynb",
    "05_explorer.ipynb",
]
DURATIONS: dict[str, float] = {}


def execute(name: str, workdir: Path, env: dict[str, str],
            nb: nbformat.NotebookNode | None = None) -> nbformat.NotebookNode:
    """Run a notebook in a fresh kernel whose working directory is ``workdir``."""
    nb = nb if nb is not None else nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", timeout=240, allow_errors=False,
                            resources={"metadata": {"path": str(workdir)}})
    t0 = time.perf_counter()
    client.execute(env=env)
    DURATIONS[name] = time.perf_counter() - t0
    return nb


def outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def text_of(nb: nbformat.NotebookNode) -> str:
    parts = []
    for o in outputs(nb):
        if o.get("output_type") == "stream":
            parts.append(o.get("text", ""))
        else:
            parts.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs(nb))


def test_notebooks_exist_without_outputs():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == NAMES
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, name
        assert nb.cells[0].cell_type == "markdown", name


def test_notebooks_use_only_the_public_api():
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        modules = re.findall(r"(?:from|import)\s+(seqera_analytics[\w.]*)", source)
        assert modules, name
        assert not [m for m in modules if "._" in m or m.split(".")[-1].startswith("_")], name
        assert not re.search(r"\._[a-z]\w*\(", source), f"{name} calls a private function"


def test_monthly_report_has_a_parameters_cell():
    nb = nbformat.read(NOTEBOOKS / "02_monthly_cost_report.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assert "MONTH = " in tagged[0].source and "WORKSPACE = " in tagged[0].source


@pytest.fixture(autouse=True)
def _bogus_token(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were the kernel to inherit this, notebook_backend() would try the real Platform.
    monkeypatch.setenv("TOWER_ACCESS_TOKEN", "a-developers-token-that-must-not-leak")
    monkeypatch.setenv("TOWER_WORKSPACE_ID", "someone/real-workspace")


def test_01_quickstart(tmp_path, kernel_env):
    nb = execute("01_quickstart.ipynb", tmp_path, kernel_env)
    text = text_of(nb)
    assert "the bundled demo runs (emulator)" in text
    assert "must-not-leak" not in json.dumps(nb)
    assert "671 task attempts in 5 runs" in text
    assert "4 runs added" in text and "1 runs added" in text


def test_02_monthly_cost_report(tmp_path, kernel_env):
    nb = execute("02_monthly_cost_report.ipynb", tmp_path, kernel_env)
    text = text_of(nb)
    assert "seqeralabs/benchmarks: 2025-09-01 to 2025-10-01 (exclusive), 4 runs" in text
    assert images(nb) == 2
    out = tmp_path / "monthly-cost-report" / "seqeralabs_benchmarks_2025-09"
    for stem in ("cost_by_pipeline", "cost_by_user", "cost_by_process", "cost_by_week",
                 "reconciliation"):
        assert (out / f"{stem}.parquet").stat().st_size > 0
        assert (out / f"{stem}.csv").stat().st_size > 0
        assert (out / f"{stem}.csv.schema.json").exists()
    for stem in ("cost_by_week", "cost_pareto"):
        assert (out / f"{stem}.png").read_bytes().startswith(b"\x89PNG")
        assert (out / f"{stem}.pdf").read_bytes().startswith(b"%PDF")


def test_02_runs_for_another_month_and_workspace(tmp_path, kernel_env):
    """The parameters work: inject them as papermill would (a cell after the tagged one)."""
    nb = nbformat.read(NOTEBOOKS / "02_monthly_cost_report.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(
        'MONTH = "2025-03"\nWORKSPACE = "scidev/testing"\nOUTPUT_DIR = "out"'))
    execute("02_injected", tmp_path, kernel_env, nb=nb)
    assert "scidev/testing: 2025-03-01 to 2025-04-01 (exclusive), 1 runs" in text_of(nb)
    assert (tmp_path / "out" / "scidev_testing_2025-03" / "cost_by_pipeline.csv").exists()


def test_03_runtime_and_failures(tmp_path, kernel_env):
    nb = execute("03_runtime_and_failures.ipynb", tmp_path, kernel_env)
    text = text_of(nb)
    assert "5 runs, 671 task attempts" in text
    assert images(nb) == 5  # run trends, boxes, failure rate, heatmap, timeline
    assert "3dLeF2W4ju5og4" in text


def test_04_right_sizing(tmp_path, kernel_env):
    nb = execute("04_right_sizing.ipynb", tmp_path, kernel_env)
    text = text_of(nb)
    assert "right-sizing nf-core/sarek" in text
    assert images(nb) == 1
    config = (tmp_path / "right_sizing.config").read_text(encoding="utf-8")
    assert config.startswith("// Right-sizing") and "withName: 'GATK4_APPLYBQSR'" in config


def test_05_explorer(tmp_path, kernel_env):
    nb = execute("05_explorer.ipynb", tmp_path, kernel_env)
    views = [o for o in outputs(nb)
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1


def test_notebook_time_budget():
    """All five together must run well within 5 minutes (printed; asserted loosely)."""
    if not set(NAMES) <= set(DURATIONS):
        pytest.skip("run with the notebook tests above")
    total = sum(DURATIONS[n] for n in NAMES)
    print("\nnotebook execution [s]: " + ", ".join(f"{n} {DURATIONS[n]:.1f}" for n in NAMES)
          + f"; total {total:.1f}")
    assert total < 300
