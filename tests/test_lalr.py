"""The LALR parser's feedability check (``can_feed``) against its real feed.

``can_feed`` stops reading the stack where the safe table (:meth:`LALRParser._safe_table`) says
the terminal is taken whatever lies below, and builds no nodes. It must answer exactly as
``feed`` does, at every stack real code reaches, and read no deeper than ``feed``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

import constrain

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_indenter import CODE


@pytest.fixture(scope="module")
def python_grammar(llama3):
    return constrain.compile_grammar("python", llama3)


def _states_along(g, ids):
    m = g.matcher()
    out = [m.state]
    for t in ids:
        assert m.advance(t)
        out.append(m.state)
    return out


def test_can_feed_agrees_with_feed_and_reads_no_deeper(python_grammar, llama3_hf):
    g = python_grammar
    ind = g.parser
    lalr = ind.inner
    n_terms = len(g.spec.terminals)
    nodes = {s[0][0] for s in _states_along(g, llama3_hf.encode(CODE, add_special_tokens=False))}
    shallower = 0
    for node in nodes:
        for t in range(n_terms):
            want = lalr.feed(node, (t,)) is not None
            lalr._can_cache.clear()
            lalr.track_push()
            got = lalr.can_feed(node, t)
            k_can = lalr.track_pop(node)
            assert got == want, (node, lalr.names[t])
            lalr._feed_cache.clear()
            lalr.track_push()
            lalr.feed(node, (t,))
            k_feed = lalr.track_pop(node)
            assert k_can <= k_feed, (node, lalr.names[t])  # top cells read
            shallower += k_can < k_feed
    assert len(nodes) > 50
    assert shallower > 0  # the safe table does stop some reads early


def _reference_feed(lalr, node, term):
    """Feeding by the book: reductions on the real stack, cell by cell. (states, lowest depth read)."""
    stack, low = [], node.depth
    n = node
    while n is not None:
        stack.append(n.state)
        n = n.parent
    stack.reverse()
    while True:
        entry = lalr.action[stack[-1]].get(term)
        if entry is None:
            return None, low
        if entry[0]:
            return stack + [entry[1]], low
        size, origin = entry[1]
        if size:
            del stack[len(stack) - size:]
        low = min(low, len(stack) - 1)
        stack.append(lalr.goto[stack[-1]][origin])


def test_feed_builds_the_stack_the_reductions_give(python_grammar, llama3_hf):
    g = python_grammar
    lalr = g.parser.inner
    nodes = {s[0][0] for s in _states_along(g, llama3_hf.encode(CODE, add_special_tokens=False))}
    fed = 0
    for node in nodes:
        for t in range(len(g.spec.terminals)):
            lalr._feed_cache.clear()
            lalr.track_push()
            got = lalr.feed(node, (t,))
            k = lalr.track_pop(node)
            want, low = _reference_feed(lalr, node, t)
            if want is None:
                assert got is None, (node, lalr.names[t])
                continue
            fed += 1
            n, states = got, []
            while n is not None:
                states.append(n.state)
                n = n.parent
            assert states[::-1] == want, (node, lalr.names[t])
            assert k == max(1, node.depth - low + 1), (node, lalr.names[t])  # the same cells read
    assert fed > 500


def test_indenter_can_feed_agrees_with_probe(python_grammar, llama3_hf):
    g = python_grammar
    ind = g.parser
    states = {s[0] for s in _states_along(g, llama3_hf.encode(CODE, add_special_tokens=False))}
    for st in states:
        for t in ind.candidates(st):
            assert ind.can_feed(st, t) == (ind.feed(st, (t,), None) is not None), (st, ind.inner.names[t])


def test_safe_table_is_sound_on_its_own_terms(python_grammar):
    """Every safe terminal of a state is in its action row, and shifts are safe."""
    lalr = python_grammar.parser.inner
    assert any(len(s) for s in lalr.safe)
    for s, acts in enumerate(lalr.action):
        assert lalr.safe[s] <= set(acts)
        assert {t for t, (sh, _) in acts.items() if sh} <= lalr.safe[s]


def test_go_semicolon_inserter_can_feed_agrees_with_feed(llama3, llama3_hf):
    from bench import corpora

    g = constrain.compile_grammar("go", llama3)
    sem = g.parser
    checked = 0
    for _, text in corpora.mbxp_go()[:3]:
        m = g.matcher()
        for t in llama3_hf.encode(text, add_special_tokens=False):
            st = m.state[0]
            for term in sem.candidates(st):
                assert sem.can_feed(st, term) == (sem.feed(st, (term,), None) is not None)
                checked += 1
            assert m.advance(t)
    assert checked > 1000
