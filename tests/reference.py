"""A slow reference for mask exactness, built on lark's own parser (the spec).

``viable(s)`` asks: is there a completion c such that ``lark.parse(s + c)``
succeeds? It searches completions breadth-first over a small alphabet,
pruning with a necessary condition that uses lark's interactive parser and
interegular's *character* FSMs (independent of our byte DFAs and union
analyses): some split ``s[:q]`` is lexed and parsed by lark, and ``s[q:]`` is
a prefix of a match of a terminal lark accepts there.
"""
from __future__ import annotations

from functools import lru_cache

import interegular
import lark
from lark.exceptions import LarkError


class LarkReference:
    def __init__(self, grammar: str, alphabet: str, max_depth: int = 6):
        self.lk = lark.Lark(grammar, parser="lalr", lexer="contextual")
        self.alphabet = alphabet
        self.max_depth = max_depth
        self.ignore = set(self.lk.ignore_tokens)
        self.fsms = {t.name: interegular.parse_pattern(t.pattern.to_regexp()).to_fsm() for t in self.lk.terminals}
        self.parses = lru_cache(maxsize=None)(self._parses)
        self.maybe_viable = lru_cache(maxsize=None)(self._maybe_viable)

    def _parses(self, s: str) -> bool:
        try:
            self.lk.parse(s)
            return True
        except LarkError:
            return False

    def _prefix_of_match(self, name: str, rest: str) -> bool:
        fsm = self.fsms[name]
        state = fsm.initial
        for ch in rest:
            sym = fsm.alphabet[ch] if ch in fsm.alphabet else fsm.alphabet[interegular.fsm.anything_else]
            state = fsm.map.get(state, {}).get(sym)
            if state is None:
                return False
        return fsm.islive(state)

    def _maybe_viable(self, s: str) -> bool:
        for q in range(len(s), -1, -1):
            try:
                ip = self.lk.parse_interactive(s[:q])
                ip.exhaust_lexer()
            except LarkError:
                continue
            rest = s[q:]
            if not rest:
                return True
            cands = (set(ip.accepts()) - {"$END"}) | self.ignore
            if any(self._prefix_of_match(t, rest) for t in cands if t in self.fsms):
                return True
        return False

    def viable(self, s: str, budget: int = 2500) -> bool | None:
        """True: a completion was found. False: provably none (the necessary condition fails).
        None: undecided within ``max_depth`` characters (iterative deepening over ``alphabet``)."""
        if not self.maybe_viable(s):
            return False
        budget = [budget]

        def dfs(x: str, depth: int) -> bool:
            if self.parses(x):
                return True
            if depth == 0 or budget[0] <= 0:
                return False
            for ch in self.alphabet:
                budget[0] -= 1
                y = x + ch
                if self.maybe_viable(y) and dfs(y, depth - 1):
                    return True
            return False

        for depth in range(self.max_depth + 1):
            if dfs(s, depth):
                return True
        return None
