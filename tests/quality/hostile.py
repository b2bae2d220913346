"""A run whose records carry what real Platforms send (public trackers of Nextflow, nf-tower
and tower-cli): unset times as epoch 0, a complete before its start, a negative cost, an
impossible pcpu, a number beyond int64, a zone-less time, an unparseable time, a sentinel exit
code on a task that never ran, a time in the future, a negative realtime, an impossible
peak_rss and realtime, a task submitted before its run.

Built from a bundled real run (``wELtvsveirfd9``), each change on its own task, so that the
clean tasks' figures can be computed from the raw JSON of the original run.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from seqera_analytics.bundles import bundled_runs_dir

BASE_RUN = "wELtvsveirfd9"
RUN_ID = "hostileRun0001"

#: task position -> (change, the finding the checks must report)
CHANGES: dict[int, tuple[dict[str, Any], str | None]] = {
    0: ({"start": "1970-01-01T00:00:00Z"}, "impossible_time:start"),
    1: ({"__swap__": True}, "negative_span:complete"),
    2: ({"cost": -5.0}, "negative_value:cost"),
    3: ({"pcpu": 50000.0}, "implausible_pcpu:pcpu"),
    4: ({"rchar": 2**70}, "out_of_range:rchar"),
    5: ({"submit": "2025-09-26T14:20:00"}, "zoneless_time:submit"),
    6: ({"start": "not a date"}, "unreadable:start"),
    7: ({"status": "ABORTED", "start": None, "complete": None, "exitStatus": 2147483647,
         "exit": 2147483647, "realtime": None, "cost": None}, "sentinel_exit:exit_status"),
    8: ({"lastUpdated": "2031-01-01T00:00:00Z"}, "impossible_time:last_updated"),
    9: ({"realtime": -1000}, "negative_span:realtime"),
    # (tests/fixtures/cache-v1 was made by the previous release with changes 0-9 only)
    10: ({"peakRss": 10 * 2**40}, "implausible_peak_rss:peak_rss"),  # 10 TiB on a 384 GiB machine
    11: ({"realtime": 30 * 86_400_000}, "implausible_realtime:realtime"),  # 30 days in a 10-hour run
    12: ({"submit": "2025-09-26T12:00:00Z"}, "before_run:submit"),  # 2 h before its run
}
#: The changes the previous-release fixture holds.
V1_CHANGES = range(10)


def base_bundle() -> dict[str, Any]:
    return json.loads((bundled_runs_dir() / f"{BASE_RUN}.json").read_text())


def hostile_bundle() -> dict[str, Any]:
    """The run bundle (``data/real-runs`` form) with the changes applied."""
    doc = copy.deepcopy(base_bundle())
    wf = doc["workflow"]
    wf["id"] = RUN_ID
    wf["runName"] = "hostile-records"
    wf["sessionId"] = "0f1e2d3c-0000-4000-8000-00000000beef"
    for i, (change, _) in CHANGES.items():
        task = doc["tasks"][i]["task"]
        assert task["status"] == "COMPLETED", (i, task["status"])
        if change.get("__swap__"):
            task["start"], task["complete"] = task["complete"], task["start"]
        else:
            task.update(change)
    return doc


def write_runs_dir(directory: Path, *, with_base: bool = True) -> Path:
    """A runs directory for the emulator: the hostile run (and the base run, clean)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{RUN_ID}.json").write_text(json.dumps(hostile_bundle()))
    if with_base:
        (directory / f"{BASE_RUN}.json").write_text(json.dumps(base_bundle()))
    return directory
