"""Which CUR a file is: its format, its columns and how it spells its tags (``_sql`` then
reads every format the same way).

Three exports are read, many files at once, only the needed columns, streamed by DuckDB
(a large account's monthly CUR is tens of GB and is never loaded whole):

* **CUR 2.0 Parquet**: snake_case columns, tags in ``resource_tags``, a MAP of
  ``user_<tag>`` to value (or, in some extracts, a list of ``[key, value]`` pairs or of
  ``{key, value}`` structs);
* **legacy CUR Parquet**: the same column names, one ``resource_tags_user_<tag>`` column per tag;
* **legacy CUR CSV** (gzipped or not): ``lineItem/UsageStartDate`` ... headers, tags as
  ``resourceTags/user:<tag>`` columns.

Every file becomes the same *raw* columns (``_sql.RAW``), which ``_lines`` classifies.
Tag names are compared normalised: lower case, every run of other characters than letters and
digits as one ``_``, without a leading ``user_`` (CUR 2.0 writes tag ``unique-run-id`` as
key ``user_unique_run_id``).
"""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .._exceptions import BillingDataError

__all__ = ["COLUMNS", "RAW_OF", "BillingTags", "CurFile", "bundled_cur", "inspect_files", "norm_tag",
           "tag_keys_found"]


@dataclass(frozen=True)
class BillingTags:
    """The tag names that tie a line item to a run, a task and a process.

    Each is a tuple of accepted names, tried in order (the first one present on a line wins);
    names are normalised (``unique-run-id``, ``user_unique_run_id`` and
    ``resourceTags/user:unique-run-id`` are the same tag).

    Attributes
    ----------
    run : tuple of str, default ("unique_run_id", "nf_unique_run_id")
        The Seqera run id (``nf_unique_run_id`` on older setups).
    task_hash : tuple of str, default ("task_hash",)
        The full 32-hex task hash.
    process : tuple of str, default ("pipeline_process",)
        The process name.
    """

    run: tuple[str, ...] = ("unique_run_id", "nf_unique_run_id")
    task_hash: tuple[str, ...] = ("task_hash",)
    process: tuple[str, ...] = ("pipeline_process",)

    def __post_init__(self) -> None:
        for name in ("run", "task_hash", "process"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            names = getattr(self, name)
            if not names or not all(isinstance(v, str) and norm_tag(v) for v in names):
                raise ValueError(f"BillingTags.{name} must be one tag name or more, got {value!r}")


def norm_tag(name: str) -> str:
    """``resourceTags/user:Unique-Run-Id`` -> ``unique_run_id``."""
    n = name.strip()
    for prefix in ("resourceTags/user:", "resource_tags_user_", "user:"):
        n = n.removeprefix(prefix)
    n = re.sub(r"[^0-9a-z]+", "_", n.lower()).strip("_")
    return n.removeprefix("user_")


#: CUR 2.0 / legacy Parquet column -> legacy CSV header, for every column the reader uses.
COLUMNS: dict[str, str] = {
    "line_item_usage_start_date": "lineItem/UsageStartDate",
    "line_item_usage_end_date": "lineItem/UsageEndDate",
    "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
    "line_item_line_item_type": "lineItem/LineItemType",
    "line_item_product_code": "lineItem/ProductCode",
    "line_item_resource_id": "lineItem/ResourceId",
    "split_line_item_parent_resource_id": "splitLineItem/ParentResourceId",
    "line_item_unblended_cost": "lineItem/UnblendedCost",
    "split_line_item_split_cost": "splitLineItem/SplitCost",
    "split_line_item_unused_cost": "splitLineItem/UnusedCost",
    "savings_plan_savings_plan_effective_cost": "savingsPlan/SavingsPlanEffectiveCost",
    "reservation_effective_cost": "reservation/EffectiveCost",
    "identity_line_item_id": "identity/LineItemId",
    "identity_time_interval": "identity/TimeInterval",
    # only in the key over a line's own values (files without identity columns)
    "line_item_usage_account_id": "lineItem/UsageAccountId",
    "line_item_usage_type": "lineItem/UsageType",
    "line_item_operation": "lineItem/Operation",
    "line_item_usage_amount": "lineItem/UsageAmount",
    "line_item_line_item_description": "lineItem/LineItemDescription",
}
TIMES = ("line_item_usage_start_date", "line_item_usage_end_date", "bill_billing_period_start_date")
MONEY = ("line_item_unblended_cost", "split_line_item_split_cost", "split_line_item_unused_cost",
          "savings_plan_savings_plan_effective_cost", "reservation_effective_cost")
#: A file is a CUR when it has these (in one of the spellings).
REQUIRED = ("line_item_line_item_type", "line_item_unblended_cost")
VALUE_KEY = ("line_item_usage_account_id", "line_item_usage_type", "line_item_operation",
              "line_item_usage_amount", "line_item_line_item_description")

RAW_OF = {
    "line_item_usage_start_date": "usage_start", "line_item_usage_end_date": "usage_end",
    "bill_billing_period_start_date": "period_start", "line_item_line_item_type": "line_item_type",
    "line_item_product_code": "product_code", "line_item_resource_id": "resource_id",
    "split_line_item_parent_resource_id": "parent_resource_id",
    "line_item_unblended_cost": "unblended", "split_line_item_split_cost": "split_cost",
    "split_line_item_unused_cost": "unused_cost",
    "savings_plan_savings_plan_effective_cost": "sp_effective",
    "reservation_effective_cost": "ri_effective",
}


@dataclass(frozen=True)
class CurFile:
    """One input file: its format, the CUR columns it has (by CUR 2.0 name -> its own
    name), and its tags (normalised tag -> its column, or the key in ``resource_tags``)."""

    path: str
    format: str  # "cur2" | "legacy-parquet" | "csv"
    columns: tuple[tuple[str, str], ...]
    tags: str  # "map" | "pairs" | "structs" | "columns" | "none"
    tag_columns: tuple[tuple[str, str], ...] = ()
    #: CUR column -> "ts" (a Parquet timestamp), "num" (a Parquet number) or "text"
    kinds: tuple[tuple[str, str], ...] = ()
    #: the ``resource_tags`` keys of the first row group, as the file spells them
    tag_keys: tuple[str, ...] = ()
    gzip: bool = False

    @property
    def group(self) -> tuple[Any, ...]:
        return (self.format, self.columns, self.tags, self.tag_columns, self.kinds, self.tag_keys,
                self.gzip)


def bundled_cur() -> str:
    """The CUR extract shipped with the project (``data/aws-cur/cur-bundled-runs.parquet``):
    1,427 real CUR 2.0 line items of September 2025 for four of the bundled runs, plus one
    synthetic decoy line (from the seqeralabs/nf-aggregate test assets, MIT)."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "_data" / "aws-cur", here.parent / "data" / "aws-cur"):
        f = candidate / "cur-bundled-runs.parquet"
        if f.is_file():
            return str(f)
    raise BillingDataError("The bundled CUR extract is missing: expected "
                           "data/aws-cur/cur-bundled-runs.parquet next to the package.")


def expand(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """Files named by ``paths`` (paths, globs, or directories read recursively), sorted."""
    if paths is None:
        raise BillingDataError("no CUR file given")
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not items:
        raise BillingDataError("no CUR file given")
    out: list[str] = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)):
            raise BillingDataError(f"a CUR path must be a file, glob or directory name, got {item!r}")
        s = os.path.expanduser(os.fspath(item))
        if not os.path.exists(s) and any(ch in s for ch in "*?["):
            found = sorted(f for f in glob(s, recursive=True) if os.path.isfile(f))
            if not found:
                raise BillingDataError(f"no file matches {s}")
            out += found
        elif os.path.isdir(s):
            found = sorted(str(f) for f in Path(s).rglob("*")
                           if f.is_file() and _data_file(f.name))
            if not found:
                raise BillingDataError(f"{s} holds no .parquet, .csv or .csv.gz file")
            out += found
        elif os.path.isfile(s):
            out.append(s)
        else:
            raise BillingDataError(f"no such file: {s}")
    return list(dict.fromkeys(os.path.abspath(f) for f in out))


def _data_file(name: str) -> bool:
    return name.endswith((".parquet", ".csv", ".csv.gz")) and not name.startswith(".")


def inspect_files(paths: Sequence[str]) -> list[CurFile]:
    """Read each file's schema (a Parquet footer, a CSV header) and tell its format.

    Raises
    ------
    BillingDataError
        A file that is empty, unreadable, or not a Cost and Usage Report.
    """
    return [_inspect(p) for p in paths]


def _inspect(path: str) -> CurFile:
    name = os.path.basename(path)
    if os.path.getsize(path) == 0:
        raise BillingDataError(f"{path} is empty (0 bytes): not a Cost and Usage Report")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        try:
            schema = pq.read_schema(path)
        except (pa.ArrowException, OSError) as exc:
            raise BillingDataError(f"{path} is not a readable Parquet file ({_first(exc)})") from None
        return _parquet_file(path, schema)
    if magic[:2] == b"\x1f\x8b" or name.endswith((".csv", ".csv.gz")):
        return _csv_file(path, magic[:2] == b"\x1f\x8b")
    raise BillingDataError(f"{path} is not a Cost and Usage Report (neither Parquet nor CSV)")


def _first(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def _not_a_cur(path: str, found: Sequence[str]) -> BillingDataError:
    shown = ", ".join(list(found)[:8]) + (", ..." if len(found) > 8 else "")
    return BillingDataError(
        f"{path} is not a Cost and Usage Report: it lacks {' and '.join(REQUIRED)} "
        f"(its columns: {shown or 'none'})")


def _parquet_file(path: str, schema: pa.Schema) -> CurFile:
    names = set(schema.names)
    if not all(c in names for c in REQUIRED):
        raise _not_a_cur(path, schema.names)
    cols = tuple((c, c) for c in COLUMNS if c in names)
    kinds = tuple((c, _kind(schema.field(c).type)) for c, _ in cols)
    legacy = tuple(sorted((norm_tag(n), n) for n in schema.names if n.startswith("resource_tags_")))
    if "resource_tags" in names:
        t = schema.field("resource_tags").type
        if pa.types.is_map(t):
            mode = "map"
        elif pa.types.is_list(t) and pa.types.is_list(t.value_type):
            mode = "pairs"
        elif pa.types.is_list(t) and pa.types.is_struct(t.value_type):
            mode = "structs"
        else:
            raise BillingDataError(f"{path}: resource_tags is a {t}, not a map or a list of "
                                   "key/value pairs")
        return CurFile(path, "cur2", cols, mode, kinds=kinds, tag_keys=_first_tag_keys(path, mode))
    return CurFile(path, "legacy-parquet", cols, "columns" if legacy else "none", legacy, kinds=kinds)


def _kind(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "ts"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "num"
    return "text"


def _first_tag_keys(path: str, mode: str) -> tuple[str, ...]:
    """The tag keys of the file's first row group as spelled there (CUR 2.0 writes
    ``user_<tag>``; other spellings, e.g. another case, are looked up as found)."""
    try:
        pf = pq.ParquetFile(path)
        if not pf.metadata.num_row_groups:
            return ()
        col = pf.read_row_group(0, columns=["resource_tags"]).column(0).combine_chunks()
    except (pa.ArrowException, OSError):
        return ()
    if mode == "map":
        keys = col.keys
    elif mode == "pairs":
        keys = col.flatten().flatten()
        keys = keys.filter(pa.array([i % 2 == 0 for i in range(len(keys))]))
    else:
        keys = col.flatten().field("key")
    return tuple(sorted({k for k in keys.to_pylist() if isinstance(k, str)}))[:500]


def _csv_header(path: str, gz: bool) -> list[str]:
    opener: Any = gzip.open if gz else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            line = fh.readline()
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise BillingDataError(f"{path} is not a readable CSV file ({_first(exc)})") from None
    import csv

    return [h.strip() for h in next(csv.reader([line]), [])]


def _csv_file(path: str, gz: bool) -> CurFile:
    header = _csv_header(path, gz)
    if not header or header == [""]:
        raise BillingDataError(f"{path} is empty: no header, not a Cost and Usage Report")
    have = set(header)
    if not all(COLUMNS[c] in have for c in REQUIRED):
        raise _not_a_cur(path, header)
    cols = tuple((c, COLUMNS[c]) for c in COLUMNS if COLUMNS[c] in have)
    tags = tuple(sorted((norm_tag(h), h) for h in header if h.startswith("resourceTags/")))
    return CurFile(path, "csv", cols, "columns" if tags else "none", tags,
                   kinds=tuple((c, "text") for c, _ in cols), gzip=gz)


def tag_keys_found(con: Any, files: Sequence[CurFile], limit: int = 30) -> list[str]:
    """The tag keys the files carry (normalised), for the error when none is configured."""
    found: set[str] = set()
    for f in files:
        if f.tags in ("columns", "none"):
            found |= {t for t, _ in f.tag_columns}
            continue
        keys = {"map": "map_keys(resource_tags)",
                "pairs": "list_transform(resource_tags, x -> x[1])",
                "structs": "list_transform(resource_tags, x -> x.key)"}[f.tags]
        path = "'" + f.path.replace("'", "''") + "'"
        rows = con.execute(f"SELECT DISTINCT unnest({keys}) FROM read_parquet({path}) "
                           f"LIMIT {limit * 4}").fetchall()
        found |= {norm_tag(r[0]) for r in rows if r[0]}
    return sorted(found)[:limit]
