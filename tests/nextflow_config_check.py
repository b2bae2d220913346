"""A strict reader of the Nextflow config subset the right-sizing snippet emits.

    // comment
    process {
        withName: '<Groovy single-quoted string holding a Java regex>' {
            cpus = N
            memory = N.MB|GB|TB
            time = N.m|h|d
        }
    }

No Groovy parser is at hand, so this implements the rules the snippet relies on, from the
Groovy and Java documentation, independently of the code under test: a single-quoted string
allows only the escapes ``\\b \\t \\n \\f \\r \\s \\\\ \\' \\" \\$ \\uXXXX`` and no raw line
break; a backslash followed by ``u`` that is preceded by an even number of backslashes would
be turned into a character by the lexer before anything else (Java's unicode-escape rule), so
none may appear anywhere; in a Java regex a backslash before a non-letter is that character,
``\\uXXXX`` is that code unit, and a backslash before any other letter means something else
or is an error. Nextflow negates a selector that starts with ``!`` and matches the rest
against the whole name (``Matcher.matches()``).
"""

from __future__ import annotations

import re

_GROOVY_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", "s": " ",
                   "\\": "\\", "'": "'", '"': '"', "$": "$"}
_JAVA_META = set("\\^$.|?*+()[]{}")
MEM_UNITS = {"MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
TIME_UNITS_H = {"m": 1 / 60, "h": 1.0, "d": 24.0}


def _no_lexer_unicode_escapes(text: str) -> None:
    for m in re.finditer(r"(\\+)u", text):
        assert len(m.group(1)) % 2 == 0, f"a unicode escape the lexer would expand: {m.group(0)!r}"


def groovy_single_quoted(line: str, start: int) -> tuple[str, int]:
    """The value of the single-quoted string at ``line[start]``, and the index after it."""
    assert line[start] == "'", line
    out, i = [], start + 1
    while True:
        assert i < len(line), f"unterminated string: {line!r}"
        ch = line[i]
        if ch == "'":
            return "".join(out), i + 1
        if ch == "\\":
            nxt = line[i + 1 : i + 2]
            if nxt == "u":
                hexd = line[i + 2 : i + 6]
                assert re.fullmatch(r"[0-9a-fA-F]{4}", hexd), line
                out.append(chr(int(hexd, 16)))
                i += 6
                continue
            assert nxt in _GROOVY_ESCAPES, f"not a Groovy escape: \\{nxt} in {line!r}"
            out.append(_GROOVY_ESCAPES[nxt])
            i += 2
            continue
        assert ch.isprintable() or ord(ch) > 0xFFFF, f"raw {ch!r} in a string: {line!r}"
        out.append(ch)
        i += 1


def regex_literal(pattern: str) -> str:
    """The one string a Java regex made only of literals and escaped literals matches.

    Fails on anything else: a metacharacter, an escape Java reads as a class or an error,
    a leading ``!`` (Nextflow's negation)."""
    assert not pattern.startswith("!"), f"negated selector: {pattern!r}"
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            nxt = pattern[i + 1 : i + 2]
            assert nxt, f"trailing backslash: {pattern!r}"
            if nxt == "u":
                hexd = pattern[i + 2 : i + 6]
                assert re.fullmatch(r"[0-9a-fA-F]{4}", hexd), pattern
                out.append(chr(int(hexd, 16)))
                i += 6
                continue
            assert ord(nxt) < 0x80 and not nxt.isalnum(), f"Java escape \\{nxt} in {pattern!r}"
            out.append(nxt)
            i += 2
            continue
        assert ch not in _JAVA_META, f"unescaped {ch!r} in {pattern!r}"
        out.append(ch)
        i += 1
    return "".join(out)


def parse_snippet(text: str) -> dict[str, dict[str, float]]:
    """Selector regex -> {cpus, memory [bytes], time [h]}; AssertionError on any other line."""
    _no_lexer_unicode_escapes(text)
    depth, selector = 0, None
    out: dict[str, dict[str, float]] = {}
    for n, raw in enumerate(text.split("\n"), 1):
        assert "\r" not in raw and all(c.isprintable() or ord(c) > 0xFFFF for c in raw), (n, raw)
        line = raw.strip()
        if not line or line.startswith("//"):
            continue
        if depth == 0:
            assert line == "process {", (n, raw)
            depth = 1
        elif depth == 1 and line == "}":
            depth = 0
        elif depth == 1:
            assert line.startswith("withName:"), (n, raw)
            rest = line[len("withName:"):].lstrip()
            selector, end = groovy_single_quoted(rest, 0)
            assert rest[end:].strip() == "{", (n, raw)
            assert selector not in out, f"duplicate selector {selector!r}"
            out[selector] = {}
            depth = 2
        elif line == "}":
            depth = 1
        else:
            assert selector is not None
            if m := re.fullmatch(r"cpus = (\d+)", line):
                out[selector]["cpus"] = int(m.group(1))
            elif m := re.fullmatch(r"memory = (\d+)\.(MB|GB|TB)", line):
                out[selector]["memory"] = int(m.group(1)) * MEM_UNITS[m.group(2)]
            elif m := re.fullmatch(r"time = (\d+)\.(m|h|d)", line):
                out[selector]["time"] = int(m.group(1)) * TIME_UNITS_H[m.group(2)]
            else:
                raise AssertionError(f"line {n}: {raw!r}")
    assert depth == 0, "unclosed block"
    return out


def selects(selector: str, name: str) -> bool:
    """Whether Nextflow applies ``withName: selector`` to a process named ``name``
    (Python's ``re`` for Java's: the selectors checked are escaped literals, read alike)."""
    regex_literal(selector)  # only patterns both engines read the same way
    return re.fullmatch(selector, name) is not None
