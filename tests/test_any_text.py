"""Names in any text, through the real path: a bundled run renamed (pipeline, processes, user,
run name, labels in other scripts, emoji, quotes, ``$``, backslashes) -> emulator -> sync ->
cache -> every CLI report, exports, the right-sizing config, a chart and the Explorer."""

from __future__ import annotations

import html
import json
import warnings

import pandas as pd
import pytest
from matplotlib.text import Text
from nextflow_config_check import parse_snippet, regex_literal, selects
from wcwidth import wcswidth

from seqera_analytics import plots
from seqera_analytics.bundles import bundled_runs_dir
from seqera_analytics.cli import main
from seqera_analytics.emulator import Emulator
from seqera_analytics.fetch import connect
from seqera_analytics.ingest import sync
from seqera_analytics.store import Cache

RUN = "wELtvsveirfd9"
OLD = "NFCORE_METHYLSEQ:METHYLSEQ:"
PROCESSES = {  # bundled name -> renamed
    OLD + "FASTQC": "NFCORE_MÉTHYLSEQ:ÄLIGN",
    OLD + "FASTQ_ALIGN_DEDUP_BISMARK:BISMARK_ALIGN": "NFCORE_MÉTHYLSEQ:整列_比对",
    OLD + "TRIMGALORE": "NFCORE_MÉTHYLSEQ:TRİM_ĞALORE 🧬",
    OLD + "MULTIQC": "NFCORE_MÉTHYLSEQ:QC it's $HOME \\x $y",
}
PIPELINE = "nf-côre/メチル化 🧬"
USER = "Zoë Ünal-李"
RUN_NAME = "lauf-ß-运行-🚀 'x' $1"
LABELS = [{"name": "projet-été", "value": None, "resource": False},
          {"name": "チーム", "value": "ゲノム", "resource": True}]
LABEL_NAMES = ["projet-été", "チーム=ゲノム"]
GLYPHS = "ignore:Glyph .* missing from font"  # DejaVu has no CJK or emoji: boxes, no crash


@pytest.fixture(scope="module")
def raw():
    doc = json.loads((bundled_runs_dir() / f"{RUN}.json").read_text())
    for t in doc["tasks"]:
        t = t["task"]
        if t["process"] in PROCESSES:
            new = PROCESSES[t["process"]]
            t["name"] = t["name"].replace(t["process"], new)
            t["process"] = new
    doc["metrics"] = []  # per-process summaries under the old names would contradict the tasks
    for p in (doc.get("progress") or {}).get("processesProgress") or []:
        p["process"] = PROCESSES.get(p["process"], p["process"])
    doc["workflow"].update(projectName=PIPELINE, userName=USER, runName=RUN_NAME)
    doc["labels"] = LABELS
    return doc


@pytest.fixture(scope="module")
def cache(raw, tmp_path_factory):
    runs = tmp_path_factory.mktemp("any-text-runs")
    (runs / f"{RUN}.json").write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    path = tmp_path_factory.mktemp("any-text-cache")
    with Emulator(runs) as emu, connect(token=emu.token, endpoint=emu.url) as client:
        sync(raw["meta"]["workspace"], cache=path, client=client, show_progress=False)
    return path


def cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0 and err == "", err
    return out


def table_lines(out: str) -> list[str]:
    return out.split("\n(")[0].split("\n\n")[0].rstrip("\n").split("\n")


def assert_aligned(lines: list[str], column: str, value: str) -> None:
    """Every row as wide as the header in terminal cells, and ``value``'s cell ending where
    the header of ``column`` ends (columns are right-aligned)."""
    width = {wcswidth(line) for line in lines}
    assert len(width) == 1, [(wcswidth(x), x) for x in lines]
    header = lines[0]
    end = wcswidth(header[: header.index(column) + len(column)])
    rows = [line for line in lines[1:] if value in line]
    assert rows, (value, lines)
    for line in rows:
        assert wcswidth(line[: line.index(value) + len(value)]) == end, line


def test_run_level_reports_print_the_names_aligned(capsys, cache):
    for kind in ("cost", "runtime", "failures"):
        out = cli(capsys, "report", kind, "--by", "pipeline,user,run_name", "--period", "none",
                  "--cache", cache)
        lines = table_lines(out)
        for column, value in (("pipeline", PIPELINE), ("user", USER), ("run_name", RUN_NAME)):
            assert_aligned(lines, column, value)
    out = cli(capsys, "report", "cost", "--by", "label", "--period", "none", "--cache", cache)
    for label in LABEL_NAMES:
        assert_aligned(table_lines(out), "label", label)


def test_efficiency_prints_processes_and_writes_a_config_that_selects_them(capsys, cache,
                                                                           tmp_path, raw):
    out = cli(capsys, "report", "efficiency", "--pipeline", PIPELINE, "--user", USER,
              "--config", tmp_path / "rs.config", "--cache", cache)
    lines = table_lines(out)
    for name in PROCESSES.values():
        assert_aligned(lines, "process", name)
    blocks = parse_snippet((tmp_path / "rs.config").read_text(encoding="utf-8"))
    completed = {}
    for t in raw["tasks"]:
        if t["task"]["status"] == "COMPLETED":
            completed[t["task"]["process"]] = completed.get(t["task"]["process"], 0) + 1
    # min_tasks is 3 by default: processes with fewer successful tasks get no block.
    expected = {p.rsplit(":", 1)[-1] for p, n in completed.items() if n >= 3}
    assert {regex_literal(s) for s in blocks} == expected
    assert "ÄLIGN" in expected and "整列_比对" in expected and "TRİM_ĞALORE 🧬" in expected
    for sel in blocks:
        assert sum(selects(sel, short) for short in expected) == 1


def test_exports_round_trip_the_names(capsys, cache, tmp_path):
    for suffix in (".csv", ".parquet"):
        for layout in ("long", "wide"):
            path = tmp_path / f"eff-{layout}{suffix}"
            cli(capsys, "report", "efficiency", "--by", "pipeline,user,process", "--layout",
                layout, "--output", path, "--cache", cache)
            df = (pd.read_csv(path, encoding="utf-8") if suffix == ".csv"
                  else pd.read_parquet(path))
            assert set(df["pipeline"]) == {PIPELINE} and set(df["user"]) == {USER}
            assert set(PROCESSES.values()) <= set(df["process"])
        path = tmp_path / f"cost{suffix}"
        cli(capsys, "report", "cost", "--by", "run_name,label", "--layout", "wide",
            "--output", path, "--cache", cache)
        df = pd.read_csv(path, encoding="utf-8") if suffix == ".csv" else pd.read_parquet(path)
        assert set(df["run_name"]) == {RUN_NAME} and set(df["label"]) == set(LABEL_NAMES)


@pytest.mark.filterwarnings(GLYPHS)
def test_a_chart_draws_the_names(cache):
    from seqera_analytics.store import load_tasks

    tasks = load_tasks(cache=Cache(cache))
    fig = plots.plot_runtime_boxes(tasks)
    fig.savefig(__import__("io").BytesIO(), format="png")  # "$HOME \x $y" is no mathtext
    shown = " ".join(t.get_text() for t in fig.findobj(Text))
    for name in PROCESSES.values():
        assert name.rsplit(":", 1)[-1] in shown


@pytest.mark.filterwarnings(GLYPHS)
def test_the_explorer_shows_the_names(cache):
    from seqera_analytics.widgets import Explorer

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        ex = Explorer(Cache(cache))
        assert PIPELINE in ex.w_pipeline.options and USER in ex.w_user.options
        ex.w_pipeline.value = PIPELINE
        ex.w_user.value = USER
        assert ex.message is None
        assert html.escape(PIPELINE) in ex.w_table.value
        ex.set_report("efficiency", "process")
        assert bytes(ex.w_chart.value).startswith(b"\x89PNG")
        for name in PROCESSES.values():
            assert html.escape(name) in ex.w_table.value
