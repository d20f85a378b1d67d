"""Regex -> byte DFA: agreement with Python's re on random strings, UTF-8 lowering, errors."""
from __future__ import annotations

import re
from functools import lru_cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constrain import CompileBudgetError, RegexError
from constrain.fsm.bytedfa import literal_to_dfa, regex_to_dfa

PATTERNS = [
    r'"([^"\\]|\\.)*"', r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", r"[a-zé日]+", r"(a|ab)(c|bcd)(d*)",
    r"[^a]{2,3}", r".", r"x[^\n]*", "[α-ω]+!", r"(?i:select)", r"[\t ]+", "[^\u0080-\u07ff]+",
]
ALPHABET = ["a", "b", "c", "d", "é", "日", "😀", "\n", " ", '"', "\\", "1", "0", "-", ".", "e", "!", "α", "ω", "S", "x", "\t"]


@lru_cache(maxsize=None)
def _dfa(rx):
    return regex_to_dfa(rx)


@pytest.mark.parametrize("rx", PATTERNS)
@settings(max_examples=150, deadline=None)
@given(data=st.lists(st.sampled_from(ALPHABET), max_size=7))
def test_agrees_with_re(rx, data):
    s = "".join(data)
    d = _dfa(rx)
    assert d.matches(s.encode()) == bool(re.fullmatch(rx, s)), (rx, s)


def test_prefix_liveness_and_partial_utf8():
    d = regex_to_dfa("日本")
    b = "日本".encode()
    for k in range(1, len(b)):
        assert d.step(0, b[:k]) >= 0  # every byte prefix (even mid-character) is alive
    assert d.step(0, "日x".encode()) == -1
    assert d.step(0, b"\xff") == -1  # invalid UTF-8 is never alive


def test_surrogates_and_overlongs_rejected():
    d = regex_to_dfa(r"[^a]")
    assert not d.matches(b"\xed\xa0\x80")  # encoded surrogate
    assert not d.matches(b"\xc0\x80")  # overlong NUL
    assert d.matches("\U0010ffff".encode())


def test_literal():
    d = literal_to_dfa(b"if")
    assert d.matches(b"if") and not d.matches(b"i") and d.step(0, b"i") >= 0


@pytest.mark.parametrize("rx", [r"(?=a)b", r"(a)\1", r"\p{L}"])
def test_unsupported_features_raise(rx):
    with pytest.raises(RegexError):
        regex_to_dfa(rx, name="T")


def test_empty_language_and_budget():
    with pytest.raises(RegexError):
        regex_to_dfa(r"[^\s\S]")
    with pytest.raises(CompileBudgetError):
        regex_to_dfa(r"[ab]*a[ab]{9}", max_states=500)


def test_literals_to_dfa_is_exact_and_bounded():
    from constrain.errors import CompileBudgetError
    from constrain.fsm.bytedfa import literals_to_dfa

    words = [b'"Africa/Abidjan"', b'"Africa/Accra"', b'"GMT"', b'"GMT+1"', "\"Zürich\"".encode()]
    d = literals_to_dfa(words)
    for w in words:
        assert d.matches(w)
    for w in (b'"GMT+"', b'"Africa/"', b'"GMT+12"', b'', b'"Z'):
        assert not d.matches(w)
    import hashlib

    assert len(literals_to_dfa([f'"{i:06d}"'.encode() for i in range(5000)], max_states=1000).accept) < 100
    noise = [f'"{hashlib.sha1(str(i).encode()).hexdigest()[:16]}"'.encode() for i in range(5000)]
    with pytest.raises(CompileBudgetError):  # the merged automaton is over the budget
        literals_to_dfa(noise, max_states=5000)
    with pytest.raises(CompileBudgetError):  # the trie itself is over TRIE_FACTOR times it
        literals_to_dfa(noise, max_states=100)


def test_dfa_key_is_the_same_in_every_process():
    """The disk cache is keyed by the DFA's content hash: the same regex must give the same
    table in every process, whatever Python's string hashing seed (interegular's state order
    depends on it; before canonical numbering the keys of these regexes differed per process)."""
    import os
    import subprocess
    import sys

    regexes = [r"[ \t]{0,4}(?:\r?\n[ \t]{0,20})?,[ \t]{0,4}(?:\r?\n[ \t]{0,20})?",
               r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", r'"(?:[^"\\]|\\.)*"', "(ab|cd|é)+x?"]
    code = ("import sys; from constrain.fsm.bytedfa import regex_to_dfa; "
            "print([regex_to_dfa(r).key for r in sys.argv[1:]])")
    keys = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code, *regexes], env=env, capture_output=True, text=True, check=True)
        keys.add(out.stdout.strip())
    assert len(keys) == 1, keys
    d = regex_to_dfa(regexes[0])
    assert d.matches(b" ,\n  ") and not d.matches(b",,")


def _equivalent_pairs(d) -> list[tuple[int, int]]:
    """Pairs of equivalent states, by table filling (Myhill-Nerode): an independent check."""
    import numpy as np

    n = len(d.accept)
    cols = np.unique(d.trans, axis=1).T.tolist()  # one row per distinct byte column
    acc = d.accept.tolist()
    apart = [[acc[p] != acc[q] for q in range(n)] for p in range(n)]
    changed = True
    while changed:
        changed = False
        for p in range(n):
            for q in range(p + 1, n):
                if apart[p][q]:
                    continue
                for col in cols:
                    a, b = col[p], col[q]
                    if (a < 0) != (b < 0) or (a >= 0 and apart[min(a, b)][max(a, b)]):
                        apart[p][q] = changed = True
                        break
    return [(p, q) for p in range(n) for q in range(p + 1, n) if not apart[p][q]]


@pytest.mark.parametrize("rx", PATTERNS[:6] + [r'"(?:(?:[0-9]|[a-f]){2}){0,8}"', r"(?:a|b)*a(?:a|b){3}"])
def test_dfas_are_minimal(rx):
    """No two states of a lowered DFA are equivalent (each state is a mask-store entry and a
    lexer state of its own, so equivalent ones cost walks and masks for nothing)."""
    d = _dfa(rx)
    assert _equivalent_pairs(d) == []


def test_literal_tries_share_their_endings():
    from constrain.fsm.bytedfa import literals_to_dfa

    words = [b'"red"', b'"bred"', b'"green"', b'"blue"', b'"glue"', b'"re"']
    d = literals_to_dfa(words)
    assert _equivalent_pairs(d) == []
    assert all(d.matches(w) for w in words)
    assert not any(d.matches(w) for w in (b'"r"', b'"bre"', b'"redd"', b'"gred"', b'"blued"', b'red'))
    assert len(d.accept) < sum(len(w) for w in words) // 2  # a trie would need 26 states
