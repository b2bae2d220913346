"""The right-sizing policy: from observed use to Nextflow requests, and the config snippet.

Right-sizing suggestions
------------------------
Per resource, from the successful (COMPLETED) tasks of the group across all runs::

    suggestion = max(quantile(use, q) x (1 + headroom), max(use))   then rounded up

with ``q = 0.95`` and ``headroom = 0.2`` by default. It is never below the largest use of a
successful task. The use measured is: CPU cores ``pcpu / 100``; memory ``peak_rss``; time
``max(realtime, complete - start)``, the wall time the executor saw (a time limit covers
staging, which ``realtime`` excludes). Rounding (up): CPUs to whole cores (at least 1);
memory to 128 MB steps up to 1 GB, then whole GB up to 16 GB, 2 GB steps to 64 GB, 8 GB steps
to 256 GB and 32 GB steps above (Nextflow's ``GB`` is 1024^3 bytes); time to 10
minutes up to 1 h, half hours up to 6 h, whole hours up to 72 h, whole days above. Fewer than
``min_tasks`` successful observations of a resource give no suggestion for it, with a note.

The statistics come from :func:`~seqera_analytics.reports.right_size` (one row per group,
computed by the engine); only the rounding and the notes run here, once per group.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .._exceptions import ReportError
from ._spec import ReportSpec, id_col, metric

__all__ = [
    "RIGHT_SIZE",
    "check_params",
    "nextflow_config",
    "nextflow_cpus",
    "nextflow_memory",
    "nextflow_time",
    "selector_regex",
    "suggest",
]

GIB = 1024**3
MIB = 1024**2
MS_PER_HOUR = 3_600_000.0


# ------------------------------------------------------------------------------- rounding
def nextflow_memory(nbytes: float) -> tuple[int, str]:
    """Round bytes up to a friendly Nextflow memory value: (bytes, ``"12.GB"``)."""
    if nbytes <= GIB:
        mb = max(128, math.ceil(nbytes / MIB / 128.0) * 128)
        if mb >= 1024:
            return GIB, "1.GB"
        return mb * MIB, f"{mb}.MB"
    gb = nbytes / GIB
    for limit, step in ((16, 1), (64, 2), (256, 8)):
        if gb <= limit:
            g = math.ceil(gb / step) * step
            return g * GIB, f"{g}.GB"
    g = math.ceil(gb / 32) * 32
    return g * GIB, f"{g}.GB"


def nextflow_time(ms: float) -> tuple[float, str]:
    """Round ms up to a friendly Nextflow duration: (hours, ``"2.h"``/``"30.m"``/``"3.d"``)."""
    minutes = ms / 60_000.0
    if minutes <= 60:
        m = max(10, math.ceil(minutes / 10.0) * 10)
        return (1.0, "1.h") if m >= 60 else (m / 60.0, f"{m}.m")
    hours = minutes / 60.0
    if hours <= 6:
        half = math.ceil(hours * 2) / 2.0
        return (half, f"{int(half)}.h") if half.is_integer() else (half, f"{int(half * 60)}.m")
    if hours <= 72:
        h = math.ceil(hours)
        return float(h), f"{h}.h"
    d = math.ceil(hours / 24.0)
    return d * 24.0, f"{d}.d"


def nextflow_cpus(cores: float) -> int:
    """Round cores up to a whole number of CPUs, at least 1."""
    return max(1, math.ceil(cores))


def _real(value: object) -> bool:
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, (bool, np.bool_))
        and math.isfinite(float(value))
    )


def check_params(quantile: float, headroom: float, min_tasks: int) -> None:
    """The right-sizing parameters, or a one-line :class:`ReportError`."""
    if not _real(quantile) or not 0.0 < float(quantile) <= 1.0:
        raise ReportError(f"quantile must be a number in (0, 1], got {quantile!r}")
    if not _real(headroom) or float(headroom) < 0:
        raise ReportError(f"headroom must be a finite number >= 0, got {headroom!r}")
    if not _real(min_tasks) or float(min_tasks) != int(min_tasks) or int(min_tasks) < 1:
        raise ReportError(f"min_tasks must be a whole number >= 1, got {min_tasks!r}")


RIGHT_SIZE = ReportSpec(
    "right_size",
    (
        metric("tasks_completed", "Int64", "count", "successful (COMPLETED) tasks in the group"),
        metric("cpus_requested", "Int64", "count", "largest cpus request seen"),
        metric("memory_requested_gib", "Float64", "GiB", "largest memory request seen"),
        metric("time_requested_hours", "Float64", "h", "largest time limit seen"),
        metric("cpu_used_q", "Float64", "cores", "quantile of pcpu / 100"),
        metric("cpu_used_max", "Float64", "cores", "largest pcpu / 100 of a successful task"),
        metric("memory_used_q_gib", "Float64", "GiB", "quantile of peak_rss"),
        metric("memory_used_max_gib", "Float64", "GiB", "largest peak_rss of a successful task"),
        metric("time_used_q_hours", "Float64", "h", "quantile of max(realtime, complete - start)"),
        metric("time_used_max_hours", "Float64", "h", "largest such time of a successful task"),
        metric("suggested_cpus", "Int64", "count", "suggested cpus (<NA>: too few observations)"),
        id_col("suggested_memory", "string", "suggested memory in Nextflow units, e.g. 12.GB"),
        metric("suggested_memory_bytes", "Int64", "bytes", "the same in bytes (GB = 1024^3 bytes)"),
        id_col(
            "suggested_time", "string", "suggested time limit in Nextflow units, e.g. 2.h or 30.m"
        ),
        metric("suggested_time_hours", "Float64", "h", "the same in hours"),
        id_col("note", "string", "why a suggestion is missing, or a warning"),
        metric("quantile", "Float64", "fraction", "the quantile used"),
        metric("headroom", "Float64", "fraction", "the headroom added to the quantile"),
    ),
    "Right-sizing suggestions per process.",
)


def suggest(stats: pd.DataFrame, quantile: float, headroom: float, min_tasks: int) -> pd.DataFrame:
    """Suggested requests per group from its usage statistics.

    ``stats`` has, per group, ``{cpu,memory,time}_q`` (the quantile of use), ``_max`` and
    ``_n`` (observations), and ``{cpus,memory}_requested`` (largest request; memory in bytes).
    Returns the ``suggested_*`` columns, ``note``, ``quantile`` and ``headroom``.
    """
    ng = len(stats)
    cpus_s: list[int | None] = []
    mem_b: list[int | None] = []
    mem_s: list[str | None] = []
    time_h: list[float | None] = []
    time_s: list[str | None] = []
    notes: list[str | None] = []

    def num(col: str, i: int) -> float:
        v = stats[col].iat[i]
        return float("nan") if pd.isna(v) else float(v)

    for i in range(ng):  # one iteration per group (process), never per task
        missing = []
        note_parts = []
        vals: dict[str, float | None] = {}
        for res in ("cpu", "memory", "time"):
            n = int(num(f"{res}_n", i)) if not math.isnan(num(f"{res}_n", i)) else 0
            if n < min_tasks:
                missing.append(f"{res} ({n})")
                vals[res] = None
            else:
                vals[res] = max(num(f"{res}_q", i) * (1.0 + headroom), num(f"{res}_max", i))
        cpus_s.append(nextflow_cpus(vals["cpu"]) if vals["cpu"] is not None else None)
        if vals["memory"] is not None:
            b, s = nextflow_memory(vals["memory"])
            mem_b.append(b)
            mem_s.append(s)
        else:
            mem_b.append(None)
            mem_s.append(None)
        if vals["time"] is not None:
            h, s = nextflow_time(vals["time"])
            time_h.append(h)
            time_s.append(s)
        else:
            time_h.append(None)
            time_s.append(None)
        if missing:
            note_parts.append(
                f"not enough successful tasks with usage data for "
                f"{', '.join(missing)}; need {min_tasks} (min_tasks)"
            )
        req_cpus, req_mem = num("cpus_requested", i), num("memory_requested", i)
        if cpus_s[-1] is not None and not np.isnan(req_cpus) and cpus_s[-1] > req_cpus:
            note_parts.append("uses more CPU than requested")
        if mem_b[-1] is not None and not np.isnan(req_mem) and mem_b[-1] > req_mem:
            note_parts.append("suggests more memory than requested")
        notes.append("; ".join(note_parts) or None)
    out = pd.DataFrame(index=stats.index)
    out["suggested_cpus"] = pd.array(cpus_s, dtype="Int64")
    out["suggested_memory"] = pd.array(mem_s, dtype="string")
    out["suggested_memory_bytes"] = pd.array(mem_b, dtype="Int64")
    out["suggested_time"] = pd.array(time_s, dtype="string")
    out["suggested_time_hours"] = pd.array(time_h, dtype="Float64")
    out["note"] = pd.array(notes, dtype="string")
    out["quantile"] = float(quantile)
    out["headroom"] = float(headroom)
    return out


# -------------------------------------------------------------------------- config snippet
#: ASCII characters written as-is in a selector: letters, digits, ``_``, ``:`` (the scope
#: separator of fully qualified names) and space are no regex metacharacters in Java
#: (Nextflow compiles selectors without the COMMENTS flag, so a space is literal).
_REGEX_PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_: ")


def selector_regex(name: str) -> str:
    """The Java regular expression that matches exactly the process ``name``.

    Nextflow reads a ``withName`` selector as a Java regex that must match the whole name
    (``Pattern.matcher(name).matches()``), and a leading ``!`` negates it. So every other
    ASCII character (``.``, ``*``, ``$``, ``\\``, ``!``, quotes...) gets a backslash:
    Java, like Python's ``re``, reads a backslash before a non-letter as that character, and
    an escaped ``!`` no longer negates. Characters that are not printable (controls, NBSP,
    zero-width joiners...) in the Basic Multilingual Plane are written ``\\uXXXX``, which
    both engines read as that one character, so the config holds no line break or control
    byte. Anything else, including non-ASCII letters, CJK and emoji, stays literal.
    """
    out = []
    for ch in name:
        if ch in _REGEX_PLAIN or (ord(ch) > 0x7F and (ch.isprintable() or ord(ch) > 0xFFFF)):
            out.append(ch)
        elif ord(ch) < 0x7F and ch.isprintable():
            out.append("\\" + ch)
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


def groovy_string(text: str) -> str:
    """``text`` as a Groovy single-quoted string literal, ``'...'``.

    In a single-quoted Groovy string only ``\\`` and ``'`` need a backslash (``$`` is not
    interpolated there). The callers never pass a line break or control character (see
    :func:`selector_regex`), which such a string cannot hold. No ``\\uXXXX`` is written
    here: a backslash left by the regex is doubled, so no unicode escape reaches the lexer.
    """
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def nextflow_config(suggestions: pd.DataFrame, *, comment: bool = True) -> str:
    """A Nextflow config snippet setting ``cpus``, ``memory`` and ``time`` per process.

    Parameters
    ----------
    suggestions : pandas.DataFrame
        The output of :func:`right_size` or :func:`efficiency_report` with ``process`` among
        the keys, one row per process (filter to one pipeline first when grouped by more).
    comment : bool, default True
        Start with a comment saying how the values were derived, and list the processes
        left out (too few observations) as comments.

    Returns
    -------
    str
        A ``process { withName: '...' { ... } }`` block. Selectors use the simple process
        name (after the last ``:``), or the fully qualified name when two processes of the
        frame share a simple name. Resources without a suggestion are left out.

    Notes
    -----
    Quoting: a selector is a Groovy single-quoted string (``\\`` and ``'`` escaped) holding a
    Java regex (Nextflow matches ``withName`` as a regex against the whole name, ``!`` first
    negating it) in which every ASCII character other than letters, digits, ``_``, ``:`` and
    space is escaped with a backslash, and unprintable characters are ``\\uXXXX``: each selector
    matches exactly its process, whatever the name holds (non-ASCII letters, CJK, emoji,
    spaces, quotes, ``$``, backslashes). See :func:`selector_regex`. Comments name processes
    by the same literal, so a line break in a name cannot end a comment.

    Raises
    ------
    ReportError
        The frame lacks ``process`` or the ``suggested_*`` columns, or lists a process twice.

    Examples
    --------
    >>> print(nextflow_config(right_size(tasks)))  # doctest: +SKIP
    process {
        withName: 'FASTQC' {
            cpus = 2
            memory = 4.GB
            time = 1.h
        }
    }
    """
    if not isinstance(suggestions, pd.DataFrame):
        raise ReportError(f"expected the right_size() frame, got {type(suggestions).__name__}")
    needed = ["process", "suggested_cpus", "suggested_memory", "suggested_time"]
    missing = [c for c in needed if c not in suggestions.columns]
    if missing:
        raise ReportError(
            f"the suggestions frame lacks column(s) {', '.join(missing)}: pass the output of "
            "right_size() or efficiency_report() grouped by process"
        )
    procs = suggestions["process"].astype("string")
    if procs.isna().any():
        raise ReportError("the suggestions have rows without a process name")
    dup = procs[procs.duplicated()].unique()
    if len(dup):
        raise ReportError(
            f"process {dup[0]!r} appears in several rows (grouped by more than process?); "
            f"filter the suggestions to one row per process, e.g. one pipeline, first"
        )
    simple = procs.str.rsplit(":", n=1).str[-1]
    collide = simple.duplicated(keep=False).to_numpy(dtype=bool)
    lines: list[str] = []
    if comment:
        q = (
            suggestions["quantile"].iat[0]
            if "quantile" in suggestions and len(suggestions)
            else 0.95
        )
        h = (
            suggestions["headroom"].iat[0]
            if "headroom" in suggestions and len(suggestions)
            else 0.2
        )
        lines += [
            (
                "// Right-sizing suggestions from seqera-analytics: the "
                f"p{round(float(q) * 100):g} of the use of successful tasks + "
                f"{float(h) * 100:g}% headroom,"
            ),
            "// never below the largest use observed. Review before use.",
        ]
    lines.append("process {")
    skipped: list[str] = []
    order = np.argsort(procs.to_numpy(dtype=object).astype(str), kind="stable")
    for i in order:
        full, short = str(procs.iat[i]), str(simple.iat[i])
        # Any text is a process name here (Platform records what the pipeline ran): quoting,
        # not a check, keeps the snippet valid.
        selector = groovy_string(selector_regex(full if collide[i] or not short else short))
        body = []
        cpus = suggestions["suggested_cpus"].iat[i]
        mem = suggestions["suggested_memory"].iat[i]
        tim = suggestions["suggested_time"].iat[i]
        if not pd.isna(cpus):
            body.append(f"        cpus = {int(cpus)}")
        if not pd.isna(mem):
            body.append(f"        memory = {mem}")
        if not pd.isna(tim):
            body.append(f"        time = {tim}")
        if not body:
            note = suggestions["note"].iat[i] if "note" in suggestions else None
            skipped.append(
                f"    // {selector}: no suggestion"
                + (f" ({note})" if not pd.isna(note) and note else "")
            )
            continue
        note = suggestions["note"].iat[i] if "note" in suggestions else None
        if comment and not pd.isna(note) and note:
            lines.append(f"    // {selector}: {note}")  # why a request goes up, e.g. CPU over-use
        lines.append(f"    withName: {selector} {{")
        lines += body
        lines.append("    }")
    if comment:
        lines += skipped
    lines.append("}")
    return "\n".join(lines) + "\n"
