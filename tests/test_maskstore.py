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


def _tail_fields(ti):
    def bits(sb):
        return None if sb is None else sorted(zip(sb.words.tolist(), sb.vals.tolist()))

    return (sorted((t, bits(b)) for t, b in ti.alive.items()),
            [(g.terms, g.ids.tolist(), g.offs.tolist(), g.value) for g in ti.exits], bits(ti.empty),
            sorted((t, sorted(zip(i.tolist(), o.tolist()))) for t, (i, o) in ti.open_strings.items()),
            [(terms, bits(b)) for terms, b in ti.alive_sets])


def test_small_tail_groups_finish_like_the_vectorised_path(llama3, monkeypatch):
    """Tail groups of up to SMALL_TAILS tokens are finished in Python: the same TailInfo as numpy's.
    Random groups of JSON-ish tokens at random tail offsets, lexed from fresh states of a schema's
    lexer (several exits per group, values ending mid-token and at the token end, empty tails)."""
    import constrain.lexer as lexer_mod

    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"},
                                               "tags": {"type": "array", "items": {"enum": ["a", "bc", "d e"]}}},
              "additionalProperties": {"anyOf": [{"type": "number"}, {"const": True}]}}
    lex = constrain.compile_json_schema(schema, llama3).lexer
    wt = llama3.walk_table
    punct = set(b'{}[]:,"0123456789 .-e')
    pool = np.flatnonzero([sum(c in punct for c in bytes(wt.data[r, :wt.lengths[r]])) * 2 >= wt.lengths[r]
                           for r in range(len(wt.ids))])
    rng = np.random.default_rng(1)
    n_terms = len(lex.terminals)
    stats = {"exits>1": 0, "valued": 0, "empty": 0, "done": 0}
    monkeypatch.setattr(lexer_mod, "SMALL_TAILS", -1)  # _tail_finish: always the vectorised path
    for trial in range(600):
        f = lex.fresh(frozenset(rng.choice(n_terms, rng.integers(2, n_terms + 1), replace=False).tolist()))
        rows = rng.choice(pool, rng.integers(1, 33))
        offs = (rng.random(len(rows)) * (wt.lengths[rows] + 1)).astype(np.int32)
        empty = offs >= wt.lengths[rows]
        end = np.full(len(rows), -1, dtype=np.int64)
        acc_pos = np.full(len(rows), -1, dtype=np.int32)
        acc_uid = np.full(len(rows), -1, dtype=np.int64)
        if (~empty).any():
            e, a, u = lex.walk_tails(f, rows[~empty], offs[~empty])
            end[~empty], acc_pos[~empty], acc_uid[~empty] = e, a, u
        args = (wt.ids[rows], rows, offs, empty, end, acc_pos, acc_uid)
        big = lex._tail_finish(*(x.copy() for x in args))
        assert _tail_fields(big) == _tail_fields(lex._tail_finish_small(*args)), trial
        stats["exits>1"] += len(big.exits) > 1
        stats["valued"] += any(g.value is not None for g in big.exits)
        stats["empty"] += big.empty is not None
        stats["done"] += any(e >= 0 and lex.union_done[e] for e in end.tolist())
    assert min(stats.values()) >= 5, stats


def test_cache_writer_writes_in_the_background_and_after_a_fork(tmp_path):
    """Queued files are readable through ``pending`` at once, on disk after ``flush``, and a
    forked child (bench workers) gets a working writer of its own rather than its parent's
    queue with no thread behind it."""
    import os

    from constrain.store.maskstore import WRITER

    path = tmp_path / "a" / "x.bin"
    WRITER.put(path, b"abc")
    assert WRITER.pending.get(path, b"abc") == b"abc"  # queued or already written
    assert WRITER.flush(10.0)
    assert path.read_bytes() == b"abc" and path not in WRITER.pending
    child = tmp_path / "b" / "y.bin"
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit status
        WRITER.put(child, b"from the child")
        os._exit(0 if WRITER.flush(10.0) else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child.read_bytes() == b"from the child"
