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
