"""Right-sizing selectors for process names in any text: the snippet parses (a strict reader
of the subset it emits, tests/nextflow_config_check.py) and each selector picks exactly its
process."""

from __future__ import annotations

import pandas as pd
import pytest
from nextflow_config_check import groovy_single_quoted, parse_snippet, regex_literal, selects

from seqera_analytics import reports as R

# Names as Platform may record them: the letters of any script are valid Groovy identifiers,
# and the rest is what a renamed or hand-made record can hold.
NAMES = [
    "ÄLIGN",
    "NFCORE_SAREK:ÄLIGN_BWA",
    "WITH SPACE",
    "it's \"quoted\"",
    "$HOME${x}",
    "back\\slash\\u0041\\n",
    "🧬DNA👨\u200d👩\u200d👧",
    "整列_比对",
    "!NEGATED",
    "a.b*c+d?e|f(g)[h]{i}^j",
    "line\nbreak\ttab\x1b[2J",
    "nbsp\u00a0here",
    "A\u0308LIGN",  # decomposed Ä: a different name from ÄLIGN, to be told apart
]


def suggestions(names, cpus=2, note=None):
    n = len(names)
    return pd.DataFrame({
        "process": pd.array(names, dtype="string"),
        "suggested_cpus": pd.array([cpus] * n, dtype="Int64"),
        "suggested_memory": pd.array(["2.GB" if cpus else None] * n, dtype="string"),
        "suggested_time": pd.array(["1.h" if cpus else None] * n, dtype="string"),
        "note": pd.array([note] * n, dtype="string"),
    })


def test_each_selector_matches_exactly_its_process():
    blocks = parse_snippet(R.nextflow_config(suggestions(NAMES)))
    assert len(blocks) == len(NAMES)
    # Selectors use the simple name (after the last ":"); the others never share one here.
    simple = {n: n.rsplit(":", 1)[-1] for n in NAMES}
    others = list(simple.values()) + ["ÄLIGNX", "xÄLIGN", "aXb*c+d?e|f(g)[h]{i}^j", "NEGATED",
                                      "ALIGN", "A", "", "WITH  SPACE"]
    for name, short in simple.items():
        matching = [sel for sel in blocks if selects(sel, short)]
        assert len(matching) == 1, (name, matching)
        sel = matching[0]
        assert regex_literal(sel) == short
        assert [o for o in others if o != short and selects(sel, o)] == []
        assert blocks[sel] == {"cpus": 2, "memory": 2 * 1024**3, "time": 1.0}


def test_names_in_comments_cannot_break_out_of_them():
    # A process without suggestions is listed in a comment; one with a note gets a comment
    # line too. A raw line break there would start a line the reader rejects.
    frame = pd.concat([suggestions(["skip\nme cpus = 99"], cpus=None, note="too few"),
                       suggestions(["noted\r\nx"], note="uses more CPU than requested")])
    text = R.nextflow_config(frame.reset_index(drop=True))
    blocks = parse_snippet(text)
    assert [regex_literal(sel) for sel in blocks] == ["noted\r\nx"]
    assert blocks[next(iter(blocks))]["cpus"] == 2
    lines = [line.strip() for line in text.split("\n")]
    assert [line.startswith("//") for line in lines if "skip" in line or "noted" in line] == [
        True, False, True]  # the note of "noted", its block, the skipped process


def test_colliding_simple_names_use_the_qualified_name_escaped():
    names = ["WF_Ä:ÄLIGN", "WF_B.X:ÄLIGN"]
    blocks = parse_snippet(R.nextflow_config(suggestions(names)))
    assert sorted(regex_literal(s) for s in blocks) == sorted(names)
    for sel in blocks:
        assert sum(selects(sel, n) for n in names) == 1
        assert not selects(sel, "WF_BxX:ÄLIGN")


@pytest.mark.parametrize("literal,value", [
    (r"'it\'s'", "it's"), (r"'a\\b'", "a\\b"), (r"'$x'", "$x"), ("'ÄLIGN'", "ÄLIGN"),
])
def test_the_checker_reads_groovy_strings(literal, value):
    assert groovy_single_quoted(literal, 0) == (value, len(literal))


@pytest.mark.parametrize("bad", [
    "process {\n    withName: 'a'b' {\n        cpus = 1\n    }\n}\n",  # quote not escaped
    "process {\n    withName: 'a\\qb' {\n        cpus = 1\n    }\n}\n",  # no Groovy escape
    "process {\n    withName: 'a.b' {\n        cpus = 1\n    }\n}\n",  # regex metachar
    "process {\n    withName: '!ab' {\n        cpus = 1\n    }\n}\n",  # negation
    "process {\n    // \\u000a cpus = 1\n}\n",  # the lexer would end the comment
])
def test_the_checker_rejects_what_nextflow_would_misread(bad):
    with pytest.raises(AssertionError):
        for sel in parse_snippet(bad):
            regex_literal(sel)
