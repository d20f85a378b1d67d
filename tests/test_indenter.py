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
