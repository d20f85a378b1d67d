"""The matcher: one sequence's incremental state over a compiled grammar.

States are immutable tuples kept on a persistent history list, so
``rollback`` is popping, ``copy`` is O(1) and a rejected token leaves the
matcher exactly as it was.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from .errors import MatcherError
from .grammar import TERMINATED, CompiledGrammar


class Matcher:
    """Incremental matcher. See :meth:`fill_bitmask`, :meth:`advance`, :meth:`rollback`."""

    __slots__ = ("grammar", "_hist", "_stops", "_last")

    def __init__(self, grammar: CompiledGrammar, _hist: tuple | None = None):
        self.grammar = grammar
        # history: (state, previous history, depth)
        self._hist = _hist if _hist is not None else (grammar.initial_state(), None, 0)
        self._stops = frozenset(grammar.stop_ids)
        self._last = (None, None)  # (state, mask) of the last fill: advance reuses it

    # ---------------------------------------------------------------- queries
    @property
    def state(self):
        return self._hist[0]

    @property
    def num_tokens(self) -> int:
        """Tokens accepted so far (the rollback depth available)."""
        return self._hist[2]

    def is_accepting(self) -> bool:
        """True if the output so far is a complete string of the language (a stop token is allowed)."""
        return self.grammar.is_accepting(self._hist[0])

    def is_terminated(self) -> bool:
        """True once a stop token has been accepted."""
        return self._hist[0] is TERMINATED

    def fill_bitmask(self, mask: np.ndarray, index: int | None = None) -> None:
        """Write the allowed-token mask into ``mask`` (``uint32[W]``, or row ``index`` of ``uint32[B, W]``)."""
        state = self._hist[0]
        m = self.grammar.mask(state)
        self._last = (state, m)
        if index is not None:
            mask = mask[index]
        if mask.shape[-1] < len(m) or mask.dtype != np.uint32:
            raise MatcherError(f"bitmask must be uint32 with >= {len(m)} words, got {mask.dtype}{mask.shape}")
        mask[: len(m)] = m
        if mask.shape[-1] > len(m):
            mask[len(m):] = 0

    def allowed_token_ids(self) -> np.ndarray:
        """The allowed ids as an array (debugging and tests)."""
        return self.grammar.tok.bitmask_to_ids(self.grammar.mask(self._hist[0]))

    # ---------------------------------------------------------------- updates
    def _next(self, state, token_id: int):
        g = self.grammar
        if not isinstance(token_id, (int, np.integer)) or not 0 <= token_id < g.tok.vocab_size:
            raise MatcherError(f"token id {token_id!r} is outside the vocabulary (size {g.tok.vocab_size})")
        token_id = int(token_id)
        if state is TERMINATED:
            return TERMINATED if token_id in self._stops else None
        if token_id in self._stops:
            return TERMINATED if g.is_accepting(state) else None
        data = g.tok.token_bytes[token_id]
        if not data:
            return None
        # the mask is the single source of truth (cached: usually filled just before)
        m = self._last[1] if self._last[0] is state else g.mask(state)
        if not (m[token_id >> 5] >> (token_id & 31)) & 1:
            return None
        nxt = g.advance_bytes(state, data)
        if nxt is None:  # pragma: no cover - would be an engine bug
            raise MatcherError(f"internal error: token {token_id} allowed by the mask but not lexable")
        return nxt

    def advance(self, token_id: int) -> bool:
        """Consume one token. Returns False (state unchanged) if the grammar does not allow it."""
        nxt = self._next(self._hist[0], token_id)
        if nxt is None:
            return False
        self._hist = (nxt, self._hist, self._hist[2] + 1)
        return True

    def consume_tokens(self, ids: Iterable[int]) -> bool:
        """Advance over all ``ids``; on the first rejection roll back to the start and return False."""
        n = 0
        for t in ids:
            if not self.advance(t):
                self.rollback(n)
                return False
            n += 1
        return True

    def validate_tokens(self, ids: Iterable[int]) -> int:
        """Length of the longest prefix of ``ids`` the grammar accepts, without changing the matcher."""
        state, n = self._hist[0], 0
        for t in ids:
            state = self._next(state, t)
            if state is None:
                break
            n += 1
        return n

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` accepted tokens."""
        if n < 0 or n > self._hist[2]:
            raise MatcherError(f"cannot roll back {n} tokens: only {self._hist[2]} accepted")
        h = self._hist
        for _ in range(n):
            h = h[1]
        self._hist = h

    def reset(self) -> None:
        while self._hist[1] is not None:
            self._hist = self._hist[1]

    def copy(self) -> "Matcher":
        """An independent matcher in the same state (O(1): histories are shared, immutable)."""
        return Matcher(self.grammar, self._hist)

    def advance_bytes(self, data: bytes) -> bool:
        """Consume raw bytes (not a token). Counts as one step for rollback."""
        g = self.grammar
        if self._hist[0] is TERMINATED:
            return False
        nxt = g.advance_bytes(self._hist[0], data)
        if nxt is None or not (g.viable(nxt) or g.is_accepting(nxt) or g.mask(nxt).any()):
            return False
        self._hist = (nxt, self._hist, self._hist[2] + 1)
        return True
