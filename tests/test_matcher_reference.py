"""Mask exactness against lark itself (tests/reference.py), on a toy grammar and vocabulary
chosen to hit the hard cases: keywords vs identifiers (longest match), numbers that need
backup ("1." then "x"), tokens spanning several lexemes, ignored whitespace."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import constrain

from reference import LarkReference

TOY = r"""
start: stmt+
stmt: "let" NAME "=" expr ";" | "if" expr "{" stmt* "}" | expr ";"
?expr: term | expr "+" term | expr "-" term
?term: NAME | NUMBER | STRING | "(" expr ")" | NAME "(" [expr ("," expr)*] ")"
NAME: /[a-z_][a-z0-9_]*/
NUMBER: /[0-9]+(\.[0-9]+)?/
STRING: /"[^"\n]*"/
%ignore " "
"""
ALPHABET = ';"})1x =(5.{+,left'  # closers first: completions are found fast
PIECES = list(dict.fromkeys('lefitx1.5";(){}=+, ')) + [
    "let", "le", "t ", "if", "if(", " x", "x=", "=1", "1;", ";}", "1.", ".5", "5;", '"a', 'a"', '";',
    '("', "+1", " +", "f(", "),", "ab", "x1", "_", "12", "  ", "{ ", ' "', "let x", "tx", "1.5;", ";\n",
    "x;", "i", "ff", "e;", "}}", "((", "))", ".x", "1.x",
]
VOCAB = [p.encode() for p in PIECES]
STOP = len(VOCAB)


@pytest.fixture(scope="module")
def toy():
    tok = constrain.TokenizerInfo.from_vocab(VOCAB + [None], eos_token_id=STOP)
    g = constrain.compile_lark(TOY, tok, use_cache=False)
    ref = LarkReference(TOY, ALPHABET, max_depth=5)
    return tok, g, ref


def _bits(tok, m):
    mask = tok.allocate_bitmask()
    m.fill_bitmask(mask)
    return np.unpackbits(mask.view(np.uint8), bitorder="little")[: tok.vocab_size]


def _check_state(tok, g, ref, m, text: str) -> None:
    bits = _bits(tok, m)
    assert bool(bits[STOP]) == ref.parses(text), f"stop bit wrong after {text!r}"
    for t, piece in enumerate(PIECES):
        verdict = ref.viable(text + piece, budget=2500 if bits[t] else 600)
        if bits[t]:
            assert verdict is not False, f"{piece!r} allowed after {text!r}, but no completion exists"
            assert m.copy().advance(t), f"{piece!r} allowed after {text!r} but advance rejects it"
        else:
            assert verdict is not True, f"{piece!r} blocked after {text!r}, but lark accepts a completion"
            assert not m.copy().advance(t)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(0, 6))
def test_mask_matches_lark_reference(toy, seed, steps):
    tok, g, ref = toy
    rng = random.Random(seed)
    m = g.matcher()
    text = ""
    for _ in range(steps):
        allowed = [t for t in m.allowed_token_ids().tolist() if t != STOP]
        if not allowed:
            break
        t = rng.choice(allowed)
        assert m.advance(t)
        text += PIECES[t]
    _check_state(tok, g, ref, m, text)


@pytest.mark.parametrize("text", ["", "le", "let x = 1.", 'f("a', "ab + 1.5", "if x"])
def test_hand_picked_states(toy, text):
    tok, g, ref = toy
    m = g.matcher()
    assert m.advance_bytes(text.encode()) or text == ""
    _check_state(tok, g, ref, m, text)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 12), back=st.integers(0, 12))
def test_rollback_and_copy_give_fresh_masks(toy, seed, steps, back):
    """rollback/copy must give exactly the masks of a fresh matcher fed the same prefix."""
    tok, g, _ = toy
    rng = random.Random(seed)
    m = g.matcher()
    fed = []
    for _ in range(steps):
        allowed = [t for t in m.allowed_token_ids().tolist() if t != STOP]
        if not allowed:
            break
        t = rng.choice(allowed)
        assert m.advance(t)
        fed.append(t)
    c = m.copy()
    back = min(back, len(fed))
    m.rollback(back)
    fresh = g.matcher()
    for t in fed[: len(fed) - back]:
        assert fresh.advance(t)
    assert (_bits(tok, m) == _bits(tok, fresh)).all()
    ref_copy = g.matcher()
    for t in fed:
        assert ref_copy.advance(t)
    assert (_bits(tok, c) == _bits(tok, ref_copy)).all()
    assert m.validate_tokens(fed[len(fed) - back:]) == back
