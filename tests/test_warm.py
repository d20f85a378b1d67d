"""The compile-time warm-up (constrain.warm) and the schema witness it walks."""
from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

import constrain
from constrain.frontends.json_schema.witness import string_sampler, witness
from constrain.warm import warm_up
from test_json_schema_engine import _masks_along

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 2},
        "email": {"type": "string", "format": "email"},
        "code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"},
        "age": {"type": "integer", "minimum": 18, "maximum": 99},
        "score": {"type": "number", "exclusiveMinimum": 0.5, "multipleOf": 0.25},
        "role": {"enum": ["admin", "user"]},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "active": {"type": "boolean"},
    },
    "required": ["name", "age", "zip"],
    "additionalProperties": {"type": "string", "maxLength": 5},
}

INSTANCE = {"name": "Ada Lovelace", "age": 36, "role": "admin", "tags": ["math", "poetry"],
            "address": {"city": "London"}, "zip": "W1", "active": True}


def _witness_of(g):
    return witness(g.parser.root, g.parser.info, string_sampler(g))


def test_witness_is_an_instance(llama3):
    g = constrain.compile_json_schema(PERSON, llama3, warm_up=0)
    found, value = _witness_of(g)
    assert found
    jsonschema.validate(value, PERSON, format_checker=jsonschema.FormatChecker())
    # every declared property, the undeclared required one, two array items
    assert set(value) == set(PERSON["properties"]) | {"zip"}
    assert len(value["tags"]) == 2 and value["age"] == 18 and value["role"] == "admin"


def test_witness_of_a_shared_definition_stays_small(llama3):
    # every level refers to the same definition four times: a full witness would have 4**12 values
    schema = {"$defs": {"n": {"type": "object", "properties": {k: {"$ref": "#/$defs/n"} for k in "abcd"}}},
              "$ref": "#/$defs/n"}
    g = constrain.compile_json_schema(schema, llama3, warm_up=0)
    found, value = witness(g.parser.root, g.parser.info, max_values=200)
    assert found
    assert json.dumps(value).count("{") <= 200


def test_shortest_accepted():
    from constrain.fsm.bytedfa import regex_to_dfa

    assert regex_to_dfa("[0-9]{3}x?", 1000, "t").shortest_accepted() == b"000"
    assert regex_to_dfa("[0-9]{3}", 1000, "t").shortest_accepted(b"7") == b"777"
    assert regex_to_dfa("(ab|c)+", 1000, "t").shortest_accepted(b"ab") == b"c"
    assert regex_to_dfa("a{40}", 1000, "t").shortest_accepted(max_states=10) is None


def _walk(g, tok, ids):
    """The masks along ``ids`` from a fresh matcher (the whole stream taken, ending accepting),
    and the mask misses they cost."""
    before = g.stats["mask_misses"]
    masks, ok = _masks_along(g, tok, ids)
    assert ok
    return masks, g.stats["mask_misses"] - before


def test_warm_up_caches_the_witness_path_and_changes_no_mask(llama3, llama3_hf):
    cold = constrain.compile_json_schema(PERSON, llama3, warm_up=0)
    warm = constrain.compile_json_schema(PERSON, llama3, warm_up=30.0)  # a cold store needs more than the default
    assert cold.warm_stats is None
    ws = warm.warm_stats
    assert ws["texts"] == 1 and ws["stopped"] is None and ws["tokens"] > 20
    found, value = _witness_of(warm)
    ids = llama3_hf.encode(json.dumps(value, ensure_ascii=False), add_special_tokens=False)
    masks_cold, misses_cold = _walk(cold, llama3, ids)
    masks_warm, misses_warm = _walk(warm, llama3, ids)
    assert misses_cold > 10 and misses_warm < misses_cold // 3
    assert all(np.array_equal(a, b) for a, b in zip(masks_cold, masks_warm))
    # an instance the witness is not: same masks as without the warm-up
    ids = llama3_hf.encode(json.dumps(INSTANCE, ensure_ascii=False), add_special_tokens=False)
    a, _ = _walk(cold, llama3, ids)
    b, _ = _walk(warm, llama3, ids)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_warm_up_stops_where_the_text_leaves_the_language(llama3):
    g = constrain.compile_json_schema({"type": "array", "items": {"type": "integer"}}, llama3, warm_up=0)
    ws = warm_up(g, [b"[1, 2, x]"], 5.0)
    assert ws["stopped"] == "left the language" and ws["at"] == 7 and ws["texts"] == 0
    ws = warm_up(g, [b"[1, 2, 3]", b"[]"], 5.0)
    assert ws["stopped"] is None and ws["texts"] == 2 and ws["tokens"] >= 4


def test_warm_up_keeps_to_its_budget(llama3):
    g = constrain.compile_json_schema({"type": "array", "items": {"type": "integer"}}, llama3, warm_up=0)
    ws = warm_up(g, [b"[1, 2, 3]"], 0.0)
    assert ws["stopped"] == "budget" and ws["tokens"] == 0


@pytest.mark.parametrize("schema", [False, {"enum": []}, {"not": {}}])
def test_no_warm_up_for_an_empty_language(llama3, schema):
    g = constrain.compile_json_schema(schema, llama3)
    assert g.warm_stats is None


def test_witness_never_builds_terminals_after_compiling(llama3, shared):
    # bundleconfig has pattern strings under nodes compiling never reached: asking for their
    # terminals then raised "a terminal was created after compilation" (a MaskBench crash)
    import gzip

    with gzip.open(shared / "data" / "maskbench-dev.jsonl.gz", "rt") as f:
        case = next(json.loads(line) for line in f if '"JsonSchemaStore---bundleconfig"' in line)
    g = constrain.compile_json_schema(case["schema"], llama3, property_order="any", warm_up=5.0)
    assert g.warm_stats is not None and g.warm_stats["tokens"] > 0
    m = g.matcher()
    for t in case["tests"]:
        if t["valid"]:
            m.reset()
            assert m.advance_bytes(json.dumps(t["data"], ensure_ascii=False).encode()) and m.is_accepting()


def test_warm_up_stays_within_the_compile_budget(llama3):
    g = constrain.compile_json_schema(PERSON, llama3, max_compile_seconds=0.5, warm_up=100.0)
    assert g.warm_stats is not None and 0 < g.warm_stats["budget_s"] <= 0.5
    g = constrain.compile_json_schema(PERSON, llama3, warm_up=0.2)
    assert g.warm_stats["budget_s"] == 0.2
