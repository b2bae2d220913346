"""Record types for fast decoding of API pages straight into the fields the schema uses.

A task page is ~200 KB of JSON of which the schema needs a fraction (scripts and
environments are most of it). Decoding into a ``msgspec`` struct that declares only the
fields the schema reads skips the rest at C speed and builds no dicts; fields are typed
``Any`` so a quirky value (``exit`` as ``"0"``, a ``"-"``) never fails a page; the column
builders coerce it leniently instead. Structs are made with ``gc=False``: they hold only
scalars, and 200,000 tracked objects would make the cyclic GC dominate the build.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .schema import TASKS, TableSpec

__all__ = ["TaskRecord", "record_type"]


def record_type(spec: TableSpec, name: str, extra: tuple[str, ...] = ()) -> type[msgspec.Struct]:
    """A ``msgspec.Struct`` with one ``Any`` field (default ``None``) per flat API source of
    ``spec`` plus ``extra``; unknown JSON fields are ignored when decoding."""
    fields = [c.source for c in spec.columns if c.source and "." not in c.source]
    fields += [f for f in extra if f not in fields]
    return msgspec.defstruct(name, [(f, Any, None) for f in fields], gc=False)


#: One ``Task`` as decoded from ``GET /workflow/{id}/tasks``; ``exit`` is kept for the
#: ``exit_status`` fallback.
TaskRecord = record_type(TASKS, "TaskRecord", extra=("exit",))
