"""Character counts of tokens inside a JSON string, for length bounds on open strings.

A string whose ``maxLength`` is checked when the value ends (too long for a
counted regex) would otherwise let a token run past the bound and dead-end at
the closing quote. Instead, the engine allows a token that keeps such a string
open only if the characters so far plus the token's stay within the bound.

A token's count is the number of characters it *starts* in the string's JSON
encoding: every byte except UTF-8 continuation bytes, with a backslash escape
(``\\n``, ``\\uXXXX``) counting once. So a token that ends inside a multi-byte
character or an escape has already counted it. The count depends only on
whether the token starts right after a lone backslash; both vectors are built
once per tokenizer with one vectorised pass (~10 ms for 128k tokens) and the
"count <= r" bitmasks are cached per r. Cost: exact, never blocks a token that
some valid completion needs (a longer string cannot become shorter).
"""
from __future__ import annotations

import bisect
import re

import numpy as np

from ..tokenizer import TokenizerInfo
from .maskstore import pack_ids

_BACKSLASH, _U = 0x5C, 0x75
_ESCAPE = re.compile(rb"\\.", re.S)
_CONTINUATION = bytes(range(0x80, 0xC0))


class CharBounds:
    _by_tok: dict[str, "CharBounds"] = {}

    def __init__(self, tok: TokenizerInfo):
        self.tok = tok
        self._counts: dict[bool, np.ndarray] = {}
        self._le: dict[tuple[int, bool], np.ndarray] = {}
        self._breaks: list[int] | None = None

    @classmethod
    def for_tokenizer(cls, tok: TokenizerInfo) -> "CharBounds":
        cb = cls._by_tok.get(tok.content_hash)
        if cb is None:
            cb = cls._by_tok[tok.content_hash] = cls(tok)
        return cb

    def counts(self, after_backslash: bool = False) -> np.ndarray:
        """int32 per walk-table row: characters started by the token's bytes."""
        got = self._counts.get(after_backslash)
        if got is not None:
            return got
        wt = self.tok.walk_table
        n = len(wt.ids)
        cnt = np.zeros(n, dtype=np.int32)
        # esc: 0 normal, 1 after a backslash, 2..5 hex digits of \uXXXX still to read
        esc = np.full(n, 1 if after_backslash else 0, dtype=np.int8)
        for i in range(wt.data.shape[1]):
            k = int(wt.n_active[i])
            if k == 0:
                break
            b = wt.data[:k, i]
            e = esc[:k]
            normal = e == 0
            starts = normal & ((b < 0x80) | (b >= 0xC0))
            cnt[:k] += starts
            new = np.zeros(k, dtype=np.int8)
            new[normal & (b == _BACKSLASH)] = 1
            one = e == 1
            new[one & (b == _U)] = 5
            hexd = e >= 2
            new[hexd] = np.where(e[hexd] > 2, e[hexd] - 1, 0)
            esc[:k] = new
        self._counts[after_backslash] = cnt
        return cnt

    def at_most(self, r: int, after_backslash: bool = False) -> np.ndarray:
        """Packed bits of the tokens whose count is <= r."""
        key = (r, after_backslash)
        got = self._le.get(key)
        if got is None:
            wt = self.tok.walk_table
            got = pack_ids(wt.ids[self.counts(after_backslash) <= r], self.tok.mask_words)
            if len(self._le) > 1024:
                self._le.clear()
            self._le[key] = got
        return got

    def breaks(self) -> list[int]:
        """Sorted character counts at which a length bound can change a mask: every token's count
        (both escape states) and the count of every token prefix that ends before a ``"``
        byte (a closing token's share of the string). Between two of them a bound of r
        remaining characters allows the same tokens (see :meth:`length_class`)."""
        if self._breaks is None:
            vals = set(np.unique(self.counts(False)).tolist()) | set(np.unique(self.counts(True)).tolist())
            for b in self.tok.token_bytes:
                if b and 0x22 in b:
                    i = b.find(b'"')
                    while i >= 0:
                        vals.add(count_chars(b[:i]))
                        vals.add(count_chars(b[:i], True))
                        i = b.find(b'"', i + 1)
            self._breaks = sorted(vals)
        return self._breaks

    def length_class(self, n: int, lo: int, hi: int | None):
        """A class of the character count ``n`` of an open string under the check
        ``lo <= length <= hi``: counts in one class allow the same tokens and closing tokens.
        Below ``lo`` the count itself (a closing token may still be too short); from ``lo`` on,
        only the remaining room ``hi - n`` matters, up to the next break (``hi`` None: none)."""
        if n < lo:
            return n
        if hi is None:
            return -1
        return -2 - bisect.bisect_right(self.breaks(), hi - n)


def string_state(content: bytes) -> tuple[int, int]:
    """(characters started, escape state) of a string's content bytes: escape state 0 = none,
    1 = a lone backslash is pending, 2..5 = inside ``\\uXXXX``. In C-speed byte operations; the
    byte loop only where a ``\\u`` escape occurs."""
    esc = 0
    if 0x5C in content:
        if b"\\u" in content:
            return _string_state_loop(content)
        content = _ESCAPE.sub(b"e", content)
        esc = 1 if content.endswith(b"\\") else 0
    return len(content.translate(None, _CONTINUATION)), esc


def _string_state_loop(content: bytes, esc: int = 0) -> tuple[int, int]:
    n = 0
    for b in content:
        if esc == 0:
            if b < 0x80 or b >= 0xC0:
                n += 1
            if b == _BACKSLASH:
                esc = 1
        elif esc == 1:
            esc = 5 if b == _U else 0
        else:
            esc = esc - 1 if esc > 2 else 0
    return n, esc


def count_chars(data: bytes, after_backslash: bool = False) -> int:
    """Characters started by ``data`` (the per-token count, for one byte string)."""
    return _string_state_loop(data, 1 if after_backslash else 0)[0]
