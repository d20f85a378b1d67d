"""The vocabulary trie and its pruned store walks, against the row-by-row reference walk."""
from __future__ import annotations

import numpy as np
import pytest

import constrain.store.trie as trie_mod
from constrain.fsm.bytedfa import regex_to_dfa
from constrain.store.maskstore import walk_all, walk_rows

REGEXES = [r'"([^"\\]|\\.)*"', r"[0-9]+", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?",
           r'"[0-9]{4}-[0-9]{2}-[0-9]{2}"', r"[ \t\n]+", r'"[a-z]{0,5}"', r"(true|false|null)", r"[^\n]*\n"]


def _same(a, b) -> bool:
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in ("alive", "acc_ids", "acc_pos", "done_ids"))


def test_trie_nodes_are_the_distinct_prefixes(llama3):
    trie = llama3.trie
    keys = {b for b in llama3.token_bytes if b}
    for d, lv in enumerate(trie.levels[:6]):
        prefixes = {k[: d + 1] for k in keys if len(k) > d}
        assert len(lv.lo) == len(prefixes)
        got = {trie.data[lo][: d + 1] for lo in lv.lo.tolist()}
        assert got == prefixes
        # each node's range holds exactly the tokens with its prefix, those ending there first
        for j in np.random.default_rng(d).choice(len(lv.lo), 50).tolist():
            lo, hi, ne = int(lv.lo[j]), int(lv.hi[j]), int(lv.n_end[j])
            p = trie.data[lo][: d + 1]
            assert all(trie.data[k].startswith(p) for k in range(lo, hi))
            assert (lo == 0 or not trie.data[lo - 1].startswith(p)) and (hi == len(trie.data) or not trie.data[hi].startswith(p))
            assert all(len(trie.data[k]) == d + 1 for k in range(lo, lo + ne))
            assert ne == hi - lo or len(trie.data[lo + ne]) > d + 1
    assert sorted(trie.ids.tolist()) == sorted(llama3.walk_table.ids.tolist())


@pytest.mark.parametrize("regime", ["auto", "dense", "pruned", "few"])
def test_trie_walk_equals_the_row_walk(llama3, regime, monkeypatch):
    if regime == "dense":
        monkeypatch.setattr(trie_mod, "DENSE", 0)
    elif regime == "pruned":  # never dense, never finished in Python
        monkeypatch.setattr(trie_mod, "DENSE", 257)
        monkeypatch.setattr(trie_mod, "FEW", -1)
    elif regime == "few":
        monkeypatch.setattr(trie_mod, "DENSE", 257)
        monkeypatch.setattr(trie_mod, "FEW", 1 << 20)
    checked = 0
    for rx in REGEXES:
        dfa = regex_to_dfa(rx)
        for state in range(min(dfa.n_states, 6)):
            assert _same(walk_all(dfa, state, llama3), walk_rows(dfa, state, llama3)), (rx, state, regime)
            checked += 1
    assert checked > 30
