"""The lexer's union-state analyses: sharing across grammars, and the exit grouping fast path."""
from __future__ import annotations

import random

import numpy as np
import pytest

import constrain
from constrain import lexer as lexer_mod
from constrain.store.maskstore import MaskStore

# G2 declares G1's terminals in another order (other numbers and rank order: nothing shared
# where that matters); G3 adds a terminal in front (numbers shift, rank order kept: shared, renumbered)
G1 = r"""
start: item ("," item)*
item: NAME "=" VALUE | "flag" NAME | STRING
NAME: /[a-z_][a-z0-9_]*/
VALUE: /[0-9]+/
STRING: /"[a-z ]*"/
%ignore " "
"""
G2 = r"""
start: item ("," item)*
item: STRING | NAME "=" VALUE | "flag" NAME
STRING: /"[a-z ]*"/
VALUE: /[0-9]+/
NAME: /[a-z_][a-z0-9_]*/
%ignore " "
"""
G3 = r"""
start: item ("," item)*
item: NAME "=" VALUE | "flag" NAME | STRING | "(" AT ")"
AT: /@+/
NAME: /[a-z_][a-z0-9_]*/
VALUE: /[0-9]+/
STRING: /"[a-z ]*"/
%ignore " "
"""


def _walk_masks(g, tok, steps: int, seed: int) -> list[np.ndarray]:
    """Masks along a random walk (tokens drawn from the mask, no stop tokens)."""
    rng = random.Random(seed)
    m, mask, out = g.matcher(), tok.allocate_bitmask(), []
    for _ in range(steps):
        m.fill_bitmask(mask)
        out.append(mask.copy())
        ids = [i for i in tok.bitmask_to_ids(mask).tolist() if i not in tok.stop_token_ids]
        if not ids:
            break
        assert m.advance(rng.choice(ids))
    return out


def _by_token(groups) -> dict:
    return {i: (g.terms, o, g.value) for g in groups for i, o in zip(g.ids.tolist(), g.offs.tolist())}


def _bits(b) -> set:
    if b is None:
        return set()
    if isinstance(b, np.ndarray):
        return set(np.flatnonzero(np.unpackbits(b.view(np.uint8), bitorder="little")).tolist())
    return {int(w) * 32 + k for w, v in zip(b.words, b.vals) for k in range(32) if (int(v) >> k) & 1}


def _check_tails(lx, monkeypatch) -> None:
    """Every tail analysis ``lx`` holds (shared or not) equals one lexed afresh, unshared."""
    held = dict(lx.tails)
    assert any(ti.exits or ti.alive for ti in held.values())
    with monkeypatch.context() as mp:
        mp.setattr(lexer_mod, "SHARED_TAILS", 0)
        mp.setattr(lx.store, "tails", type(lx.store.tails)())
        for (gid, f), ti in held.items():
            del lx.tails[(gid, f)]
            lx.prefetch_tails([(ti._group, f)])
            own = lx.tails[(gid, f)]
            assert {t: _bits(b) for t, b in ti.alive.items()} == {t: _bits(b) for t, b in own.alive.items()}
            assert _by_token(ti.exits) == _by_token(own.exits)
            assert _bits(ti.empty) == _bits(own.empty)
            assert ti.open_strings.keys() == own.open_strings.keys()
            assert {(ts, frozenset(_bits(b))) for ts, b in ti.alive_sets} == \
                {(ts, frozenset(_bits(b))) for ts, b in own.alive_sets}


def _unshared(monkeypatch, tok):
    monkeypatch.setattr(lexer_mod, "SHARED_ANALYSES", 0)
    monkeypatch.setattr(lexer_mod, "SHARED_TAILS", 0)
    MaskStore.for_tokenizer(tok).analyses.clear()
    MaskStore.for_tokenizer(tok).tails.clear()


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("other", ["G2", "G3"])
def test_shared_analyses_give_the_masks_of_unshared_ones(llama3, monkeypatch, seed, other):
    # g1 fills the shared analyses; g2 (other terminal numbers) reuses and renumbers them
    renums: list = []
    real = lexer_mod._renumbered_tail
    monkeypatch.setattr(lexer_mod, "_renumbered_tail", lambda ti, r: renums.append(r) or real(ti, r))
    g1 = constrain.compile_lark(G1, llama3, use_cache=False)
    a1 = _walk_masks(g1, llama3, 12, seed)
    g2 = constrain.compile_lark(globals()[other], llama3, use_cache=False)
    a2 = _walk_masks(g2, llama3, 12, seed)
    if other == "G3":
        assert any(r is not None for r in renums)  # tails shared under other terminal numbers
    store = MaskStore.for_tokenizer(llama3)
    assert any(len(info.members) > 1 for info, _ in store.analyses.values())
    # every analysis g2 holds equals its own, unshared one, terminal numbers included
    def content(lx, info):
        return tuple(sorted((lx.dfas[t].key, st) for t, st in info.members))

    g1_terms = {content(g1.lexer, i): set(i.alive) for i in g1.lexer.infos.values()}
    renumbered = 0
    for uid, info in g2.lexer.infos.items():
        own = g2.lexer._analyse(uid)
        assert info.alive.keys() == own.alive.keys()
        assert all((info.alive[t] == own.alive[t]).all() for t in own.alive)
        assert (info.rest == own.rest).all() and info.accepting == own.accepting
        assert _by_token(info.exits) == _by_token(own.exits)
        c = content(g2.lexer, info)
        renumbered += c in g1_terms and g1_terms[c] != set(info.alive)
    assert renumbered  # the shared analyses were renumbered, not just reused
    _check_tails(g2.lexer, monkeypatch)
    _unshared(monkeypatch, llama3)
    b1 = _walk_masks(constrain.compile_lark(G1, llama3, use_cache=False), llama3, 12, seed)
    b2 = _walk_masks(constrain.compile_lark(globals()[other], llama3, use_cache=False), llama3, 12, seed)
    assert not store.analyses and not store.tails
    assert len(a1) == len(b1) and all((x == y).all() for x, y in zip(a1, b1))
    assert len(a2) == len(b2) and all((x == y).all() for x, y in zip(a2, b2))


def test_shared_analyses_across_json_schemas(llama3, monkeypatch):
    schemas = [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
               {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "boolean"}}}]
    shared = [constrain.compile_json_schema(s, llama3).matcher() for s in schemas]
    masks = []
    for m in shared:
        mask = llama3.allocate_bitmask()
        m.fill_bitmask(mask)
        masks.append(mask)
    assert MaskStore.for_tokenizer(llama3).tails
    _check_tails(shared[1].grammar.lexer, monkeypatch)
    _unshared(monkeypatch, llama3)
    for s, want in zip(schemas, masks):
        mask = llama3.allocate_bitmask()
        constrain.compile_json_schema(s, llama3).matcher().fill_bitmask(mask)
        assert (mask == want).all()


def test_exit_groups_fast_path_matches_the_general_path(llama3):
    """Each token exiting once: the O(V) scatter gives the groups of the ranked, sorted path."""
    lx = constrain.compile_lark(G1, llama3, use_cache=False).lexer
    rng = np.random.default_rng(0)
    ids = rng.choice(llama3.vocab_size - 300, 5000, replace=False).astype(np.int32)
    term = rng.choice(np.array([t for t in range(len(lx.terminals)) if lx.dfas[t] is not None]), 5000)
    term = term.astype(np.int32)
    pos = np.ones(5000, dtype=np.int32)
    fast, fast_ids = lx._unique_exits(ids, pos, term, False)
    # the general path, forced by a duplicate entry of a token that already exits by its terminal
    dup_ids, dup_pos, dup_term = (np.append(a, a[:1]) for a in (ids, pos, term))
    slow, slow_ids = lx._group_exits(dup_ids, dup_pos, dup_term)
    assert sorted(fast_ids.tolist()) == sorted(slow_ids.tolist()) == sorted(ids.tolist())

    def by_token(groups):
        return {i: (tuple(sorted(set(g.terms))), o, g.value) for g in groups for i, o in zip(g.ids.tolist(), g.offs.tolist())}

    assert by_token(fast) == by_token(slow)
    assert all((np.diff(g.ids) > 0).all() for g in fast)


def test_exit_groups_with_ties_match_a_per_token_reference(llama3):
    """Tokens ending several terminals' lexemes at once (a known key and the additional-key
    string): each token lands in the group of its best position's terminals, ranked, and of its
    value bytes when a value terminal is among them; one group per such (terminals, value)."""
    g = constrain.compile_json_schema({"type": "object", "properties": {"alpha": {"type": "integer"}}}, llama3)
    lx = g.lexer
    lit = next(t for t, x in enumerate(lx.terminals) if x.literal == b'"alpha"')
    val = next(t for t in lx.value_terminals if lx.dfas[t] is not None)
    other = next(t for t, x in enumerate(lx.terminals) if x.literal is not None and t != lit)
    rng = np.random.default_rng(1)
    vocab = np.flatnonzero(llama3.walk_table.lengths[llama3.walk_table.row_of] >= 2)[:20000]
    toks = rng.choice(vocab, 3000, replace=False).astype(np.int32)
    ids, pos, term = [], [], []
    for t in toks.tolist():
        for tm in rng.choice([lit, val, other], int(rng.integers(1, 4)), replace=False).tolist():
            ids.append(t), term.append(tm), pos.append(int(rng.integers(1, 3)))
    ids, pos, term = (np.asarray(a, dtype=np.int32) for a in (ids, pos, term))
    groups, out_ids = lx._group_exits(ids, pos, term)
    by_tok: dict[int, list] = {}
    for i, p, tm in zip(ids.tolist(), pos.tolist(), term.tolist()):
        by_tok.setdefault(i, []).append((p, tm))
    want = {}
    for t, entries in by_tok.items():
        best = max(p for p, _ in entries)
        terms = tuple(sorted({tm for p, tm in entries if p == best}, key=lx.rank.__getitem__))
        value = llama3.token_bytes[t][:best] if any(tm in lx.value_terminals for tm in terms) else None
        want[t] = (terms, best, value)
    got = {i: (gr.terms, o, gr.value) for gr in groups for i, o in zip(gr.ids.tolist(), gr.offs.tolist())}
    assert got == want
    assert sorted(out_ids.tolist()) == sorted(toks.tolist())
    keys = [(gr.terms, gr.value) for gr in groups]
    assert len(keys) == len(set(keys)) and any(len(gr.terms) > 1 and gr.value for gr in groups)
