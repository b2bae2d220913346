"""A tolerant validator of API payloads against the official Seqera OpenAPI spec.

The real service does not follow ``tests/spec/seqera-api-latest.yml`` strictly (API-NOTES
§7): it sends ``null`` for properties the spec does not mark nullable, older servers omit
counters the spec lists as ``required``, ``workflow.params`` values are plain JSON values
although the spec types them as objects, and servers before 26.x send task ``exit`` as a
string. So payloads are checked against a *tolerant reading* of the spec:

* every ``$ref`` resolved (component schemas become ``$defs`` of one JSON Schema);
* every property (and every component schema) nullable;
* ``required`` not enforced;
* ``WorkflowDbDto.params`` values free;
* everything else kept: types, enums, ``maxLength``, array item types, ``date-time``
  timestamps (checked to parse as ISO-8601).

Unknown properties are allowed (clients must ignore unknown fields). ``tolerant=False``
gives the strict reading (OpenAPI 3.0 semantics: ``nullable`` only where declared,
``required`` enforced), which real data fails.

Validation runs the schema compiled by ``fastjsonschema`` first (about 50x faster than
``jsonschema`` on task pages); only a payload that fails it is re-validated by
``jsonschema`` (Draft 2020-12) to list every error with its path, so reports always come
from the reference implementation.

Usage from tests (``tests`` is on ``sys.path`` via ``pythonpath = ["tests"]``)::

    from spec_check import spec_validator

    v = spec_validator()
    assert v.errors(payload, "ListTasksResponse") == []
    v.check_response(payload, "/workflow/{workflowId}/tasks")  # raises AssertionError
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import jsonschema
import yaml

try:  # compiled validators: a fast "is it valid?" before jsonschema's detailed report
    import fastjsonschema
except ImportError:  # pragma: no cover - optional speed-up
    fastjsonschema = None

__all__ = ["SPEC_PATH", "SpecError", "SpecValidator", "error_fields", "spec_validator"]

SPEC_PATH = Path(__file__).resolve().parent / "spec" / "seqera-api-latest.yml"

# OpenAPI keywords with no JSON Schema meaning (or none we want to enforce).
_DROP = {
    "nullable",
    "required",
    "discriminator",
    "example",
    "examples",
    "xml",
    "externalDocs",
    "deprecated",
    "readOnly",
    "writeOnly",
}


class SpecError(NamedTuple):
    """One validation failure: where (``tasks[0].task.exit``) and why."""

    path: str
    message: str

    @property
    def field(self) -> str:
        """The last property name of :attr:`path` (``exit`` for ``tasks[0].task.exit``)."""
        last = self.path.rsplit(".", 1)[-1]
        return last.split("[", 1)[0]


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<root>"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Let ``schema`` also accept null (types and enums widened; refs point at nullable defs)."""
    out = dict(schema)
    t = out.get("type")
    if isinstance(t, str):
        out["type"] = [t, "null"]
    elif isinstance(t, list) and "null" not in t:
        out["type"] = [*t, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


def _convert(node: Any, *, tolerant: bool) -> Any:
    """OpenAPI 3.0 schema -> JSON Schema 2020-12 (tolerant or strict)."""
    if isinstance(node, list):
        return [_convert(x, tolerant=tolerant) for x in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref":
            out["$ref"] = "#/$defs/" + str(value).rsplit("/", 1)[-1]
        elif key.startswith("x-") or (key in _DROP and (tolerant or key not in ("required",))):
            continue
        elif key == "properties":
            props = {}
            for name, sub in value.items():
                conv = _convert(sub, tolerant=tolerant)
                if tolerant or isinstance(sub, dict) and sub.get("nullable"):
                    conv = _nullable(conv)
                props[name] = conv
            out["properties"] = props
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            conv = _convert(value, tolerant=tolerant)
            out[key] = _nullable(conv) if tolerant else conv
        elif key in ("allOf", "anyOf", "oneOf"):
            out[key] = [_convert(x, tolerant=tolerant) for x in value]
        else:
            out[key] = copy.deepcopy(value)
    if not tolerant and node.get("nullable") and "type" in out:
        out = _nullable(out)
    return out


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # type errors are the type keyword's business
    try:
        datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        return False
    return True


class SpecValidator:
    """Validate payloads against component schemas or path responses of the spec.

    Parameters
    ----------
    spec_path : Path
        The OpenAPI 3.0 YAML file.
    tolerant : bool
        Tolerant reading (see the module docstring) or the strict one.
    """

    def __init__(self, spec_path: Path = SPEC_PATH, *, tolerant: bool = True) -> None:
        with open(spec_path, encoding="utf-8") as fh:
            # The C loader parses the 18k-line spec several times faster when available.
            self.spec = yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        self.tolerant = tolerant
        defs = {
            name: (
                _nullable(_convert(s, tolerant=True)) if tolerant else _convert(s, tolerant=False)
            )
            for name, s in self.spec["components"]["schemas"].items()
        }
        if tolerant:
            # workflow.params holds plain JSON values (booleans, numbers, strings, lists).
            defs["WorkflowDbDto"]["properties"]["params"] = {}
        self.defs = defs
        checker = jsonschema.FormatChecker(formats=())
        checker.checks("date-time")(_date_time)
        self._checker = checker
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._fast: dict[str, Any] = {}

    @property
    def schema_names(self) -> list[str]:
        return sorted(self.defs)

    def _validator(self, name: str) -> jsonschema.protocols.Validator:
        if name not in self.defs:
            raise KeyError(f"no component schema {name!r} in the spec")
        v = self._validators.get(name)
        if v is None:
            schema = {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$defs": self.defs,
                "$ref": f"#/$defs/{name}",
            }
            v = jsonschema.Draft202012Validator(schema, format_checker=self._checker)
            self._validators[name] = v
        return v

    def _fast_validator(self, name: str) -> Any:
        if fastjsonschema is None:
            return None
        fn = self._fast.get(name)
        if fn is None:
            root = {"definitions": _fast_defs(self.defs), "$ref": f"#/definitions/{name}"}
            fn = fastjsonschema.compile(root, formats={"date-time": _date_time})
            self._fast[name] = fn
        return fn

    def response_schema(self, path: str, method: str = "get", status: str | int = 200) -> str:
        """Component schema name of the JSON response of ``method path`` with ``status``."""
        op = self.spec["paths"][path][method.lower()]
        content = op["responses"][str(status)]["content"]["application/json"]["schema"]
        return str(content["$ref"]).rsplit("/", 1)[-1]

    def errors(self, instance: Any, schema: str) -> list[SpecError]:
        """Every failure of ``instance`` against component schema ``schema`` (empty = valid)."""
        fast = self._fast_validator(schema) if schema in self.defs else None
        if fast is not None:
            try:
                fast(instance)
                return []
            except fastjsonschema.JsonSchemaValueException:
                pass  # invalid: let jsonschema say exactly where and why
        out = []
        for err in self._validator(schema).iter_errors(instance):
            out.extend(_leaves(err))
        return sorted(set(out))

    def response_errors(
        self, instance: Any, path: str, method: str = "get", status: str | int = 200
    ) -> list[SpecError]:
        """Failures of a response body of ``method path`` (e.g. ``/workflow/{workflowId}/tasks``)."""
        return self.errors(instance, self.response_schema(path, method, status))

    def check(self, instance: Any, schema: str) -> None:
        """Raise ``AssertionError`` listing the failures, if any."""
        errs = self.errors(instance, schema)
        if errs:
            raise AssertionError(_report(schema, errs))

    def check_response(
        self, instance: Any, path: str, method: str = "get", status: str | int = 200
    ) -> None:
        """Raise ``AssertionError`` if a response body of ``method path`` does not validate."""
        self.check(instance, self.response_schema(path, method, status))


def _fast_defs(defs: dict[str, Any]) -> dict[str, Any]:
    """The same schemas for fastjsonschema (draft-07): ``definitions`` refs, date-time only."""

    def walk(node: Any) -> Any:
        if isinstance(node, list):
            return [walk(x) for x in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "$ref":
                out[key] = str(value).replace("#/$defs/", "#/definitions/")
            elif key == "format" and value != "date-time":
                continue  # int32/int64/float/...: annotations, not checks
            elif key == "properties":
                out[key] = {k: walk(v) for k, v in value.items()}
            else:
                out[key] = walk(value)
        return out

    return {name: walk(schema) for name, schema in defs.items()}


def _leaves(err: jsonschema.ValidationError) -> list[SpecError]:
    # For combinators, report the deepest failures (the field that is wrong, not its parent).
    if err.context:
        out = []
        for sub in err.context:
            out.extend(_leaves(sub))
        return out
    return [SpecError(_path(err.absolute_path), err.message[:300])]


def _report(schema: str, errs: list[SpecError]) -> str:
    lines = [f"{len(errs)} spec violation(s) against {schema}:"]
    lines += [f"  {e.path}: {e.message}" for e in errs[:30]]
    if len(errs) > 30:
        lines.append(f"  ... and {len(errs) - 30} more")
    return "\n".join(lines)


def error_fields(errors: Iterable[SpecError]) -> set[str]:
    """The set of failing field names (last path component of each error)."""
    return {e.field for e in errors}


@functools.lru_cache(maxsize=2)
def spec_validator(tolerant: bool = True) -> SpecValidator:
    """A shared validator (building one parses the 18k-line spec: do it once per session)."""
    return SpecValidator(tolerant=tolerant)
