"""The official JSON Schema Test Suite (draft2020-12, without optional/ and remote refs).

Runs every instance through the reference lexer + parser (tests/json_schema_harness.py):
no invalid instance may be accepted, and at least 90% of the checks must be right.
``format`` is an annotation here, as the 2020-12 specification says by default.
"""
from __future__ import annotations

import json

import pytest

from json_schema_harness import Harness


@pytest.mark.slow
@pytest.mark.parametrize("draft,num", [("draft2020-12", 2020)])
def test_official_suite(shared, draft, num):
    root = shared / "data" / "json-schema-test-suite" / "tests" / draft
    ok = total = 0
    wrongly_accepted = []
    for path in sorted(root.glob("*.json")):
        if path.name.startswith("refRemote"):
            continue
        for case in json.loads(path.read_text()):
            try:
                h = Harness(case["schema"], draft=num, format_assertion=False)
            except Exception:  # noqa: BLE001 - a typed compile error counts as wrong for every test
                total += len(case["tests"])
                continue
            for t in case["tests"]:
                total += 1
                got = h.accepts(json.dumps(t["data"], ensure_ascii=False))
                if got == t["valid"]:
                    ok += 1
                elif got:
                    wrongly_accepted.append(f"{path.name}: {case['description']} / {t['description']}")
    assert not wrongly_accepted, wrongly_accepted
    assert ok / total >= 0.90, f"{ok}/{total}"
