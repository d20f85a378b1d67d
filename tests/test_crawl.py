"""constrain.fsm.crawl: the dict-indexed crawl builds exactly interegular's automata."""
from __future__ import annotations

import interegular
import interegular.fsm as ifsm
import pytest

from constrain.fsm import bytedfa  # noqa: F401  (installs the fast crawl)
from constrain.fsm import crawl as fast

REGEXES = [r'"(?:[^"\\]|\\.)*"', r"(a|ab)(c|bcd)(d*)", r"[ab]*a[ab]{4}", r"(?:x|yz){2,5}w?", r"[α-ω]+!|日本"]


def _build(rx, use):
    ifsm.crawl = use
    try:
        a = interegular.parse_pattern(rx).to_fsm()
        b = interegular.parse_pattern("[a-c]*b.").to_fsm()
        return [a, a.union(b), a.intersection(b), a.difference(b), a.star(), a.everythingbut()]
    finally:
        ifsm.crawl = fast.crawl


@pytest.mark.parametrize("rx", REGEXES)
def test_same_automata_as_interegular(rx):
    assert fast.original is not None and ifsm.crawl is fast.crawl
    ours, theirs = _build(rx, fast.crawl), _build(rx, fast.original)
    for x, y in zip(ours, theirs):  # products with frozenset, set, tuple and dict states
        assert list(x.states) == list(y.states)
        assert x.initial == y.initial and x.finals == y.finals
        assert x.map == y.map


def test_unkeyable_states_fall_back_to_the_list_scan():
    from interegular.fsm import Alphabet, OblivionError

    alphabet = Alphabet.from_groups({"a"}, {"b"})
    # states are lists (unhashable): 0..3 by the count of symbols read
    def follow(state, transition):
        if state[0] >= 3:
            raise OblivionError
        return [state[0] + 1]

    got = fast.crawl(alphabet, [0], lambda s: s[0] == 3, follow)
    assert len(got.states) == 4 and got.finals == {3}
