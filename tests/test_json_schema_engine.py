"""compile_json_schema with the real Llama-3 tokenizer and the mask engine.

* valid instances are accepted token by token (each token's mask bit is set);
* invalid instances are never fully accepted;
* random walks drawn from the masks finish with documents that validate.
"""
from __future__ import annotations

import json
import random

import jsonschema
import numpy as np
import pytest

import constrain

SCHEMAS = [
    ({"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer", "minimum": 0,
                                                                                      "maximum": 130},
                                       "tags": {"type": "array", "items": {"enum": ["a", "bb", "ccc"]}, "maxItems": 3,
                                                "uniqueItems": True}},
      "required": ["name", "age"], "additionalProperties": False},
     [{"name": "Ann", "age": 30}, {"name": "Bob", "age": 0, "tags": ["a", "ccc"]}],
     [{"name": "Ann"}, {"name": "Ann", "age": 131}, {"name": "Annabelle!", "age": 1}, {"name": "A", "age": 1, "x": 1},
      {"name": "A", "age": 1, "tags": ["a", "a"]}]),
    ({"anyOf": [{"type": "string", "pattern": "^[a-z]+$"}, {"type": "number", "exclusiveMinimum": 0}]},
     ["abc", 1.5, 7], ["ABC", 0, -2, None]),
    ({"oneOf": [{"type": "integer"}, {"type": "number", "minimum": 2}]}, [1, 2.5, -3], [2, 10]),
]


def _bit(mask, t) -> int:
    return int((mask[t >> 5] >> np.uint32(t & 31)) & np.uint32(1))


def _masks_along(g, tok, ids):
    """The masks before each token of ``ids`` and after the last (stopping at the first refused
    token), and whether the whole stream was taken and ends accepting."""
    m, mask, out = g.matcher(), tok.allocate_bitmask(), []
    for t in ids:
        m.fill_bitmask(mask)
        out.append(mask.copy())
        if not _bit(mask, t) or not m.advance(t):
            return out, False
    m.fill_bitmask(mask)
    out.append(mask.copy())
    return out, m.is_accepting()


def _walks(g, tok, n: int, steps: int, seed: int = 0) -> list[list[int]]:
    """``n`` random walks of up to ``steps`` tokens drawn uniformly from ``g``'s masks (no stop)."""
    rng, out = random.Random(seed), []
    for _ in range(n):
        m, mask, ids = g.matcher(), tok.allocate_bitmask(), []
        for _ in range(steps):
            m.fill_bitmask(mask)
            allowed = [t for t in tok.bitmask_to_ids(mask).tolist() if t not in g.stop_ids]
            if not allowed:
                break
            ids.append(rng.choice(allowed))
            assert m.advance(ids[-1])
        out.append(ids)
    return out


def _same_masks(g1, g2, tok, hf, streams):
    """Assert that two grammars give equal masks and ends along each ``(text, ids)`` stream;
    yields ``(text, accepted)`` per stream."""
    for text, ids in streams:
        a, acc_a = _masks_along(g1, tok, ids)
        b, acc_b = _masks_along(g2, tok, ids)
        assert len(a) == len(b), text
        for i, (x, y) in enumerate(zip(a, b)):
            assert np.array_equal(x, y), (text, i, hf.decode(ids[:i]))
        assert acc_a == acc_b
        yield text, acc_a


@pytest.mark.slow
@pytest.mark.parametrize("schema,good,bad", SCHEMAS)
def test_instances_token_by_token(llama3, llama3_hf, schema, good, bad):
    g = constrain.compile_json_schema(schema, llama3)
    mask = llama3.allocate_bitmask()
    for inst, want in [(v, True) for v in good] + [(v, False) for v in bad]:
        m = g.matcher()
        ids = llama3_hf.encode(json.dumps(inst, ensure_ascii=False), add_special_tokens=False)
        ok = True
        for t in ids:
            m.fill_bitmask(mask)
            allowed = _bit(mask, t)
            adv = m.advance(t)
            assert bool(allowed) == adv, "mask and advance disagree"
            if not adv:
                ok = False
                break
        ok = ok and m.is_accepting()
        assert ok == want, (inst, want)


@pytest.mark.slow
@pytest.mark.parametrize("schema,good,bad", SCHEMAS[:2])
def test_random_walks_validate(llama3, schema, good, bad):
    g = constrain.compile_json_schema(schema, llama3, whitespace="compact")
    rnd = random.Random(3)
    mask = llama3.allocate_bitmask()
    stops = set(llama3.stop_token_ids)
    validator = jsonschema.Draft202012Validator(schema)
    done = 0
    for _ in range(6):
        m = g.matcher()
        out = b""
        for _step in range(60):
            m.fill_bitmask(mask)
            allowed = np.nonzero(np.unpackbits(mask.view(np.uint8), bitorder="little"))[0]
            allowed = [int(t) for t in allowed if t < llama3.vocab_size]
            assert allowed, f"dead end after {out!r}"
            # prefer finishing once possible, to keep walks short
            if any(t in stops for t in allowed) and rnd.random() < 0.5:
                break
            t = rnd.choice([t for t in allowed if t not in stops] or allowed)
            if t in stops:
                break
            assert m.advance(t)
            out += llama3.token_bytes[t]
        else:
            continue
        assert m.is_accepting()
        assert validator.is_valid(json.loads(out.decode())), out
        done += 1
    assert done >= 1


# Value checks decided when a lexeme ends must not let a prefix through that no completion
# can satisfy: a key that is already taken, a string past its maxLength, a too-short string.
NO_DEAD_END = [
    {"type": "object", "properties": {"end": {"type": "number"}, "start": {"type": "number"}},
     "required": ["end"], "additionalProperties": {"type": "integer"}, "maxProperties": 3},
    {"type": "string", "maxLength": 40},
    {"type": "array", "items": {"type": "string", "minLength": 35, "maxLength": 40}, "maxItems": 2},
    {"type": "object", "properties": {"a": {"type": "string", "maxLength": 50, "pattern": "^[a-z ]*$"}},
     "required": ["a"], "additionalProperties": False},
    # a combinator group whose value-carrying branch died must not be kept alive by another branch
    {"allOf": [{"enum": [35, 40]}, {"not": {"allOf": [{"maximum": 30}, {"minimum": 20}]}}]},
    {"type": "object", "properties": {"k": {"allOf": [{"type": "integer"}, {"not": {"const": 3}}]}},
     "required": ["k"], "additionalProperties": False},
]


def test_dead_group_branch_blocks_its_tokens(llama3):
    """allOf [enum, not ...]: the enum branch carries the value; the not's inner branch alone
    (which accepts objects, arrays, booleans, null) must not make their tokens allowed."""
    g = constrain.compile_json_schema(NO_DEAD_END[4], llama3, whitespace="compact")
    allowed = {llama3.token_bytes[i] for i in g.matcher().allowed_token_ids().tolist()}
    assert b"35" in allowed and b"40" in allowed and b"3" in allowed
    assert not any(b.startswith((b"{", b"[", b"t", b"f", b"n", b'"', b"1", b"2")) for b in allowed)


def test_branches_taking_one_lexeme_by_different_terminals(llama3, llama3_hf):
    """allOf over two object schemas: one knows the key "token" (a key literal), the other takes
    it as an additional property (its any-string key). Neither terminal alone is taken by both
    branches; the key must still be allowed (MaskBench Github_hard---o82144)."""
    schema = {"type": "object", "patternProperties": {
        ".*": {"properties": {"level": {"type": "number"}}, "additionalProperties": True},
        "gh": {"properties": {"level": {"type": "number"}, "token": {"type": "string"}},
               "additionalProperties": False}}}
    g = constrain.compile_json_schema(schema, llama3, property_order="any")
    for text, ok in (('{"gh": {"level": 1, "token": "x"}}', True), ('{"gh": {"level": 1, "tok": "x"}}', False)):
        ids = llama3_hf.encode(text, add_special_tokens=False)
        m = g.matcher()
        n = m.validate_tokens(ids)
        assert (n == len(ids) and all(m.advance(t) for t in ids) and m.is_accepting()) == ok, text


@pytest.mark.parametrize("schema", NO_DEAD_END)
def test_walks_never_dead_end_on_value_checks(llama3, schema):
    g = constrain.compile_json_schema(schema, llama3, whitespace="compact")
    rng = random.Random(1)
    stops = set(llama3.stop_token_ids)
    closing = {i for i, b in enumerate(llama3.token_bytes) if b and len(b) <= 3 and any(c in b for c in b'"}],:')}
    finished = 0
    for _ in range(12):
        m = g.matcher()
        mask = llama3.allocate_bitmask()
        out = []
        for _ in range(100):
            m.fill_bitmask(mask)
            ids = llama3.bitmask_to_ids(mask).tolist()
            assert ids, f"dead end after {llama3.decode(out)!r}"
            can_stop = any(i in stops for i in ids)
            body = [i for i in ids if i not in stops]
            if can_stop and (not body or rng.random() < 0.3):
                assert m.is_accepting()
                jsonschema.validate(json.loads(llama3.decode(out)), schema)
                finished += 1
                break
            short = [i for i in body if i in closing]  # lean towards finishing the document
            t = rng.choice(short if short and rng.random() < 0.5 else body)
            assert m.advance(t)
            out.append(t)
    assert finished >= 3


def test_taken_key_is_blocked_at_its_closing_quote(llama3, llama3_hf):
    schema = NO_DEAD_END[0]
    g = constrain.compile_json_schema(schema, llama3, whitespace="compact")
    ids = llama3_hf.encode('{"end":1,"end"', add_special_tokens=False)
    n = g.matcher().validate_tokens(ids)
    assert n == len(ids) - 1 and llama3.token_bytes[ids[n]].endswith(b'"')
    ok = llama3_hf.encode('{"end":1,"endless":2}', add_special_tokens=False)
    assert g.matcher().validate_tokens(ok) == len(ok)


def test_open_string_stays_within_max_length(llama3, llama3_hf):
    g = constrain.compile_json_schema({"type": "string", "maxLength": 40}, llama3)
    for n, accepted in ((40, True), (41, False)):
        ids = llama3_hf.encode(json.dumps("é" * n, ensure_ascii=False), add_special_tokens=False)
        k = g.matcher().validate_tokens(ids)
        assert (k == len(ids)) == accepted
        if not accepted:  # blocked while the string is still open, not at the closing quote
            assert b'"' not in llama3.token_bytes[ids[k]]


# Documented bound (README "JSON Schema", known limits): checks decided when a value ends keep
# accept/reject exact, but a prefix can be allowed that no completion satisfies. These pin the
# bound: strict xfail, so a fix shows up as a failure that asks for the docs to be updated.
BOUND = [
    ({"type": "array", "items": {"type": "string", "pattern": "^[ab]$"}, "uniqueItems": True}, '["a","b","a'),
    ({"type": "string", "pattern": "^a*b$", "minLength": 3}, '"ab'),
]


def test_unique_literal_items_are_exact(llama3, llama3_hf):
    """uniqueItems over literal (enum) items is decided in the mask: a used value is not a
    candidate, and no comma is allowed once every value is used (no dead end)."""
    schema = {"type": "array", "items": {"enum": ["a", "b", True]}, "uniqueItems": True}
    g = constrain.compile_json_schema(schema, llama3, whitespace="compact")

    def allowed_after(prefix):
        m = g.matcher()
        ids = llama3_hf.encode(prefix, add_special_tokens=False)
        assert m.validate_tokens(ids) == len(ids) and all(m.advance(t) for t in ids)
        return {llama3.token_bytes[i] for i in m.allowed_token_ids().tolist()}

    assert b"true" in allowed_after('["a",') and b'"' in allowed_after('["a",')
    after_quote = allowed_after('["a","')
    assert b"b" in after_quote and not any(b.startswith(b"a") for b in after_quote)
    assert b"," not in allowed_after('["a",true,"b"') and b"]" in allowed_after('["a",true,"b"')
    assert b"true" not in allowed_after('[true,')
    few = constrain.compile_json_schema({"type": "array", "items": {"enum": ["a", "b"]}, "uniqueItems": True,
                                         "minItems": 3}, llama3)
    assert not few.matcher().allowed_token_ids().size  # two values cannot make three unique items


@pytest.mark.parametrize("schema,prefix", BOUND)
@pytest.mark.xfail(strict=True, reason="documented bound: value-end checks can leave a dead-end prefix")
def test_documented_value_end_bound(llama3, llama3_hf, schema, prefix):
    g = constrain.compile_json_schema(schema, llama3, whitespace="compact")
    m = g.matcher()
    ids = llama3_hf.encode(prefix, add_special_tokens=False)
    assert m.validate_tokens(ids) == len(ids)  # the prefix is allowed ...
    for t in ids:
        m.advance(t)
    mask = llama3.allocate_bitmask()
    m.fill_bitmask(mask)
    assert mask.any()  # ... and is a dead end: this is what fails today


@pytest.mark.parametrize("schema,prefix", BOUND)
def test_documented_bound_never_accepts_invalid(llama3, llama3_hf, schema, prefix):
    """The same schemas: every completion the engine accepts validates."""
    g = constrain.compile_json_schema(schema, llama3, whitespace="compact")
    for text in ('["a","b"]', '["a","b","a"]', '["a","a"]', '["b"]', '["c"]', '"ab"', '"aab"', '"aaab"', '"abb"'):
        ids = llama3_hf.encode(text, add_special_tokens=False)
        m = g.matcher()
        ok = m.validate_tokens(ids) == len(ids) and all(m.advance(t) for t in ids) and m.is_accepting()
        valid = jsonschema.Draft202012Validator(schema).is_valid(json.loads(text))
        assert ok == valid, text


PREFIXED = [  # key and value positions the prefix-aware batch feed answers (see feed_values_prefix)
    ({"type": "object", "properties": {"name": {"type": "string"}, "names": {"type": "integer"},
                                       "a/b": {"type": "integer"}, "a\nb": {"type": "boolean"}}},
     ['{"name": "x", "names": 2, "other": [1]}', '{"a\\/b": 1}', '{"a\\nb": true, "n": "m"}'],
     ['{"names": "x"}', '{"a\\/b": "s"}', '{"a\\nb": 1}']),
    ({"type": "object", "patternProperties": {"^x-": {"type": "integer"}, "id$": {"type": "string"}},
      "properties": {"xy": {"type": "null"}}},
     ['{"x-a": 1, "myid": "q", "xy": null, "zz": {}}', '{"x-\\/": 2}'],
     ['{"x-a": "s"}', '{"myid": 3}', '{"x-id": 1}', '{"xy": 1}', '{"xid": null}']),
    ({"anyOf": [{"type": "object", "properties": {"ab": {"type": "integer"}}},
                {"type": "object", "properties": {"abc": {"type": "string"}}, "required": ["abc"]}]},
     ['{"ab": 1}', '{"abc": "s", "ab": 2}', '{"zz": 1}', '{"abc": 1}'], ['{"ab": "s"}', '{"abc": 1, "ab": "x"}']),
    ({"oneOf": [{"required": ["a"]}, {"required": ["b"]}]},
     ['{"a": 1, "x": 1, "x": 2}', '{"b": [], "aa": 0}'], ['{"a": 1, "b": 2}', '{"x": 1}']),
]


@pytest.mark.parametrize("schema,good,bad", PREFIXED)
def test_prefixed_value_feeds_match_one_by_one(llama3, llama3_hf, schema, good, bad):
    """Masks with the prefix-aware batch feed equal those with every value fed on its own,
    along the given texts and along random walks; and the texts are decided right."""
    fast = constrain.compile_json_schema(schema, llama3)
    slow = constrain.compile_json_schema(schema, llama3)
    assert fast is not slow and fast._fvp is not None
    slow._fvp = None
    validator = jsonschema.Draft202012Validator(schema)

    streams = [(t, llama3_hf.encode(t, add_special_tokens=False)) for t in good + bad]
    streams += [(None, ids) for ids in _walks(fast, llama3, 30, 24)]
    for text, ids in streams:
        a, acc_a = _masks_along(fast, llama3, ids)
        b, acc_b = _masks_along(slow, llama3, ids)
        assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b)), text
        assert acc_a == acc_b
        if text is not None:
            assert acc_a == (text in good) == validator.is_valid(json.loads(text)), text


SUFFIXES = [b'"', b'-"', b'-a"', b'b"', b'c"', b'id"', b'y"', b'me"', b'mes"', b'\\/b"', b'\\nb"', b'\\/"', b'/b"',
            b'\\\\"', b'\\u0061"', b'\xc3\xa9"']


@pytest.mark.parametrize("schema", [s for s, _, _ in PREFIXED])
def test_prefixed_feed_answers_each_value_as_feed_does(llama3, schema):
    """Parser level: for key prefixes and value endings chosen to hit known names, patterns and
    escapes, ``feed_values_prefix`` gives every value the state ``feed`` gives it."""
    from constrain.grammar import _ValuedExits
    from constrain.lexer import ExitGroup

    g = constrain.compile_json_schema(schema, llama3)
    m = g.matcher()
    assert m.advance_bytes(b'{"')
    p, uid = m.state[0], m.state[1]
    plain, valued = g._exit_plan(g.lexer.info(uid).exits)
    terms = max(valued, key=lambda ve: len(ve.groups)).terms
    one = np.zeros(1, dtype=np.int32)
    ve = _ValuedExits(terms, [ExitGroup(terms, one, one, v) for v in SUFFIXES])
    checked = 0
    for prefix in [b'"', b'"x', b'"x-', b'"a', b'"my', b'"n', b'"na', b'"name', b'"ab', b'"xy', b'"zz', b'"a\\/']:
        got = g.parser.feed_values_prefix(p, terms, prefix, ve)
        if got is None:  # not answerable this way: only an escape in the prefix
            assert b"\\" in prefix
            continue
        default, exc = got
        for i, suf in enumerate(SUFFIXES):
            want = g.parser.feed(p, terms, prefix + suf)
            assert exc.get(i, default) is want, (prefix, suf)
            checked += want is not None
    assert checked > 20


def test_parser_tables_cleared_between_feeds_keep_masks(llama3, llama3_hf, monkeypatch):
    """With the interning tables cleared every few feeds (CACHE_LIMIT tiny), masks stay the same."""
    from constrain.frontends.json_schema import parser as P

    schema = {"type": "object", "required": ["a"],
              "properties": {"a": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
                             "b": {"type": "array", "items": {"$ref": "#"}}}}
    text = '{"a": 1, "b": [{"a": "x"}, {"a": 2, "b": [{"a": null}]}]}'
    ids = llama3_hf.encode(text, add_special_tokens=False)
    runs = []
    for limit in (P.CACHE_LIMIT, 40):
        monkeypatch.setattr(P, "CACHE_LIMIT", limit)
        g = constrain.compile_json_schema(schema, llama3)
        m, mask, out = g.matcher(), llama3.allocate_bitmask(), []
        for t in ids:
            m.fill_bitmask(mask)
            out.append(mask.copy())
            if not _bit(mask, t):
                break
            assert m.advance(t)
        runs.append((out, len(g.parser._cfgs)))
    (a, _), (b, small) = runs
    assert small <= 40 + 200 and len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert len(a) < len(ids)  # the null item is refused


# Read tracking: the same local context at other depths / in other array items / under groups.
_O = {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}
TRACKED = [
    # array items share masks, but the item count (maxItems) is read at each item's end
    ({"type": "array", "maxItems": 3, "items": {"type": "object", "required": ["a"], "additionalProperties": False,
      "properties": {"a": {"type": "integer"}, "b": {"type": "string", "maxLength": 3}}}},
     ['[{"a": 1, "b": "x"}, {"a": 2}, {"a": 3, "b": "yz"}]', '[{"a": 1, "b": "xy"}, {"a": 2}, {"a": 3, "b": "xy"}]'],
     ['[{"a": 1}, {"a": 2}, {"a": 3}, {"a": 4}]', '[{"a": 1, "b": "wxyz"}]']),
    # recursion: the same node at several depths
    ({"$defs": {"n": {"type": "object", "additionalProperties": False, "properties": {
        "v": {"type": "integer"}, "kids": {"type": "array", "maxItems": 2, "items": {"$ref": "#/$defs/n"}}}}},
      "$ref": "#/$defs/n"},
     ['{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}, {"kids": []}]}, {"v": 4}]}'],
     ['{"v": 1, "kids": [{"v": 2, "kids": [{"v": 3}, {"v": 5}, {"v": 6}]}]}', '{"kids": [{"w": 1}]}']),
    # one node in and out of a oneOf (property order is free only under the group) and a not
    ({"$defs": {"o": _O}, "type": "object", "properties": {
        "plain": {"$ref": "#/$defs/o"},
        "one": {"oneOf": [{"$ref": "#/$defs/o"},
                          {"type": "object", "properties": {"a": {"type": "integer", "minimum": 0}}}]},
        "neg": {"type": "object", "properties": {"o": {"$ref": "#/$defs/o"}}, "not": {"required": ["x"]}}}},
     ['{"plain": {"a": 1, "b": 2}, "one": {"b": 1, "a": -1}, "neg": {"o": {"b": 2}}}'],
     ['{"plain": {"a": 1}, "one": {"a": 1}}', '{"neg": {"x": 1}}', '{"one": {"b": 1, "a": 3}}']),
    # uniqueItems records item values: the same object inside and outside the array
    ({"$defs": {"o": _O}, "type": "object", "properties": {
        "x": {"$ref": "#/$defs/o"}, "u": {"type": "array", "uniqueItems": True, "items": {"$ref": "#/$defs/o"}}}},
     ['{"x": {"a": 1}, "u": [{"a": 1}, {"a": 2}, {"b": 1}]}'],
     ['{"x": {"a": 1}, "u": [{"a": 1}, {"a": 1}]}', '{"u": [{"a": 1, "b": 2}, {"a": 1, "b": 2}]}']),
    # uniqueItems over literals: an item already taken is read from the array frame
    ({"type": "array", "uniqueItems": True, "items": {"enum": [1, "a", True, None]}},
     ['[true, null, 1]', '[1, true, "a", null]'], ['[true, null, true]', '[null, null]']),
    # a contains count decided where an item ends (the pop to the array frame is a read)
    ({"type": "array", "items": {"type": "object"}, "contains": {"required": ["c"]}, "maxContains": 1},
     ['[{"d": 1}, {"c": 1}, {"d": 2}]'],
     ['[{"c": 1}, {"d": 1}, {"c": 2}]', '[{"d": 1}]']),
    # allOf and anyOf branches: several configurations at one boundary
    ({"type": "array", "items": {"allOf": [{"type": "object", "properties": {"k": {"enum": [1, 2, 3]}}},
                                          {"anyOf": [{"type": "object", "properties": {"k": {"maximum": 2}}},
                                                     {"type": "object", "required": ["z"]}]}]}},
     ['[{"k": 1}, {"k": 3, "z": 0}, {"k": 2, "z": {"k": 9}}]'],
     ['[{"k": 3}]', '[{"k": 1}, {"k": 4}]']),
]


# an object's bookkeeping (names seen, count, required, dependencies, order) decides what may
# follow a value, but not what a value is (see SchemaParser.answers)
_BOOKKEEPING = {"type": "object", "additionalProperties": False, "required": ["a", "c"], "maxProperties": 3,
                "dependentRequired": {"b": ["d"]},
                "properties": {k: {"type": "string", "maxLength": 4, "description": k} for k in "abcd"}}
TRACKED.append((_BOOKKEEPING, ['{"a": "x", "c": "yz"}', '{"a": "", "c": "w", "d": "q"}'],
                ['{"a": "x"}', '{"a": "x", "b": "y", "c": "z"}', '{"a": "x", "b": "q", "c": "w", "d": ""}']))
TRACKED_ANY_ORDER = [
    (_BOOKKEEPING, ['{"c": "yz", "a": "x"}', '{"d": "q", "a": "", "c": "w"}', '{"a": "x", "c": "y"}'],
     ['{"c": "x"}', '{"b": "y", "c": "z", "a": "x"}', '{"d": "", "c": "w", "b": "q", "a": "x"}',
      '{"c": "w", "a": "x", "b": "q"}']),
    # under a group (the frames above its depth are in every signature) a name already seen is
    # refused when typed again; a key that extends it ("prepublishOnly") passes through that
    # state, whose mask must not be reused where the name was not seen
    ({"allOf": [{"type": "object", "properties": {"scripts": {"type": "object", "properties": {
        k: {"type": "string"} for k in ("prepublish", "prepare", "prepublishOnly", "start", "test")}}}},
        {"not": {"required": ["x"]}}]},
     ['{"scripts": {"prepare": "a", "prepublish": "b", "prepublishOnly": "c"}}',
      '{"scripts": {"start": "a", "test": "b", "prepublish": "c"}}'],
     ['{"x": 1}', '{"scripts": {"start": 1}}']),
    # nested: the inner object's end reads the outer one's bookkeeping
    ({"type": "object", "additionalProperties": False, "required": ["o", "p"], "properties": {
        "o": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}},
        "p": {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}},
     ['{"p": {"b": 1, "a": 2}, "o": {"a": 1}}', '{"o": {"a": 1}, "p": {"a": 1, "b": 2}}'],
     ['{"o": {"a": 1}}', '{"p": {"b": 1}, "o": {"a": 1}}', '{"o": {"a": 1}, "o": {"a": 2}}']),
]


@pytest.mark.parametrize("schema,good,bad", TRACKED)
def test_read_tracking_masks_equal_whole_state_masks(llama3, llama3_hf, schema, good, bad):
    """Masks cached by the part of the parser state their computation read (read tracking)
    equal masks cached by the whole state, along the texts and random walks; the texts are
    decided right; and tracking does share masks (more cache hits)."""
    _check_tracked(llama3, llama3_hf, schema, good, bad)


@pytest.mark.parametrize("schema,good,bad", TRACKED_ANY_ORDER)
def test_read_tracking_any_order(llama3, llama3_hf, schema, good, bad):
    """The same with properties in any order, where every key changes what may follow."""
    _check_tracked(llama3, llama3_hf, schema, good, bad, property_order="any")


def _check_tracked(llama3, llama3_hf, schema, good, bad, **opts):
    tracked = constrain.compile_json_schema(schema, llama3, **opts)
    whole = constrain.compile_json_schema(schema, llama3, **opts)
    assert tracked._tracker is not None
    whole._tracker = None
    validator = jsonschema.Draft202012Validator(schema)

    texts = good + bad  # and their compact forms (other tokens)
    texts += [json.dumps(json.loads(t), separators=(",", ":")) for t in texts]
    streams = [(t, llama3_hf.encode(t, add_special_tokens=False)) for t in texts]
    streams += [(None, ids) for ids in _walks(tracked, llama3, 20, 40)]
    for text, acc in _same_masks(tracked, whole, llama3, llama3_hf, streams):
        if text is not None:
            want = texts.index(text) % len(good + bad) < len(good)
            assert acc == want, text
            if text.count('"o"') < 2:  # json.loads keeps the last of repeated names
                assert validator.is_valid(json.loads(text)) == want, text
    assert tracked.stats["mask_hits"] > whole.stats["mask_hits"]


def test_read_tracking_signatures(llama3):
    """Parser level: two array items at the same local context have equal signatures (they
    share masks); one object node in and out of a oneOf never does, at any depth read (under
    the group the property order is free, so the same frames behave differently)."""
    schema = {"$defs": {"o": _O}, "type": "object", "properties": {
        "plain": {"$ref": "#/$defs/o"}, "arr": {"type": "array", "items": {"$ref": "#/$defs/o"}},
        "barr": {"type": "array", "maxItems": 4, "items": {"$ref": "#/$defs/o"}},
        "one": {"oneOf": [{"$ref": "#/$defs/o"}, {"type": "object", "properties": {"b": {"type": "string"}}}]}}}
    g = constrain.compile_json_schema(schema, llama3)
    parser = g.parser

    def state(text: str):
        m = g.matcher()
        assert m.advance_bytes(text.encode()), text
        return m.state[0]

    # no item bounds: the item index stops counting, so two items are the same state
    assert state('{"arr": [{"a": 1, "') is state('{"arr": [{"a": 3}, {"a": 1, "')
    first, second = state('{"barr": [{"a": 1, "'), state('{"barr": [{"a": 3}, {"a": 1, "')
    assert first is not second
    assert parser.signature(first, 1) == parser.signature(second, 1)
    assert parser.signature(first, 2) != parser.signature(second, 2)  # maxItems: the indices differ
    plain, one = state('{"plain": {"b": 1, "'), state('{"one": {"b": 1, "')
    assert len(one.cfgs) == 1 and next(iter(one.cfgs)).groups  # the string branch died on b
    assert next(iter(plain.cfgs)).frame == next(iter(one.cfgs)).frame
    depth = max(next(iter(s.cfgs)).depth for s in (plain, one)) + 2
    for k in range(1, depth):
        assert parser.signature(plain, k) != parser.signature(one, k), k
    # and the masks differ: "a" after "b" only where the order is free
    a_key = [t for t in range(llama3.vocab_size) if llama3.token_bytes[t] == b'a"']
    mp, mo = g.matcher(), g.matcher()
    assert mp.advance_bytes(b'{"plain": {"b": 1, "') and mo.advance_bytes(b'{"one": {"b": 1, "')
    assert not any(_bit(g.mask(mp.state), t) for t in a_key) and all(_bit(g.mask(mo.state), t) for t in a_key)


def _state_of(g, text: str):
    m = g.matcher()
    assert m.advance_bytes(text.encode()), text
    return m.state[0]


def test_object_answers_in_signatures(llama3):
    """An object frame's bookkeeping (names seen, count, order, required) is read only where a
    key is fed or checked: a computation that reads none of it depends on the frame through
    its answers (what it takes and lexes, after the value and after the comma). So the states
    after the same key, or after keys whose value schemas are equal (leaves are interned by
    content), at different points of an object, have one signature when the bookkeeping is
    not read, and different ones when it is; and what they allow still differs where the
    bookkeeping shows: closing after a value needs every required name."""
    g = constrain.compile_json_schema(_BOOKKEEPING, llama3, property_order="any")
    parser = g.parser

    def state(text: str):
        m = g.matcher()
        assert m.advance_bytes(text.encode()), text
        return m

    coarse, whole = (1, 0), (1, 1)
    # literal keys: the names still allowed are answers, so the states after "a" differ
    p1, p2 = (state(t).state[0] for t in ('{"c": "x", "a" ', '{"c": "x", "d" '))
    assert parser.signature(p1, coarse) != parser.signature(p2, coarse)
    # with additional names the object lexes every key as one string terminal: after known
    # "b" or known "c" it still takes it, so the states after "a" share one coarse signature
    gen = constrain.compile_json_schema({"type": "object", "properties": {
        k: {"type": "string", "description": k} for k in "abc"}}, llama3, property_order="any")
    q1, q2 = (_state_of(gen, t) for t in ('{"b": "x", "a" ', '{"c": "y", "a" '))
    assert q1 is not q2
    assert gen.parser.signature(q1, coarse) == gen.parser.signature(q2, coarse)
    assert gen.parser.signature(q1, whole) != gen.parser.signature(q2, whole)
    assert gen.parser.signature(q1, 1) == gen.parser.signature(q1, whole)  # a plain int reads cells whole
    # a computation that feeds the next key reads the bookkeeping: its signature keeps it
    after = _state_of(gen, '{"b": "x", "')  # the key's lexeme has begun: the state takes a key
    assert [c.frame[2] for c in after.cfgs] == [1]
    gen.parser.track_push()
    assert gen.parser.feed(after, tuple(gen.parser.candidates(after)), b'"a"') is not None
    assert gen.parser.track_pop(after)[1] & 1
    # asking about a key terminal that an object frame does not lex (there, one string
    # terminal lexes every name) is a read of its bookkeeping: its answers do not say
    two = constrain.compile_json_schema({"anyOf": [
        {"type": "object", "properties": {"a": {"type": "integer"}}},
        {"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": False}]}, llama3)
    s2 = _state_of(two, '{"')
    objs = {c: two.parser.info.tinfo(c.frame[1]).obj for c in s2.cfgs}
    assert len(objs) == 2 and sorted(o.generic_any for o in objs.values()) == [False, True]
    lit_a = next(o.lit["a"] for o in objs.values() if not o.generic_any)
    assert all(lit_a not in two.parser.cfg_lex_cands(c) for c, o in objs.items() if o.generic_any)
    two.parser.track_push()
    assert two.parser.feed(s2, (lit_a,), None) is not None
    assert two.parser.track_pop(s2)[1] & 1
    close = [t for t in range(llama3.vocab_size) if llama3.token_bytes[t] == b'"}']
    assert close
    m1, m2 = state('{"a": "x'), state('{"c": "y", "a": "x')
    assert not any(_bit(g.mask(m1.state), t) for t in close)  # "c" is still required
    assert all(_bit(g.mask(m2.state), t) for t in close)


def test_unique_items_share_masks_inside_items(llama3):
    """Under uniqueItems the array frame records each item's tokens, but only an item's end
    reads them: inside the second item the state differs from the first (its record), yet the
    signature a local computation reads is the same, while an item that ends as a repeat is
    still refused."""
    schema = {"type": "array", "uniqueItems": True,
              "items": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}
    g = constrain.compile_json_schema(schema, llama3)
    parser = g.parser

    def matcher(text: str):
        m = g.matcher()
        assert m.advance_bytes(text.encode()), text
        return m

    first, second = matcher('[{"a": 1, "').state[0], matcher('[{"a": 2}, {"a": 1, "').state[0]
    assert first is not second
    assert parser.signature(first, 1) == parser.signature(second, 1)
    plain = constrain.compile_json_schema({**schema, "uniqueItems": False}, llama3)
    other = plain.matcher()
    assert other.advance_bytes(b'[{"a": 1, "')
    assert parser.signature(first, 1) != plain.parser.signature(other.state[0], 1)  # capt is in the key
    # a repeated item is refused where it ends, a new one is not
    close = [t for t in range(llama3.vocab_size) if llama3.token_bytes[t] == b"}]"]
    rep, new = matcher('[{"a": 1}, {"a": 1'), matcher('[{"a": 1}, {"a": 2')
    assert not any(_bit(g.mask(rep.state), t) for t in close)
    assert all(_bit(g.mask(new.state), t) for t in close)


def test_remembered_feeds_replay_their_reads(llama3):
    """A feed is memoised per state; a remembered one must report the same read depth as the
    computed one (a pop reads the frame below), or masks would be shared too widely."""
    from constrain.frontends.json_schema.parser import RBRACE

    g = constrain.compile_json_schema({"type": "object", "properties": {"o": {
        "type": "object", "properties": {"a": {"type": "integer"}}}}}, llama3)
    parser = g.parser
    m = g.matcher()
    assert m.advance_bytes(b'{"o": {"a": 1')
    s = g.backup(m.state)[0]  # the inner object after its value: "}" closes it
    reads = []
    for _ in range(2):
        parser.track_push()
        got = parser.feed(s, (RBRACE,), b"}")
        reads.append((got, parser.track_pop(s)))
    assert reads[0] == reads[1] and reads[0][0] is not None
    assert reads[0][1][0] >= 2  # the pop read the outer object's frame
    assert ((RBRACE,), b"}") in s.fed


LENGTH_KEYED = [
    # maxLength past the regex limit (a length check); minLength past it too; array items share
    ({"type": "object", "properties": {
        "a": {"type": "string", "maxLength": 40},
        "b": {"type": ["string", "null"], "minLength": 34, "maxLength": 45},
        "c": {"type": "array", "items": {"type": "string", "maxLength": 36}}}},
     ['{"a": "abcdefghij klmnopqrst uvwxyz abcdefghij", "c": ["abcdefgh", "zyxwvuts"]}',
      '{"b": "' + "x" * 33 + '"}', '{"b": "' + "yz" * 20 + '", "c": ["' + "q" * 36 + '"]}',
      '{"a": "' + "a\\n" * 20 + '", "c": ["' + "é" * 37 + '"]}']),
    # a pattern in the regex plus a length check
    ({"type": "string", "pattern": "^[a-z ]*$", "maxLength": 50}, ['"' + "ab " * 17 + '"']),
    # uniqueItems records the strings, and propertyNames reads keys: lexemes stay in the key
    ({"type": "array", "uniqueItems": True, "items": {"type": "string", "maxLength": 40}},
     ['["abc", "abd"]', '["abc", "abc"]', '["abc", "abd", "abc"]', '["' + "x" * 40 + '", "' + "x" * 39 + '"]']),
    ({"type": "object", "propertyNames": {"maxLength": 40}, "additionalProperties": {"type": "string", "maxLength": 40}},
     ['{"' + "k" * 40 + '": "v", "' + "k" * 41 + '": "w"}']),
]


@pytest.mark.parametrize("schema,texts", LENGTH_KEYED)
def test_length_keyed_masks_equal_lexeme_keyed_masks(llama3, llama3_hf, schema, texts):
    """Inside a string whose value matters only through its length, masks are cached by the
    character-count class (``CompiledGrammar._mask_tag``); they equal masks cached by the
    lexeme along texts (near the bounds too) and random walks, and the texts are decided right."""
    by_len = constrain.compile_json_schema(schema, llama3)
    by_lex = constrain.compile_json_schema(schema, llama3)
    by_lex._len_only = None
    validator = jsonschema.Draft202012Validator(schema)
    streams = [(t, llama3_hf.encode(t, add_special_tokens=False)) for t in texts]
    streams += [(None, ids) for ids in _walks(by_len, llama3, 25, 60, seed=3)]
    for text, acc in _same_masks(by_len, by_lex, llama3, llama3_hf, streams):
        if text is not None:
            assert acc == validator.is_valid(json.loads(text)), text


def test_length_keyed_masks_are_shared(llama3, llama3_hf):
    """Two array items of equal length share their in-string masks (by lexeme they do not);
    a string under uniqueItems never does (its value is recorded)."""
    schema = {"type": "array", "items": {"type": "string", "maxLength": 100}}
    text = '["a", "the cat sat on the mat", "the dog ran to the car"]'
    ids = llama3_hf.encode(text, add_special_tokens=False)
    by_len = constrain.compile_json_schema(schema, llama3)
    by_lex = constrain.compile_json_schema(schema, llama3)
    by_lex._len_only = None
    assert _masks_along(by_len, llama3, ids)[1] and _masks_along(by_lex, llama3, ids)[1]
    assert by_len.stats["mask_hits"] >= by_lex.stats["mask_hits"] + 5
    uniq = constrain.compile_json_schema(dict(schema, uniqueItems=True), llama3)
    m = uniq.matcher()
    assert m.advance_bytes(b'["abc')
    assert not uniq.parser.len_only(m.state[0], tuple(t for t, _ in uniq.lexer.unions[m.state[1]]))
