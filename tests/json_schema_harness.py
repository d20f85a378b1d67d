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


class Harness:
    def __init__(self, schema, **opts):
        self.spec = schema_to_spec(schema, **opts)
        self.parser = self.spec.parser
        self._rx = {}

    def rx(self, i):
        r = self._rx.get(i)
        if r is None:
            t = self.spec.terminals[i]
            r = self._rx[i] = re.compile(t.regex.encode() if False else t.regex, re.S)
        return r

    def accepts(self, text: str) -> bool:
        p = self.parser
        state = p.start()
        data = text
        pos = 0
        while pos < len(data):
            cands = sorted(p.candidates(state))
            best, terms = -1, []
            for i in cands:
                m = self.rx(i).match(data, pos)
                if m is None or m.end() == pos:
                    continue
                n = m.end() - pos
                if n > best:
                    best, terms = n, [i]
                elif n == best:
                    terms.append(i)
            if best < 0:
                return False
            terms.sort(key=lambda i: (self.spec.terminals[i].literal is None, -self.spec.terminals[i].priority, i))
            lex = data[pos:pos + best].encode()
            # feedable check as the engine does (value unknown), then the real feed
            if p.feed(state, (terms[0],), None) is None:
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
