"""A likely instance of a compiled schema, built from its IR (for the compile-time warm-up).

The witness is what a model most often writes for a schema: every known property, in schema
order, with a plain value of its first satisfiable type (an enum's first value, a format's
usual form, a string of ``minLength`` letters, a number at its lower bound, arrays of two
items). It is a guess, not a proof: it may break a ``pattern``, a ``oneOf`` or a
``uniqueItems``, and the warm-up walk (:mod:`constrain.warm`) then stops where it first
leaves the language. Nothing about exactness depends on it: the walk only fills caches
through the ordinary matcher.
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ...errors import ConstrainError
from .ir import FALSE, Group, Typed, Union, deref

#: a usual spelling per known format (matching what the format checks accept)
FORMAT_SAMPLES = {
    "date-time": "2024-01-01T00:00:00Z", "date": "2024-01-01", "time": "12:00:00Z",
    "email": "user@example.com", "idn-email": "user@example.com", "hostname": "example.com",
    "idn-hostname": "example.com", "ipv4": "192.168.0.1", "ipv6": "::1",
    "uri": "https://example.com", "uri-reference": "https://example.com", "iri": "https://example.com",
    "iri-reference": "https://example.com", "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "duration": "P1D", "json-pointer": "/a", "relative-json-pointer": "0", "regex": "a",
    "uri-template": "https://example.com/{id}",
}

_NONE = object()  # no witness found

#: the bytes a string sample prefers, in order (ties in length go to letters, then digits)
SAMPLE_BYTES = b'"abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.'


def string_sampler(grammar):
    """``sample_string`` for :func:`witness` over a compiled schema grammar: the shortest string
    of a string terminal's DFA (the JSON text with its quotes), decoded; None for other terminals."""
    dfas, terms = grammar.lexer.dfas, grammar.spec.terminals

    def sample_string(term: int) -> str | None:
        dfa, rx = dfas[term], terms[term].regex
        if dfa is None or rx is None or not rx.startswith('"'):
            return None
        got = dfa.shortest_accepted(SAMPLE_BYTES)
        try:
            v = json.loads(got) if got is not None else None
        except ValueError:
            return None
        return v if isinstance(v, str) else None

    return sample_string


def witness(root, info, sample_string=None, max_depth: int = 12, max_values: int = 500) -> tuple[bool, Any]:
    """``(found, value)``: a likely instance of the IR ``root`` (``info``: its Compiler).

    ``sample_string(term)``, when given, returns a short string in a string terminal's language
    (or None); it is asked for strings with a ``pattern`` or an unknown ``format``. At most
    ``max_values`` values are built (a schema reusing a definition at every level would
    otherwise have an exponentially large witness): objects and arrays then stop growing."""
    v = _Witness(info, max_depth, sample_string, max_values).of(root, 0)
    return (False, None) if v is _NONE else (True, v)


class _Witness:
    def __init__(self, info, max_depth: int, sample_string=None, max_values: int = 500):
        self.info, self.max_depth, self.sample_string = info, max_depth, sample_string
        self.left = max_values

    def of(self, node, depth: int) -> Any:
        self.left -= 1
        try:
            node = deref(node)
        except ConstrainError:  # an unresolvable node has no witness
            return _NONE
        if node is FALSE or not self.info.nonempty(node):
            return _NONE
        if isinstance(node, Union):
            return self._first(node.branches, depth)
        if isinstance(node, Group):  # oneOf, not, if, allOf, contains: branch 0 carries the value
            return self._first(node.branches[:1], depth)
        if isinstance(node, Typed):
            return self._typed(node, depth)
        return _NONE

    def _first(self, branches, depth: int) -> Any:
        for b in branches:
            v = self.of(b, depth + 1)
            if v is not _NONE:
                return v
        return _NONE

    def _typed(self, n: Typed, depth: int) -> Any:
        if n.enum is not None:
            return n.enum[0] if n.enum else _NONE
        t = n.types
        deep = depth >= self.max_depth or self.left <= 0
        if "object" in t and (n.o.parts or n.o.required) and not deep:
            return self._object(n, depth)
        if "array" in t and not deep and (n.a.prefix or n.a.items is not None):
            return self._array(n, depth)
        if "string" in t:
            return self._string(n)
        if "number" in t:  # integers are numbers with ``n.integer``
            return self._number(n)
        if "boolean" in t:
            return True
        if "null" in t:
            return None
        if "object" in t:
            return {}
        if "array" in t:
            return []
        return _NONE

    def _object(self, n: Typed, depth: int) -> dict:
        out: dict = {}
        for part in n.o.parts:
            for name, child in part.props.items():
                if name in out or self.left <= 0:
                    continue
                v = self.of(child, depth + 1)
                if v is not _NONE:
                    out[name] = v
        missing = sorted(n.o.required - out.keys())  # required names no property declares
        extra = [p.additional for p in n.o.parts if p.additional is not None]  # None: any value
        for name in missing:
            v = self._first(extra, depth) if extra else "a"
            if v is not _NONE:
                out[name] = v
        return out

    def _array(self, n: Typed, depth: int) -> list:
        a = n.a
        count = max(a.min_items, len(a.prefix), 2)
        if a.max_items is not None:
            count = min(count, a.max_items)
        out = []
        for i in range(min(count, 4)):
            if self.left <= 0 and i >= a.min_items:
                break
            child = a.at(i)
            v = "a" if child is None else self.of(child, depth + 1)
            if v is _NONE:
                break
            out.append(v)
        return out

    def _string(self, n: Typed) -> str:
        s = n.s
        if not s.patterns:
            for f in s.formats:
                if f in FORMAT_SAMPLES:
                    return FORMAT_SAMPLES[f]
        ti = self.info.tinfo_if_built(n) if (s.patterns or s.formats) and self.sample_string else None
        if ti is not None:  # (a node compiling never reached has no terminals, and gets none now)
            for term in ti.scalars:
                got = self.sample_string(term)
                if got is not None:
                    return got
        size = max(s.min_len, 1)
        if s.max_len is not None:
            size = min(size, s.max_len)
        return "a" * min(size, 256)

    @staticmethod
    def _number(n: Typed):
        c = n.n
        if c.lo is not None:
            v = c.lo + (1 if c.lo_excl else 0)
        elif c.hi is not None:
            v = min(c.hi - (1 if c.hi_excl else 0), Decimal(1))
        else:
            v = Decimal(1)
        if c.multiples:
            m = c.multiples[0]
            v = (v / m).to_integral_value(rounding="ROUND_CEILING") * m
        if c.integer or v == v.to_integral_value():
            try:
                return int(v)
            except (OverflowError, ValueError):
                return 1
        return float(v)
