"""Per keyword family: instances that must be accepted and instances that must be rejected.

The instances are serialised with json.dumps (", " and ": " separators, as MaskBench
does) and run through the reference lexer in json_schema_harness (the engine's
lexing rules over the emitted terminals). Every expectation is also checked against
the ``jsonschema`` package, so a wrong expectation fails loudly too.
"""
from __future__ import annotations

import json
from fractions import Fraction

import jsonschema
import pytest

from json_schema_harness import Harness

CASES = [
    # ------------------------------------------------------------------ types
    ("type", {"type": "integer"}, [1, -5, 0, 10**20, 1.0], [1.5, "1", None, True, [], {}]),
    ("type-array", {"type": ["string", "null"]}, ["a", None, ""], [1, False, [], {}]),
    ("number", {"type": "number"}, [1, -2.5, 1e-7, 3.25e20, 0], ["x", None, [1]]),
    ("boolean", {"type": "boolean"}, [True, False], [0, 1, "true", None]),
    ("null", {"type": "null"}, [None], [0, False, "", []]),
    ("true-schema", True, [1, "x", None, [1, {"a": 2}], {"b": [None]}], []),
    ("enum", {"enum": ["red", "green", 3, None, [1, 2], {"a": 1}]},
     ["red", "green", 3, 3.0, None, [1, 2], {"a": 1}], ["blue", 4, [1], [2, 1], {"a": 2}, {"a": 1, "b": 1}, False]),
    ("const", {"const": {"k": [1, "x"]}}, [{"k": [1, "x"]}], [{"k": [1]}, {"k": [1, "x"], "j": 0}, [1, "x"]]),
    ("const-bool-vs-int", {"const": False}, [False], [0, None]),
    ("nullable", {"type": "string", "nullable": True}, ["a", None], [1]),
    # ------------------------------------------------------------------ strings
    ("minLength", {"type": "string", "minLength": 2}, ["ab", "abc", "ü€"], ["", "a", "€"]),
    ("maxLength", {"type": "string", "maxLength": 3}, ["", "abc", "a\"b", "日本語"], ["abcd", "日本語x"]),
    ("maxLength-long", {"type": "string", "maxLength": 100}, ["x" * 100, ""], ["x" * 101]),
    ("minLength-huge", {"type": "string", "minLength": 40}, ["y" * 40], ["y" * 39]),
    ("minLength>maxLength", {"minLength": 5, "maxLength": 3}, [1, None, [], {}], ["", "abcd", "abcde"]),
    ("not-minLength>maxLength", {"type": "string", "not": {"minLength": 5, "maxLength": 3}}, ["abc", ""], [1]),
    ("format-uri-template", {"format": "uri-template"}, ["/r/{id}{?q,lang}", "x{+p:3}"], ["/r/{", "{a-b}"]),
    ("dependencies-array-d7", {"$schema": "http://json-schema.org/draft-07/schema#",
                               "dependencies": {"a": ["b"], "c": {"required": ["d"]}}},
     [{"a": 1, "b": 2}, {"c": 1, "d": 2}, {}], [{"a": 1}, {"c": 1}]),
    ("pattern-search", {"type": "string", "pattern": "a[0-9]"}, ["a1", "xxa9yy"], ["a", "b1", "A1"]),
    ("pattern-anchored", {"type": "string", "pattern": "^[A-Z]{2}-\\d+$"}, ["AB-1", "XY-123"], ["AB-", "ab-1", "AB-1x"]),
    ("pattern+length", {"type": "string", "pattern": "^a", "maxLength": 3}, ["a", "abc"], ["abcd", "b"]),
    ("pattern-repeat+length", {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 4},
     ["ab", "abcd"], ["a", "abcde", "aB"]),
    ("pattern-escapes", {"type": "string", "pattern": "^[\\\\\"/]+$"}, ["\\", "\"/\\"], ["a", ""]),
    ("pattern-alt-anchor", {"type": "string", "pattern": "^$|^x+$"}, ["", "xx"], ["y", "xy"]),
    ("pattern-lookahead", {"type": "string", "pattern": "^(?=.*[0-9])(?!admin)[a-z0-9]{3,8}$"},
     ["abc1", "ad1min", "9xy"], ["abcd", "admin1", "ab", "abcdefgh1", "admin9"]),
    ("pattern-lookahead-keys", {"type": "object", "patternProperties": {"^(?!@@)[a-z@]+$": {"type": "integer"}},
                                "additionalProperties": False},
     [{"a@": 1}, {"@a": 2, "b": 3}, {}], [{"@@a": 1}, {"a@": "x"}, {"A": 1}]),
    ("format-date", {"type": "string", "format": "date"}, ["2024-02-29", "1999-12-31"], ["2024-13-01", "24-01-01", "x"]),
    ("format-date-time", {"type": "string", "format": "date-time"}, ["2024-01-01T10:00:00Z", "2024-01-01T10:00:00.5+02:00"],
     ["2024-01-01", "2024-01-01T25:00:00Z"]),
    ("format-uuid", {"format": "uuid"}, ["12345678-1234-1234-1234-123456789abc", 5], ["12345678-1234-1234-1234-123456789ab"]),
    ("format-ipv4", {"type": "string", "format": "ipv4"}, ["192.168.0.1", "0.0.0.0"], ["256.1.1.1", "1.2.3"]),
    ("format-email", {"type": "string", "format": "email"}, ["a.b@example.com"], ["no-at-sign", "a@"]),
    ("format-unknown", {"type": "string", "format": "my-format"}, ["anything"], [1]),
    # ------------------------------------------------------------------ numbers
    ("minimum", {"type": "integer", "minimum": 3}, [3, 4, 100], [2, -3, 0]),
    ("maximum-excl", {"type": "number", "exclusiveMaximum": 2.5}, [2.49, -7, 0], [2.5, 2.51, 3]),
    ("range", {"type": "number", "minimum": -1.5, "maximum": 10}, [-1.5, 0, 10, 9.99, -1.25], [-1.51, 10.01, 11]),
    ("range-int", {"type": "integer", "minimum": 10, "maximum": 255}, [10, 99, 255], [9, 256, 1000, -10]),
    ("multipleOf-int", {"type": "integer", "multipleOf": 7}, [0, 7, 49, -14], [1, 50]),
    ("multipleOf-dec", {"type": "number", "multipleOf": 0.01}, [1.25, 3, 0.1], [1.255, 0.001]),
    ("multipleOf-0.5", {"type": "number", "multipleOf": 0.5, "minimum": 0, "maximum": 3}, [0, 0.5, 3, 2.5], [0.25, 3.5, -0.5]),
    ("min-zero-exp", {"type": "number", "minimum": 0}, [0, 1e-7, 2.5e20, 0.0], [-1e-7, -1]),
    ("draft4-exclusive", {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number", "minimum": 5,
                          "exclusiveMinimum": True}, [5.1, 6], [5, 4]),
    # ------------------------------------------------------------------ objects
    ("properties", {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}},
     [{}, {"a": 1}, {"a": 1, "b": "x"}, {"c": [1]}], [{"a": "x"}, {"b": 2}, []]),
    ("required", {"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a", "b"]},
     [{"a": 1, "b": 2}], [{"a": 1}, {"b": 1}, {}]),
    ("additional-false", {"type": "object", "properties": {"a": {}}, "additionalProperties": False},
     [{}, {"a": 1}], [{"b": 1}, {"a": 1, "b": 2}]),
    ("additional-schema", {"type": "object", "properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
     [{"a": "x", "b": 1}, {"z": 2}], [{"b": "x"}]),
    ("patternProperties", {"type": "object", "patternProperties": {"^x-": {"type": "string"}},
                           "additionalProperties": False}, [{"x-a": "1"}, {}], [{"x-a": 1}, {"y": "1"}]),
    ("propertyNames", {"type": "object", "propertyNames": {"maxLength": 3}}, [{"abc": 1}, {}], [{"abcd": 1}]),
    ("min/maxProperties", {"type": "object", "minProperties": 1, "maxProperties": 2},
     [{"a": 1}, {"a": 1, "b": 2}], [{}, {"a": 1, "b": 2, "c": 3}]),
    ("dependentRequired", {"dependentRequired": {"a": ["b"]}}, [{"a": 1, "b": 2}, {"b": 1}, {}], [{"a": 1}]),
    ("dependentSchemas", {"dependentSchemas": {"a": {"required": ["c"]}}}, [{"a": 1, "c": 2}, {"b": 1}], [{"a": 1}]),
    ("dependencies-draft7", {"$schema": "http://json-schema.org/draft-07/schema#",
                             "dependencies": {"a": ["b"], "c": {"properties": {"d": {"type": "integer"}}}}},
     [{"a": 1, "b": 1}, {"c": 1, "d": 2}, {"d": "x"}], [{"a": 1}, {"c": 1, "d": "x"}]),
    ("escaped-key", {"type": "object", "properties": {"a\"b": {"type": "integer"}}, "additionalProperties": False},
     [{"a\"b": 1}], [{"a\"b": "x"}, {"ab": 1}]),
    ("unevaluatedProperties", {"properties": {"a": {}}, "allOf": [{"properties": {"b": {}}}],
                               "unevaluatedProperties": False}, [{"a": 1, "b": 2}], [{"a": 1, "c": 3}]),
    # ------------------------------------------------------------------ arrays
    ("items", {"type": "array", "items": {"type": "integer"}}, [[], [1, 2, 3]], [[1, "x"], ["a"], {}]),
    ("prefixItems", {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
     [[], ["a"], ["a", 1]], [[1], ["a", 1, 2], ["a", "b"]]),
    ("draft7-items-array", {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}],
                            "additionalItems": {"type": "integer"}}, [["a", 1, 2], []], [["a", "b"], [1]]),
    ("min/maxItems", {"type": "array", "minItems": 1, "maxItems": 2}, [[1], [1, 2]], [[], [1, 2, 3]]),
    ("contains", {"type": "array", "contains": {"type": "string"}, "minContains": 2, "maxContains": 3},
     [["a", "b"], [1, "a", "b", "c"]], [["a"], [1, 2], ["a", "b", "c", "d"]]),
    ("uniqueItems", {"type": "array", "uniqueItems": True},
     [[1, 2], [[1], [2]], [{"a": 1}, {"a": 2}], [1, "1"], [0, False]],
     [[1, 1], [1, 1.0], [[1, 2], [1, 2]], [{"a": 1, "b": 2}, {"b": 2, "a": 1}]]),
    # ------------------------------------------------------------------ combinators
    ("anyOf", {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "integer"}]}, ["ab", 5], ["abc", 1.5, None]),
    ("oneOf-disjoint", {"oneOf": [{"type": "string"}, {"type": "integer"}]}, ["a", 1], [None, 1.5]),
    ("oneOf-overlap", {"oneOf": [{"type": "integer"}, {"minimum": 2}]}, [1, 2.5, "x"], [2, 3]),
    ("oneOf-objects", {"oneOf": [{"required": ["a"]}, {"required": ["b"]}]}, [{"a": 1}, {"b": 1}], [{"a": 1, "b": 2}, {}]),
    ("allOf", {"allOf": [{"type": "string", "minLength": 2}, {"type": "string", "maxLength": 3}]},
     ["ab", "abc"], ["a", "abcd", 1]),
    ("allOf-objects", {"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                                 {"properties": {"a": {"minimum": 5}, "b": {"type": "string"}}}]},
     [{"a": 5}, {"a": 9, "b": "x"}], [{"a": 4}, {"b": "x"}, {"a": 6, "b": 1}]),
    ("not-type", {"not": {"type": "string"}}, [1, None, [], {}], ["a"]),
    ("not-const", {"type": "string", "not": {"const": "x"}}, ["y", "xx"], ["x"]),
    ("not-object", {"type": "object", "not": {"required": ["a"]}}, [{}, {"b": 1}], [{"a": 1}]),
    ("if-then-else", {"if": {"properties": {"k": {"const": "n"}}}, "then": {"properties": {"v": {"type": "number"}}},
                      "else": {"properties": {"v": {"type": "string"}}}},
     [{"k": "n", "v": 1}, {"k": "s", "v": "x"}], [{"k": "n", "v": "x"}, {"k": "s", "v": 1}]),
    ("integer-draft4-literal", {"$schema": "http://json-schema.org/draft-04/schema#", "type": "integer", "minimum": 3},
     [3, 12345], [12345.0, 2, 4.5]),
    ("integer-draft7-integral", {"$schema": "http://json-schema.org/draft-07/schema#", "type": "integer"},
     [3, 12345.0], [4.5]),
    ("format-regex", {"type": "string", "format": "regex"}, ["[a-z]+", "(?:x)|y", ""], ["[", "a)", "*"]),
    # ------------------------------------------------------------------ references
    ("ref-defs", {"$defs": {"pos": {"type": "integer", "minimum": 1}}, "type": "array", "items": {"$ref": "#/$defs/pos"}},
     [[1, 2]], [[0], ["x"]]),
    ("ref-recursive", {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"$ref": "#"}},
                       "required": ["v"], "additionalProperties": False},
     [{"v": 1}, {"v": 1, "next": {"v": 2, "next": {"v": 3}}}], [{"v": 1, "next": {}}, {"v": 1, "next": {"v": "x"}}]),
    ("ref-draft7-siblings-ignored", {"$schema": "http://json-schema.org/draft-07/schema#",
                                     "definitions": {"s": {"type": "string"}}, "$ref": "#/definitions/s", "maxLength": 1},
     ["abc"], [1]),
    ("ref-anchor", {"$defs": {"a": {"$anchor": "pos", "minimum": 0}}, "$ref": "#pos"}, [1], [-1]),
    ("ref-id", {"$id": "http://example.com/root.json", "$defs": {"a": {"$id": "item.json", "type": "integer"}},
                "items": {"$ref": "item.json"}}, [[1]], [["x"]]),
]


# expectations not checked against jsonschema: OpenAPI `nullable` (jsonschema ignores it) and
# formats (jsonschema's checkers are looser than the RFC shapes we enforce)
NO_ORACLE = {"nullable"}


@pytest.mark.parametrize("name,schema,good,bad", CASES, ids=[c[0] for c in CASES])
def test_keyword_family(name, schema, good, bad):
    if name not in NO_ORACLE and not name.startswith("format"):
        validator = jsonschema.validators.validator_for(schema)(schema)
        for v in good:
            assert validator.is_valid(v), f"test expectation wrong: {v!r} should be valid"
        for v in bad:
            assert not validator.is_valid(v), f"test expectation wrong: {v!r} should be invalid"
    for order in ("schema", "any"):
        h = Harness(schema, property_order=order)
        for v in good:
            assert h.accepts_value(v), f"{name}: valid instance rejected ({order}): {json.dumps(v)}"
        for v in bad:
            assert not h.accepts_value(v), f"{name}: invalid instance accepted ({order}): {json.dumps(v)}"


def test_whitespace_modes():
    s = {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}
    flex = Harness(s)
    assert flex.accepts('{"a": [1, 2]}')
    assert flex.accepts('{\n  "a" : [ 1 ,\n 2 ]\n}\n')
    assert not flex.accepts('{"a": [1, 2]}' + " " * 30)  # bounded
    assert flex.accepts(json.dumps({"a": [1, 2]}, indent=2)) and flex.accepts(json.dumps({"a": [1]}, indent="\t"))
    assert not flex.accepts('{\n\n  "a": [1]}')  # at most one line break per gap
    assert not flex.accepts('{"a": [1]}\n\n\n')
    compact = Harness(s, whitespace="compact")
    assert compact.accepts('{"a":[1,2]}')
    assert not compact.accepts('{"a": [1,2]}')
    seps = Harness(s, separators=(", ", ": "), whitespace="compact")
    assert seps.accepts('{"a": [1, 2]}')
    assert not seps.accepts('{"a":[1,2]}')
    custom = Harness(s, whitespace="[ ]?")
    assert custom.accepts('{ "a": [1, 2] }')
    assert not custom.accepts('{\n"a":[1]}')


def test_property_order():
    s = {"type": "object", "properties": {"a": {}, "b": {}, "c": {}}, "required": ["a", "c"]}
    schema_order = Harness(s)
    assert schema_order.accepts_value({"a": 1, "b": 2, "c": 3})
    assert schema_order.accepts_value({"a": 1, "c": 3})
    assert schema_order.accepts_value({"a": 1, "c": 3, "zz": 0})
    assert schema_order.accepts_value({"a": 1, "c": 3, "zz": 0, "b2": 1})
    # additional keys follow the required known ones (generation: the schema's keys first)
    assert not schema_order.accepts_value({"zz": 0, "a": 1, "c": 3})
    assert not schema_order.accepts_value({"a": 1, "zz": 0, "c": 3})
    assert not schema_order.accepts_value({"c": 3, "a": 1})
    opt = Harness({"type": "object", "properties": {"a": {}, "b": {}}})
    assert opt.accepts_value({"a": 1, "zz": 0}) and opt.accepts_value({"zz": 0})  # optional ones may be skipped
    assert opt.accepts_value({"zz": 0, "a": 1, "b": 2})  # and may follow additional keys
    # inside oneOf/not/if-conditions the order must not apply: a branch refusing an out-of-order
    # value would flip the group's decision (here both branches match {"b","a"}: invalid)
    neg = Harness({"oneOf": [{"properties": {"a": {}, "b": {}}, "required": ["a", "b"]}, {"required": ["a"]}]})
    assert not neg.accepts_value({"b": 1, "a": 2}) and not neg.accepts_value({"a": 1, "b": 2})
    assert neg.accepts_value({"a": 1}) and neg.accepts_value({"a": 1, "zz": 0})
    notc = Harness({"not": {"properties": {"a": {}}, "required": ["a"]}, "type": "object"})
    assert not notc.accepts_value({"zz": 0, "a": 1}) and notc.accepts_value({"zz": 0})
    anyo = Harness(s, property_order="any")
    assert anyo.accepts_value({"c": 3, "a": 1})
    assert anyo.accepts_value({"zz": 0, "c": 3, "b": 1, "a": 1})
    assert not anyo.accepts_value({"c": 3, "b": 1})
    assert not anyo.accepts('{"a": 1, "a": 2, "c": 3}')  # duplicate keys


def test_prefix_viability_required():
    """After a prefix the candidates never let the object close before `required` is met."""
    s = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["b"],
         "additionalProperties": False}
    h = Harness(s, whitespace="compact")
    p = h.parser
    st = p.start()
    from constrain.frontends.json_schema.parser import COMMA, LBRACE, RBRACE

    st = p.feed(st, (LBRACE,), b"")
    assert RBRACE not in p.candidates(st)
    lit_a = [i for i, t in enumerate(h.spec.terminals) if t.literal == b'"a"'][0]
    st = p.feed(st, (lit_a,), b'"a"')
    st = p.feed(st, (h.spec.terminals.index(next(t for t in h.spec.terminals if t.name == "':'")),), b"")
    num = sorted(p.candidates(st))[0]
    st = p.feed(st, (num,), b"1")
    cands = p.candidates(st)
    assert RBRACE not in cands and COMMA in cands


def test_lenient_and_relaxed():
    from constrain.frontends.json_schema import schema_to_spec
    from constrain import UnsupportedSchemaError

    s = {"type": "string", "pattern": "(?=a)b"}
    with pytest.raises(UnsupportedSchemaError) as e:
        schema_to_spec(s)
    assert e.value.keyword == "pattern"
    s2 = {"$id": "http://example.com/root.json", "$ref": "b.json",
          "$defs": {"a": {"$id": "a.json", "$dynamicAnchor": "meta", "properties": {"x": {"$dynamicRef": "#meta"}}},
                    "b": {"$id": "b.json", "$dynamicAnchor": "meta", "$ref": "a.json"}}}
    with pytest.raises(UnsupportedSchemaError) as e2:
        schema_to_spec(s2)
    assert "/properties/x" in e2.value.pointer
    spec = schema_to_spec(s2, lenient=True)
    assert spec.extra["relaxed"] and spec.extra["relaxed"][0][1] == "$dynamicRef"


def test_format_annotation_option():
    s = {"type": "string", "format": "date"}
    assert not Harness(s).accepts_value("yesterday")
    assert Harness(s, format_assertion=False).accepts_value("yesterday")


def test_empty_language_compiles_to_nothing():
    for s in (False, {"enum": []}, {"not": {}}, {"type": "integer", "minimum": 5, "maximum": 4}):
        h = Harness(s)
        assert h.spec.extra["empty"]
        assert not h.accepts_value(1) and not h.accepts_value(None)


def test_repeated_additional_keys():
    """Additional names are not remembered where no constraint can tell a repeated key from the
    parsed object (it keeps the last value, validated like the first); elsewhere they are."""
    plain = Harness({"additionalProperties": {"type": "integer"}})
    assert plain.accepts('{"x": 1, "x": 2}')
    assert not plain.accepts('{"x": 1, "x": "a"}')
    negated = Harness({"type": "object", "not": {"additionalProperties": {"type": "integer"}}})
    assert negated.accepts('{"x": "a"}') and not negated.accepts('{"x": 1}')
    assert not negated.accepts('{"x": "a", "x": 1}')  # parsed: {"x": 1}, which `not` rejects
    counted = Harness({"minProperties": 2})
    assert counted.accepts('{"x": 1, "y": 2}') and not counted.accepts('{"x": 1, "x": 2}')
    one_of = Harness({"oneOf": [{"required": ["a"]}, {"additionalProperties": {"type": "string"}}]})
    assert not one_of.accepts('{"x": 1, "x": "s"}')
    known = Harness({"properties": {"a": {"type": "integer"}}})
    assert not known.accepts('{"a": 1, "a": 2}')  # schema properties stay tracked
    # under oneOf, an object whose every guarded frame is blind to ordinary names forgets them:
    # a repeat changes no branch's verdict (parsed {"a": 1, "x": 2} matches only the first)
    blind = Harness({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]})
    assert blind.accepts('{"a": 1, "x": 1, "x": 2}') and not blind.accepts('{"a": 1, "b": 2, "x": 1}')
    # ... but one frame that can see them (a value schema) makes the repeat a rejection for all
    mixed = Harness({"oneOf": [{"required": ["a"]}, {"required": ["b"], "additionalProperties": {"type": "integer"}}]})
    assert mixed.accepts('{"a": 1, "x": "s"}') and not mixed.accepts('{"a": 1, "x": "s", "x": 1}')


def test_huge_numbers_are_exact():
    """Numbers past 28 digits or with huge exponents are compared and divided exactly (the
    default decimal context rounds them to 28 digits, and raised on 1e9999999 % 0.1)."""
    big = 123456789012345678901234567890123
    h = Harness({"type": "array", "uniqueItems": True, "items": {"type": "integer"}})
    assert h.accepts(f"[{big}, {big + 1}]") and not h.accepts(f"[{big}, {big}]")
    h = Harness({"const": big})  # its spellings: exact digits, no float rounding
    assert h.accepts(str(big)) and h.accepts(f"{big}.00") and not h.accepts("123456789012345678901234567900000")
    assert not h.accepts("1.2345678901234569e+32")
    h = Harness({"const": 10**400})  # no float holds it: only its exact digits
    assert h.accepts("1" + "0" * 400) and not h.accepts("1" + "0" * 399)
    h = Harness({"not": {"const": big}})
    assert h.accepts(str(big + 1)) and not h.accepts(str(big))
    h = Harness({"type": "number", "multipleOf": 0.3})
    for text in ["3" * 40, "3" * 40 + "1", "-" + "6" * 35 + ".9", "1" * 33, "9" * 29 + ".6", "9" * 29 + ".5"]:
        assert h.accepts(text) == ((Fraction(text) / Fraction("0.3")).denominator == 1), text
    # a bounded multipleOf range is enumerated exactly (Decimal division would round)
    lo = 10**40
    h = Harness({"type": "number", "multipleOf": 0.3, "minimum": lo, "maximum": lo + 1})
    for frac in ["", ".1", ".2", ".5", ".8", ".9"]:
        text = str(lo) + frac
        assert h.accepts(text) == ((Fraction(text) / Fraction("0.3")).denominator == 1), text


def test_lookahead_patterns_are_exact_in_masks(llama3):
    """Leading lookaheads are lowered into the string's DFA (an intersection), so the mask is
    exact: random walks never reach a dead end and every finished string matches."""
    import random
    import re

    import constrain

    schema = {"type": "string", "pattern": "^(?=.*[0-9])(?!admin)[a-z0-9]{3,8}$"}
    g = constrain.compile_json_schema(schema, llama3)
    ref = re.compile(schema["pattern"].replace("$", "\\Z"))
    for text, ok in [(b'"admin1"', False), (b'"abcd"', False), (b'"ad1min"', True)]:
        m = g.matcher()
        assert (m.advance_bytes(text) and m.is_accepting()) == ok, text
    m = g.matcher()
    assert not m.advance_bytes(b'"admin')  # refused as soon as the lookahead fails
    rng, mask, done = random.Random(3), llama3.allocate_bitmask(), 0
    for _ in range(60):
        m, out = g.matcher(), []
        for _ in range(12):
            m.fill_bitmask(mask)
            ids = llama3.bitmask_to_ids(mask).tolist()
            assert ids, "dead end"
            if m.is_accepting():
                break
            t = rng.choice([i for i in ids if i not in g.stop_ids])
            assert m.advance(t)
            out.append(t)
        if m.is_accepting():
            done += 1
            text = b"".join(llama3.token_bytes[t] for t in out).decode()
            assert ref.search(json.loads(text)), text
    assert done >= 30
