"""The mask store and the lexer's vectorised walks, against per-token Python references."""
from __future__ import annotations

import numpy as np
import pytest

import constrain
from constrain.fsm.bytedfa import literal_to_dfa, regex_to_dfa
from constrain.lexer import Lexer
from constrain.parsing.base import Terminal
from constrain.store.maskstore import SparseBits, literal_walk, pack_ids, walk_all


def _unpack(m: np.ndarray) -> np.ndarray:
    return np.unpackbits(m.view(np.uint8), bitorder="little").astype(bool)


@pytest.mark.parametrize("n", [0, 1, 7, 32, 33, 1000])
def test_sparse_bits_match_packed_ids(n):
    ids = np.random.default_rng(n).choice(5000, n, replace=False)
    m = np.zeros(157, dtype=np.uint32)
    SparseBits(ids).or_into(m)
    assert (m == pack_ids(ids, 157)).all()
    ref = np.zeros(157 * 32, dtype=bool)
    ref[ids] = True
    assert (_unpack(m) == ref).all()


VOCAB = [b"a", b"ab", b"abc", b"b", b"1", b"12", b"1a", b"a1", b'"', b'"a"', b'"a",', b" ", b"  x", b"abcabc", b"\xc3\xa9"]


@pytest.fixture(scope="module")
def toy():
    return constrain.TokenizerInfo.from_vocab(VOCAB + [None], eos_token_id=len(VOCAB))


@pytest.mark.parametrize("rx", ["[a-c]+", "[0-9]+", '"[a-z]*"', "(abc)+", "a|ab|abc"])
def test_walk_all_matches_stepping_each_token(toy, rx):
    dfa = regex_to_dfa(rx)
    for state in range(dfa.n_states):
        e = walk_all(dfa, state, toy)
        alive = _unpack(e.alive)
        acc = dict(zip(e.acc_ids.tolist(), e.acc_pos.tolist()))
        for t, b in enumerate(VOCAB):
            s, last = state, 0
            for i, c in enumerate(b):
                s = dfa.trans[s, c]
                if s < 0:
                    break
                if dfa.accept[s]:
                    last = i + 1
            assert alive[t] == (s >= 0), (rx, state, b)
            if s < 0 and last:
                assert acc.get(t) == last, (rx, state, b)
            else:
                assert t not in acc


def test_literal_walk_equals_the_dfa_walk(toy):
    lit = b"abcabc"
    dfa = literal_to_dfa(lit)
    for state in range(len(lit) + 1):
        a, b = literal_walk(lit, state, toy), walk_all(dfa, state, toy)
        assert (a.alive == b.alive).all()
        assert sorted(zip(a.acc_ids.tolist(), a.acc_pos.tolist())) == sorted(zip(b.acc_ids.tolist(), b.acc_pos.tolist()))


def test_union_walk_small_and_vectorised_paths_agree(llama3):
    terms = [Terminal("NAME", "[a-z_]+"), Terminal("NUM", "[0-9]+"), Terminal("LPAR", r"\(", literal=b"("),
             Terminal("WS", " +")]
    dfas = [regex_to_dfa(t.regex) for t in terms]
    lex = Lexer(terms, dfas, frozenset({3}), frozenset(), llama3)
    uid = lex.fresh(frozenset({0, 1, 2}))
    wt = llama3.walk_table
    rows = np.arange(0, len(wt.ids), 11)
    rows = rows[wt.lengths[rows] >= 2][:9000]  # non-empty tails, as the lexer walks them
    offs = np.ones(len(rows), dtype=np.int32)
    big = lex.union_walk(uid, rows, offs)  # > 24 rows: numpy path
    survivors = int((lex.first_row(uid)[wt.data[rows, offs]] >= 0).sum())
    assert survivors >= 2048  # walk_tails below takes its deduplicating path
    for k in range(0, len(rows), 20):
        small = lex.union_walk(uid, rows[k:k + 20], offs[k:k + 20])  # <= 24 rows: Python path
        for a, b in zip(big, small):
            assert (a[k:k + 20] == b).all()
    tails = lex.walk_tails(uid, rows, offs)  # first-byte filter + dedupe
    given = lex.walk_tails(uid, rows, offs, wt.data[rows, offs])  # first bytes passed in
    first = wt.data[rows, offs]
    order = np.argsort(first, kind="stable")
    part = (order, np.searchsorted(first[order], np.arange(257)).tolist())
    parted = lex.walk_tails(uid, rows, offs, part=part)  # survivors from the partition (walk_index)
    for a, b, c, d in zip(big, tails, given, parted):
        assert (a == b).all() and (a == c).all() and (a == d).all()


def test_alive_sets_partition_tokens_by_live_terminals(llama3):
    terms = [Terminal("KW", "for", literal=b"for"), Terminal("NAME", "[a-z_]+"), Terminal("NUM", "[0-9]+"),
             Terminal("HEX", "0x[0-9a-f]+")]
    lex = Lexer(terms, [regex_to_dfa(t.regex) for t in terms], frozenset(), frozenset(), llama3)
    uid = lex.fresh(frozenset(range(4)))
    info = lex.info(uid)
    sets = lex.alive_sets(uid)
    seen = np.zeros(llama3.mask_words * 32, dtype=bool)
    for live, bits in sets:
        ids = np.flatnonzero(_unpack(bits))
        assert len(ids) and not seen[ids].any()  # disjoint, non-empty
        seen[ids] = True
        for t in range(4):  # every token of the group is alive in exactly the group's terminals
            assert (_unpack(info.alive[t])[ids] == (t in live)).all() if t in info.alive else t not in live
    union = np.zeros(llama3.mask_words, dtype=np.uint32)
    for bits in info.alive.values():
        union |= bits
    assert (seen == _unpack(union)).all()
    assert any(set(live) == {0, 1} for live, _ in sets)  # "fo" keeps the keyword and NAME alive
