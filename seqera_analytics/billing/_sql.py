"""One DuckDB ``SELECT`` that reads every CUR format the same way (see ``_formats``).

Each file group (same format and columns) becomes the raw columns of :data:`RAW`:

* times as naive UTC ``TIMESTAMP``: a Parquet timestamp by its instant (a zone-aware
  column is never shifted into the machine's zone), text with an offset or ``Z`` by its
  instant, text without one as UTC;
* money as ``DOUBLE``; ``bad_money`` / ``bad_time`` flag a value that is there but is not
  a finite number (``N/A``, ``1,234.5``, NaN, inf, beyond a billion dollars) or not a time:
  the import refuses such a file rather than count the line as 0 or drop it;
* tags, the first configured name present (every spelling in the file that normalises to it);
* ``key_hi``/``key_lo``, the line's identity as two 64-bit hashes (DuckDB's ``hash``, salted
  twice: 128 bits): of the CUR's identity columns, else of its own values and its position
  in its file (two equal lines of one file stay two; a copy of the file gives the same
  identities); ``nat``, the hash of what the line is about whatever its identity or format
  (resource, hours, type, product, usage type, operation, account, description, amounts),
  to recognise a re-delivered or re-formatted bill.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._formats import MONEY, RAW_OF, TIMES, VALUE_KEY, BillingTags, CurFile, norm_tag

__all__ = ["RAW", "raw_select"]

#: The raw columns every file's SELECT yields.
RAW = (*RAW_OF.values(), "run_tag", "hash_tag", "process_tag", "key_hi", "key_lo", "nat",
       "bad_money", "bad_time", "has_split_columns", "_file")
#: Salts of the two halves of a line key (two 64-bit hashes: a 128-bit identity).
_HI, _LO = "'seqera-analytics line key'", "'seqera-analytics line key, second half'"
#: Beyond any line item of a research account: a value this large is a broken export.
MAX_LINE_USD = 1e9
_NAT = ("line_item_resource_id", "line_item_usage_start_date", "line_item_usage_end_date",
        "line_item_line_item_type", "line_item_product_code", "line_item_usage_type",
        "line_item_operation", "line_item_usage_account_id", "bill_billing_period_start_date",
        "line_item_line_item_description", *MONEY)


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def raw_select(files: Sequence[CurFile], tags: BillingTags) -> str:
    """One SQL query over all ``files`` yielding :data:`RAW` (a UNION ALL per file group)."""
    groups: dict[tuple[Any, ...], list[CurFile]] = {}
    for f in files:
        groups.setdefault(f.group, []).append(f)
    return "\nUNION ALL BY NAME\n".join(_group_select(fs, tags) for fs in groups.values())


def _text_time(col: str) -> str:
    s = f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '')"
    return (f"CASE WHEN {s} IS NULL THEN NULL "
            f"WHEN regexp_matches({s}, '([zZ]|[+-][0-9]{{2}}:?[0-9]{{2}})$') "
            f"THEN make_timestamp(epoch_us(TRY_CAST({s} AS TIMESTAMPTZ))) "
            f"ELSE TRY_CAST({s} AS TIMESTAMP) END")


def _time(col: str, kind: str) -> str:
    if kind == "ts":  # the instant, in UTC, whether the column carries a zone or not
        return f"make_timestamp(epoch_us({col}))"
    return _text_time(col)


def _money(col: str, kind: str) -> str:
    if kind == "num":
        return f"CAST({col} AS DOUBLE)"
    return f"TRY_CAST(NULLIF(TRIM(CAST({col} AS VARCHAR)), '') AS DOUBLE)"


def _group_select(files: list[CurFile], tags: BillingTags) -> str:
    f = files[0]
    own = dict(f.columns)
    kinds = dict(f.kinds)
    paths = "[" + ", ".join(lit(x.path) for x in files) + "]"
    if f.format == "csv":
        gz = ", compression='gzip'" if f.gzip else ""
        source = (f"read_csv({paths}, header=true, all_varchar=true, null_padding=true, "
                  f"filename=true{gz})")
    else:
        source = f"read_parquet({paths}, filename=true, file_row_number=true)"
    expr: dict[str, str] = {}
    bad_money: list[str] = []
    bad_time: list[str] = []
    for col in RAW_OF:
        if col not in own:
            typ = "TIMESTAMP" if col in TIMES else "DOUBLE" if col in MONEY else "VARCHAR"
            expr[col] = f"CAST(NULL AS {typ})"
            continue
        c, kind = q(own[col]), kinds.get(col, "text")
        present = f"NULLIF(TRIM(CAST({c} AS VARCHAR)), '') IS NOT NULL"
        if col in TIMES:
            expr[col] = _time(c, kind)
            if kind != "ts":
                bad_time.append(f"({present} AND {expr[col]} IS NULL)")
        elif col in MONEY:
            m = expr[col] = _money(c, kind)
            unparsed = f"({present} AND {m} IS NULL)" if kind != "num" else "false"
            bad_money.append(f"({unparsed} OR coalesce(isnan({m}) OR isinf({m}) OR "
                             f"abs({m}) >= {MAX_LINE_USD:.0f}, false))")
        else:
            expr[col] = f"NULLIF(CAST({c} AS VARCHAR), '')"
    sel = [f"{e} AS {RAW_OF[col]}" for col, e in expr.items()]
    sel.append(f"{_tag_expr(f, tags.run)} AS run_tag")
    sel.append(f"{_tag_expr(f, tags.task_hash)} AS hash_tag")
    sel.append(f"{_tag_expr(f, tags.process)} AS process_tag")
    sel.append(f"({' OR '.join(bad_money) or 'false'}) AS bad_money")
    sel.append(f"({' OR '.join(bad_time) or 'false'}) AS bad_time")
    has_split = "split_line_item_split_cost" in own or "split_line_item_unused_cost" in own
    sel.append(f"{'true' if has_split else 'false'} AS has_split_columns")
    sel.append("filename AS _file")
    if f.format == "csv":
        sel.append(f"{_values(f)} AS _values")
    # What the line is about, from the parsed values (so every format of a bill agrees): its
    # resource, hours, type, product, usage, account and amounts, hashed as typed values (no
    # text is built); a line without a resource id (an export without them) also by its tags
    # (CASE is lazy: lines with a resource id never read the tag map here).
    def value(c: str) -> str:
        if c in expr:
            return expr[c]
        return f"NULLIF(CAST({q(own[c])} AS VARCHAR), '')" if c in own else "CAST(NULL AS VARCHAR)"

    amount = (f"TRY_CAST({q(own['line_item_usage_amount'])} AS DOUBLE)"
              if "line_item_usage_amount" in own else "CAST(NULL AS DOUBLE)")
    tagged = (f"CASE WHEN {expr['line_item_resource_id']} IS NULL THEN concat_ws('|', "
              f"coalesce({_tag_expr(f, tags.run)}, ''), coalesce({_tag_expr(f, tags.task_hash)}, '')) "
              "END")
    sel.append(f"hash({', '.join(value(c) for c in _NAT)}, {amount}, {tagged}) AS nat")
    ident = None
    if "identity_line_item_id" in own:
        idv = f"NULLIF(TRIM(CAST({q(own['identity_line_item_id'])} AS VARCHAR)), '')"
        interval = own.get("identity_time_interval")
        iv = f"coalesce(CAST({q(interval)} AS VARCHAR), '')" if interval else "''"
        ident = (idv, iv)

    def keys(by_values: str) -> str:
        """key_hi, key_lo: the identity's two hashes, else the values' and place's."""
        out = []
        for salt, name in ((_HI, "key_hi"), (_LO, "key_lo")):
            v = f"hash({salt}, 'v', {by_values})"
            if ident is not None:
                v = f"CASE WHEN {ident[0]} IS NOT NULL THEN hash({salt}, 'id', {ident[0]}, {ident[1]}) ELSE {v} END"
            out.append(f"{v} AS {name}")
        return ", ".join(out)

    if f.format != "csv":
        # Parquet knows each row's place in its file; the values are read only for a line
        # without an identity (CASE is lazy: a CUR 2.0 export pays nothing for them)
        return (f"SELECT {', '.join(sel)}, {keys(f'{_values(f)}, file_row_number')} "
                f"FROM {source}")
    # CSV lines are numbered among their equals in their file
    extra = [] if ident is None else [f"{ident[0]} AS _id", f"{ident[1]} AS _interval"]
    inner = f"SELECT {', '.join([*sel, *extra])} FROM {source}"
    if ident is not None:
        ident = ("_id", "_interval")
    drop = ["_values", *(["_id", "_interval"] if extra else [])]
    pos = "row_number() OVER (PARTITION BY _file, _values)"
    return f"SELECT * EXCLUDE ({', '.join(drop)}), {keys(f'_values, {pos}')} FROM ({inner})"


def _values(f: CurFile) -> str:
    """Every column read, tags included, in a fixed order (the line's own values)."""
    own = dict(f.columns)
    values = [f"coalesce(CAST({q(own[c])} AS VARCHAR), '')" if c in own else "''"
              for c in (*RAW_OF, *VALUE_KEY)]
    if f.tags in ("map", "pairs", "structs"):
        values.append("coalesce(CAST(resource_tags AS VARCHAR), '')")
    else:
        values += [f"coalesce(CAST({q(c)} AS VARCHAR), '')" for _, c in f.tag_columns]
    return "concat_ws('|', " + ", ".join(values) + ")"


def _tag_expr(f: CurFile, names: Sequence[str]) -> str:
    """The first of the tag ``names`` present on the line, or NULL; every spelling of a
    name in the file (``user_Unique-Run-Id``...) counts as the name."""
    parts: list[str] = []
    for n in (norm_tag(x) for x in names):
        if f.tags in ("map", "pairs", "structs"):
            keys = list(dict.fromkeys(["user_" + n, *(k for k in f.tag_keys if norm_tag(k) == n)]))
            for k in keys:
                if f.tags == "map":
                    parts.append(f"map_extract_value(resource_tags, {lit(k)})")
                elif f.tags == "pairs":
                    parts.append(f"list_filter(resource_tags, x -> x[1] = {lit(k)})[1][2]")
                else:
                    parts.append(f"list_filter(resource_tags, x -> x.key = {lit(k)})[1].value")
        else:
            parts += [f"CAST({q(col)} AS VARCHAR)" for tag, col in f.tag_columns if tag == n]
    parts = [f"NULLIF(TRIM({p}), '')" for p in parts]
    if not parts:
        return "CAST(NULL AS VARCHAR)"
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"
