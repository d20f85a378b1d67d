"""A reference lexer for the JSON-Schema parser (no tokenizer, no masks).

Lexes an instance with Python ``re`` over the terminals the compiler emitted,
the way the engine does: in each parser state try the parser's candidates,
longest match wins, ties go literal-first then definition order, and every
terminal matching the longest lexeme is passed to ``feed`` best first.
"""
from __future__ import annotations

import json
import re

from constrain.frontends.json_schema import schema_to_spec


_DFA_CACHE: dict = {}


class Harness:
    def __init__(self, schema, **opts):
        self.spec = schema_to_spec(schema, **opts)
        self.parser = self.spec.parser
        self._rx = {}

    def dfa(self, i):
        d = self._rx.get(i)
        if d is None:
            from constrain.fsm.bytedfa import literal_to_dfa, regex_to_dfa

            t = self.spec.terminals[i]
            key = t.literal if t.literal is not None else (t.regex, t.also, t.minus)
            d = _DFA_CACHE.get(key)
            if d is None:
                d = literal_to_dfa(t.literal) if t.literal is not None else \
                    regex_to_dfa(t.regex, 200000, also=t.also, minus=t.minus)
                _DFA_CACHE[key] = d
            self._rx[i] = d
        return d

    def longest(self, i, data: bytes, pos: int) -> int:
        """Length of the longest match of terminal i at data[pos:], or -1."""
        d = self.dfa(i)
        rows, acc = d.rows, d.accept_list
        s, best = 0, -1
        for j in range(pos, len(data)):
            s = rows[s][data[j]]
            if s < 0:
                break
            if acc[s]:
                best = j + 1 - pos
        return best

    def accepts(self, text: str) -> bool:
        p = self.parser
        state = p.start()
        data = text.encode("utf-8")
        pos = 0
        while pos < len(data):
            cands = sorted(p.candidates(state))
            best, terms = -1, []
            for i in cands:
                n = self.longest(i, data, pos)
                if n <= 0:
                    continue
                if n > best:
                    best, terms = n, [i]
                elif n == best:
                    terms.append(i)
            if best < 0:
                return False
            terms.sort(key=lambda i: (self.spec.terminals[i].literal is None, -self.spec.terminals[i].priority, i))
            lex = data[pos:pos + best]
            # feedable check as the engine does (value unknown: some matching terminal can be
            # taken), then the real feed
            if p.feed(state, tuple(terms), None) is None:
                return False
            val = lex if any(t in p.value_terminals for t in terms) else b""
            nxt = p.feed(state, tuple(terms), val)
            if nxt is None:
                return False
            state = nxt
            pos += best
        return p.accepts_end(state)

    def accepts_value(self, value) -> bool:
        return self.accepts(json.dumps(value, ensure_ascii=False))
