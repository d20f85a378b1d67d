"""The Python indenter's read tracking and canonical lexemes keep masks exact.

The engine keys a mask by what its computation read: for the indenter's extras (paren level,
indent stack, line start) only what a test saw, and a ``_NEWLINE`` lexeme only from its last
newline on; a fallback accept that can no longer be backed up to is dropped. A reference
grammar with all three off (and the whole parser state in each key) must give the same mask
at every token of code with docstrings, comment blocks, nested brackets and several levels.
"""
from __future__ import annotations

import numpy as np
import pytest

import constrain
from constrain.parsing.indenter import Indenter, indentation_of

CODE = '''"""Module docstring.

It spans lines, so its first two quotes are an accept the lexer can no longer use.
"""
import os


class Box:
    """A box."""

    def __init__(self, items=None):
        # a comment block:
        # its tokens extend one _NEWLINE lexeme
        self.items = list(items or [])

    def total(self, scale=1):
        if self.items:
            return sum(f(g(x, (y, [z]))) for x, y, z in self.items) * scale
        return 0


def f(a):
    return a  # trailing


def g(a, b):
    while a:
        for i in range(a):
            if i % 2:
                a -= 1
            else:
                # deeper comment
                a -= 2
    return (a,
            b)
'''


def _reference(g):
    g._tracker = None
    g._canon = None
    g._without_dead_fallback = lambda s: s
    return g


def test_canonical_lexeme_keeps_the_indentation():
    for lex in (b"\n", b"\n    ", b"\n  # c\n      ", b"\n# a\n# b", b"\r\n\t x", b"\n\n\n  "):
        c = Indenter.canonical_lexeme(lex)
        assert lex.endswith(c)
        for suffix in (b"", b"  ", b"# z", b"\n   ", b"\n #q\n "):
            assert indentation_of(c + suffix) == indentation_of(lex + suffix), (lex, suffix)


@pytest.mark.slow
def test_tracked_and_canonical_masks_equal_reference_masks(llama3, llama3_hf):
    fast = constrain.compile_grammar("python", llama3)
    ref = _reference(constrain.compile_grammar("python", llama3))
    ids = llama3_hf.encode(CODE, add_special_tokens=False)
    a, b = fast.matcher(), ref.matcher()
    x, y = llama3.allocate_bitmask(), llama3.allocate_bitmask()
    for i, t in enumerate(ids + [None]):
        a.fill_bitmask(x)
        b.fill_bitmask(y)
        assert np.array_equal(x, y), (i, llama3_hf.decode(ids[:i])[-60:])
        if t is not None:
            assert a.advance(t) and b.advance(t), i
    assert a.is_accepting() and b.is_accepting()
    # and the keys are coarser: docstring and comment tokens, and the same contexts at
    # other levels, share masks
    assert fast.stats["mask_misses"] < 0.9 * ref.stats["mask_misses"], (fast.stats, ref.stats)


def test_a_newline_reads_only_the_indent_levels_it_compares(llama3, llama3_hf):
    """Masks are keyed by the top indent levels a newline was compared with, so a newline must
    note exactly those: none when its indentation is unknown or the parser cannot take it."""
    g = constrain.compile_grammar("python", llama3)
    ind = g.parser

    def state_after(text: str):
        m = g.matcher()
        for t in llama3_hf.encode(text, add_special_tokens=False):
            assert m.advance(t)
        s = m.state
        return (g.backup(s) if s[2] else s)[0]

    def levels_read(p, lexeme):
        ind.extras_push()
        ind.inner.track_push()
        r = ind.feed(p, (ind.nl,), lexeme)
        ind.inner.track_pop(p[0])
        return r is not None, ind.extras_pop(p)[1]

    body = "class A:\n    def f(self):\n        if x:\n            y = 1"
    p = state_after(body)
    assert p[1] == (0, 4, 8, 12)
    assert levels_read(p, b"\n" + b" " * 12) == (True, 1)  # the same level
    assert levels_read(p, b"\n" + b" " * 16) == (False, 1)  # an indent after a simple statement
    assert levels_read(p, b"\n" + b" " * 8) == (True, 2)  # one dedent: 12, then 8
    assert levels_read(p, b"\n") == (True, 4)  # down to 0
    assert levels_read(p, b"\n" + b" " * 6) == (False, 3)  # no such level: 12, 8, 4
    assert levels_read(p, None) == (True, 0)  # indentation unknown: a same-level newline will do
    q = state_after(body[: -len("1")])  # `y = `: no newline here at any indentation
    assert q[1] == (0, 4, 8, 12)
    assert levels_read(q, b"\n" + b" " * 8) == (False, 0)
    assert levels_read(q, None) == (False, 0)


def test_the_stop_bit_does_not_key_masks_by_the_whole_stack(llama3, llama3_hf):
    """Whether the input may end reads every cell (all blocks closed), so it is decided apart from
    the cached mask: the same local context under another nesting shares the mask, and the stop
    tokens still follow ``is_accepting``."""
    g = constrain.compile_grammar("python", llama3)
    mask = llama3.allocate_bitmask()
    stop = llama3.stop_token_ids[0]

    def fill_after(text: str):
        m = g.matcher()
        for t in llama3_hf.encode(text, add_special_tokens=False):
            assert m.advance(t)
        misses = g.stats["mask_misses"]
        m.fill_bitmask(mask)
        assert bool(int(mask[stop >> 5]) >> (stop & 31) & 1) == m.is_accepting()
        return g.stats["mask_misses"] - misses

    fill_after("def f():\n    x = y")
    assert fill_after("def f():\n    if a:\n        x = y") == 0
    assert fill_after("class C:\n    def f(self):\n        for i in z:\n            x = y") == 0
    assert fill_after("def f():\n    x = (y") == 1  # inside a paren the end is refused: a new mask
    assert fill_after("def f():\n    if a:\n        x = (y") == 0
