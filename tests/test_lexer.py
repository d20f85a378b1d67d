"""The lexer's union-state analyses: sharing across grammars, and the exit grouping fast path."""
from __future__ import annotations

import random

import numpy as np
import pytest

import constrain
from constrain import lexer as lexer_mod
from constrain.store.maskstore import MaskStore

# the same terminals, declared in a different order: terminal numbers differ between the two
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


def _unshared(monkeypatch, tok):
    monkeypatch.setattr(lexer_mod, "SHARED_ANALYSES", 0)
    MaskStore.for_tokenizer(tok).analyses.clear()


@pytest.mark.parametrize("seed", range(4))
def test_shared_analyses_give_the_masks_of_unshared_ones(llama3, monkeypatch, seed):
    # g1 fills the shared analyses; g2 (other terminal numbers) reuses and renumbers them
    g1 = constrain.compile_lark(G1, llama3, use_cache=False)
    a1 = _walk_masks(g1, llama3, 12, seed)
    g2 = constrain.compile_lark(G2, llama3, use_cache=False)
    a2 = _walk_masks(g2, llama3, 12, seed)
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
    _unshared(monkeypatch, llama3)
    b1 = _walk_masks(constrain.compile_lark(G1, llama3, use_cache=False), llama3, 12, seed)
    b2 = _walk_masks(constrain.compile_lark(G2, llama3, use_cache=False), llama3, 12, seed)
    assert not store.analyses
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
    fast, fast_ids = lx._unique_exits(ids, pos, term)
    # the general path, forced by a duplicate entry of a token that already exits by its terminal
    dup_ids, dup_pos, dup_term = (np.append(a, a[:1]) for a in (ids, pos, term))
    slow, slow_ids = lx._group_exits(dup_ids, dup_pos, dup_term)
    assert sorted(fast_ids.tolist()) == sorted(slow_ids.tolist()) == sorted(ids.tolist())

    def by_token(groups):
        return {i: (tuple(sorted(set(g.terms))), o, g.value) for g in groups for i, o in zip(g.ids.tolist(), g.offs.tolist())}

    assert by_token(fast) == by_token(slow)
    assert all((np.diff(g.ids) > 0).all() for g in fast)
