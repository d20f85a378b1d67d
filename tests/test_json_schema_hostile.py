"""Hostile, huge and malformed schemas: compile within the budget or raise a typed error."""
from __future__ import annotations

import time

import pytest

from constrain import CompileBudgetError, ConstrainError, SchemaError, UnsupportedSchemaError
from constrain.frontends.json_schema import schema_to_spec
from json_schema_harness import Harness


def _timed(fn, limit=10.0):
    t0 = time.monotonic()
    out = fn()
    assert time.monotonic() - t0 < limit
    return out


def test_ref_cycle_without_base_case():
    with pytest.raises(SchemaError, match="cycle"):
        _timed(lambda: schema_to_spec({"$ref": "#"}))
    with pytest.raises(SchemaError, match="cycle"):
        _timed(lambda: schema_to_spec({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"allOf": [{"$ref": "#/$defs/a"}]}},
                                       "$ref": "#/$defs/a"}))


def test_ref_cycle_through_anyof_is_typed():
    with pytest.raises(ConstrainError):
        _timed(lambda: schema_to_spec({"anyOf": [{"$ref": "#"}, {"type": "string"}]}))


def test_recursion_that_consumes_input_compiles():
    h = Harness({"type": "array", "items": {"$ref": "#"}})
    assert h.accepts("[[], [[]]]") and not h.accepts("[1]")


def test_required_recursion_is_empty():
    spec = schema_to_spec({"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]})
    assert spec.extra["empty"]


def test_oneof_nested_ten_deep():
    s: dict = {"type": "integer"}
    for i in range(10):
        s = {"oneOf": [s, {"type": "integer", "minimum": i}]}
    h = _timed(lambda: Harness(s))
    import jsonschema

    v = jsonschema.Draft202012Validator(s)
    for x in (-1, 0, 3, 9, 20, "a"):
        assert h.accepts_value(x) == v.is_valid(x)


def test_enum_of_100000_strings():
    with pytest.raises(CompileBudgetError):
        _timed(lambda: schema_to_spec({"enum": [f"value-{i}" for i in range(100_000)]}), 5.0)


def test_catastrophic_backtracking_pattern():
    h = _timed(lambda: Harness({"type": "string", "pattern": "(a+)+$"}))
    t0 = time.monotonic()
    assert not h.accepts_value("a" * 40 + "b")
    assert h.accepts_value("b" + "a" * 40)
    assert time.monotonic() - t0 < 5.0


def test_min_length_one_million():
    h = _timed(lambda: Harness({"type": "string", "minLength": 1_000_000}))
    assert not h.accepts_value("short")
    h2 = _timed(lambda: Harness({"type": "string", "maxLength": 1_000_000}))
    assert h2.accepts_value("short")


@pytest.mark.parametrize("bad", ['{"type": ', "[1, 2", b"\xff\xfe", "nul"])
def test_malformed_json(bad):
    with pytest.raises(SchemaError):
        schema_to_spec(bad)


@pytest.mark.parametrize("bad", [[1, 2], 42, "\"string\"", None, 1.5])
def test_not_an_object_or_boolean(bad):
    with pytest.raises(SchemaError):
        schema_to_spec(bad)


@pytest.mark.parametrize("schema,exc", [
    ({"type": "strin"}, SchemaError),
    ({"minLength": -1}, SchemaError),
    ({"multipleOf": 0}, SchemaError),
    ({"$ref": "#/nope"}, SchemaError),
    ({"$ref": "http://example.com/remote.json"}, SchemaError),
    ({"pattern": "(?<=a)b"}, UnsupportedSchemaError),
    ({"pattern": "\\p{Letter}"}, UnsupportedSchemaError),
    ({"pattern": "(a)\\1"}, UnsupportedSchemaError),
])
def test_bad_keyword_values(schema, exc):
    with pytest.raises(exc):
        schema_to_spec(schema)


def test_remote_ref_from_registry():
    from referencing import Registry, Resource

    reg = Registry().with_resource("http://example.com/pos.json",
                                   Resource.from_contents({"$schema": "https://json-schema.org/draft/2020-12/schema",
                                                           "type": "integer", "minimum": 1}))
    h = Harness({"type": "array", "items": {"$ref": "http://example.com/pos.json"}}, registry=reg)
    assert h.accepts_value([1, 2]) and not h.accepts_value([0])


def test_config_budget():
    # 2**12 overlapping alternatives at the start exceed a small max_configs
    s: dict = {"type": "integer"}
    for i in range(12):
        s = {"anyOf": [{"allOf": [s, {"minimum": i}]}, {"allOf": [s, {"maximum": 100 + i}]}]}
    with pytest.raises(CompileBudgetError):
        schema_to_spec(s, max_configs=500)


def test_compile_time_budget():
    s = {"type": "object", "properties": {f"p{i}": {"type": "string", "pattern": f"^x{i}"} for i in range(3000)}}
    with pytest.raises(CompileBudgetError):
        schema_to_spec(s, max_compile_seconds=0.01)


def test_budget_interrupts_one_long_dfa_build(llama3):
    """A pattern whose DFA is exponential ((a|b)*a(a|b){18}: 2**19 states) is one long call into
    interegular: the time limit must stop it inside that call, with the typed error."""
    import constrain

    t0 = time.monotonic()
    with pytest.raises(CompileBudgetError):
        constrain.compile_json_schema({"type": "string", "pattern": "^(a|b)*a(a|b){18}$"}, llama3,
                                      max_compile_seconds=1.0)
    assert time.monotonic() - t0 < 5.0


def test_unanchored_alternation_of_many_words_compiles_fast(llama3):
    """Search semantics for w1|w2|...: one .* on each side, not per branch (that blows up)."""
    import constrain

    words = [f"INTERVAL_{k}" for k in ("TICK", "M1", "M2", "M3", "M5", "M10", "M15", "M30", "H1", "H4", "D1",
                                       "W1", "MN1", "M4", "M6", "M20", "H2")]
    g = _timed(lambda: constrain.compile_json_schema({"type": "string", "pattern": "|".join(words)}, llama3), 10.0)
    h = Harness({"type": "string", "pattern": "|".join(words)})
    assert h.accepts_value("x INTERVAL_M15 y") and not h.accepts_value("INTERVAL_X")
    assert g.matcher().validate_tokens([]) == 0
