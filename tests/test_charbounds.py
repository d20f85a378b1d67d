"""Character counts of open JSON strings (constrain.store.charbounds)."""
from __future__ import annotations

import random

from constrain.store.charbounds import count_chars, string_state

PIECES = ["a", " ", "é", "€", "😀", "\\n", '\\"', "\\\\", "\\u00e9"]


def test_string_state_counts_the_characters_a_prefix_has_started():
    """A string's content cut at any byte: the characters started so far, and where an escape
    was cut (1 after its backslash; inside ``\\uXXXX``, 5..2: one more than the hex digits to come)."""
    rng = random.Random(0)
    for _ in range(3000):
        pieces = [rng.choice(PIECES).encode() for _ in range(rng.randrange(1, 10))]
        data = b"".join(pieces)
        cut = rng.randrange(len(data) + 1)
        n, at, esc = 0, 0, 0
        for p in pieces:
            if at >= cut:
                break
            n += 1
            inside = cut - at
            if inside < len(p) and p[:1] == b"\\":
                esc = 1 if inside == 1 else (7 - inside if p[1:2] == b"u" else 0)
            at += len(p)
        assert string_state(data[:cut]) == (n, esc), (data, cut)
        assert count_chars(data[:cut]) == n
