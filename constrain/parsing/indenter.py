"""Newline-sensitive parser wrappers: Python indentation and Go semicolons.

Both wrap an inner :class:`~constrain.parsing.base.Parser` (the LALR parser)
and implement the same protocol, so the lexer engine sees one parser. Each has
a lark post-lexer twin (:class:`PythonPostLex`, :class:`GoPostLex`) with the
same semantics, for building the reference ``lark.Lark(..., postlex=...)``.

Python (:class:`Indenter`)
    ``_NEWLINE`` lexemes carry the next line's indentation. Inside brackets they
    are dropped; otherwise the wrapper feeds ``_NEWLINE`` and then ``_INDENT`` or
    one ``_DEDENT`` per closed level. A ``_NEWLINE`` lexeme whose last line is a
    comment (possible only at end of input) changes no indentation. At end of
    input a missing final ``_NEWLINE`` is supplied, then every open level is
    closed, as CPython's tokenizer does.

Go (:class:`SemicolonInserter`)
    Go's automatic semicolons, from the spec: a newline (or a block comment
    containing one) lexes as ``_NL``, which the grammar takes wherever ``;`` is
    allowed. The wrapper passes ``_NL`` on when the previous token is an
    identifier, a literal, ``break continue fallthrough return``, ``++ -- ) ] }``
    and drops it otherwise. At end of input the same rule inserts one ``_NL``.
"""
from __future__ import annotations

from typing import Hashable, Iterable, Sequence

from .base import bounded_put

__all__ = [
    "Indenter", "SemicolonInserter", "PythonPostLex", "GoPostLex",
    "indentation_of", "GO_SEMICOLON_TRIGGERS",
]


def indentation_of(lexeme: bytes | str, tab_len: int = 8) -> int | None:
    """Indentation carried by a newline lexeme: the text after its last newline,
    spaces count 1 and tabs ``tab_len`` (as lark's Indenter counts them).
    None when that last line is a comment (no indentation change)."""
    if isinstance(lexeme, bytes):
        lexeme = lexeme.decode("utf-8", "replace")
    last = lexeme.rsplit("\n", 1)[-1]
    if "#" in last:
        return None
    return last.count(" ") + last.count("\t") * tab_len


class _Wrapper:
    """What both wrappers share: the inner parser, interned states ``(inner_state, *extras)``
    and the candidates cached per inner state, all bounded like the inner parser's tables."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self._interned: dict[tuple, tuple] = {}
        self._cand_cache: dict[Hashable, frozenset[int]] = {}

    def _intern(self, st: tuple) -> tuple:
        got = self._interned.get(st)
        return got if got is not None else bounded_put(self._interned, st, st)

    def start(self) -> Hashable:
        return self._start

    def candidates(self, state: Hashable) -> frozenset[int]:
        inner_state = state[0]
        c = self._cand_cache.get(inner_state)
        return c if c is not None else bounded_put(self._cand_cache, inner_state, self._candidates(inner_state))

    def _candidates(self, inner_state) -> frozenset[int]:
        raise NotImplementedError


class Indenter(_Wrapper):
    """Python indentation around an inner parser (see the module docstring).

    State: an interned tuple ``(inner_state, indent_levels, paren_level, at_line_start)``.
    """

    def __init__(self, inner, terminal_names: list[str], nl: str = "_NEWLINE",
                 indent: str = "_INDENT", dedent: str = "_DEDENT",
                 open_parens: Iterable[str] = ("LPAR", "LSQB", "LBRACE"),
                 close_parens: Iterable[str] = ("RPAR", "RSQB", "RBRACE"),
                 tab_len: int = 8) -> None:
        index = {name: i for i, name in enumerate(terminal_names)}
        missing = [n for n in (nl, indent, dedent) if n not in index]
        if missing:
            raise ValueError(f"Indenter: grammar lacks terminal(s) {missing}")
        _Wrapper.__init__(self, inner)
        self.nl, self.indent, self.dedent = index[nl], index[indent], index[dedent]
        self.open_parens = frozenset(index[n] for n in open_parens if n in index)
        self.close_parens = frozenset(index[n] for n in close_parens if n in index)
        self.tab_len = tab_len
        self.value_terminals = frozenset({self.nl})
        self._start = self._intern((inner.start(), (0,), 0, True))
        self._qlow, self._lv, self._als = 1 << 60, 0, False
        self._ext_frames: list[tuple[int, int, bool]] = []

    # ---------------------------------------------------------------- read tracking
    # The engine keys cached masks by what their computation read (see grammar._Tracker).
    # For the extras that is: the paren level only through the lowest level a test saw
    # (``paren == 0`` on a closer, ``paren > 0`` on a newline), of the indent levels only the
    # top ones a newline's indentation was compared with (none when the parser cannot take a
    # newline at all, or its indentation is unknown; all of them at the end), and
    # ``at_line_start`` only at the end. A mask after ``x.`` inside ``f(g(`` at any
    # indentation is then computed once, instead of once per (indent stack, paren level).
    # Descriptor: (need, levels read from the top, line start?) with ``need = paren - lowest
    # tested + 1``; the key holds ``min(paren, need)``, exact because every test from a start
    # level >= need sees a nonzero level, and the top levels read: the levels rise from 0, so
    # equal tops mean equal comparisons.

    EXTRAS_NONE = (0, 0, False)  # nothing of the extras read
    ALL_LEVELS = 1 << 30

    def extras_push(self) -> None:
        self._ext_frames.append((self._qlow, self._lv, self._als))
        self._qlow, self._lv, self._als = 1 << 60, 0, False

    def extras_pop(self, state: tuple) -> tuple[int, int, bool]:
        q, lv, als = self._qlow, self._lv, self._als
        oq, olv, oals = self._ext_frames.pop()
        self._qlow, self._lv, self._als = min(oq, q), max(olv, lv), oals or als
        return (state[2] - q + 1 if q <= state[2] else 0, lv, als)

    def extras_note(self, state: tuple, ext: tuple[int, int, bool]) -> None:
        need, lv, als = ext
        if need and state[2] - need + 1 < self._qlow:
            self._qlow = state[2] - need + 1
        if lv > self._lv:
            self._lv = lv
        self._als = self._als or als

    @staticmethod
    def extras_signature(state: tuple, ext: tuple[int, int, bool]) -> tuple:
        need, lv, als = ext
        return (min(state[2], need), state[1][-lv:] if lv else None, state[3] if als else None)

    def _read_levels(self, n: int) -> None:
        """Note that the top ``n`` indent levels were compared with."""
        if n > self._lv:
            self._lv = n

    def _test_paren(self, paren: int) -> None:
        if paren < self._qlow:
            self._qlow = paren

    def _candidates(self, inner_state) -> frozenset[int]:
        return (self.inner.candidates(inner_state) - {self.indent, self.dedent}) | {self.nl}

    @staticmethod
    def canonical_lexeme(lexeme: bytes) -> bytes:
        """The part of a ``_NEWLINE`` lexeme its value depends on: from its last newline on
        (``indentation_of`` reads only the last line, whatever follows). The engine keeps the
        lexeme in this form, so the tokens of a comment block share states and masks."""
        i = lexeme.rfind(b"\n")
        return lexeme[i:] if i > 0 else lexeme

    def _newline(self, inner_state, levels: tuple, indent: int | None):
        """Feed _NEWLINE then _INDENT / _DEDENTs; returns (inner_state, levels) or None.
        ``indent`` None: the same level. Notes how many top levels it compared with."""
        s = self.inner.feed(inner_state, [self.nl], b"\n")
        if s is None or indent is None:
            return None if s is None else (s, levels)
        n = len(levels)
        if indent >= levels[-1]:
            self._read_levels(1)
            if indent == levels[-1]:
                return s, levels
            s = self.inner.feed(s, [self.indent], b"")
            return None if s is None else (s, levels + (indent,))
        i = n - 1  # levels rise from 0, so this stops by i == 0
        while indent < levels[i]:
            i -= 1
        self._read_levels(n - i)
        if indent != levels[i]:  # no such level: no dedent needs feeding to know
            return None
        for _ in range(n - 1 - i):
            s = self.inner.feed(s, [self.dedent], b"")
            if s is None:
                return None
        return s, levels[: i + 1]

    def feed(self, state: Hashable, terms: Sequence[int], lexeme: bytes | None) -> Hashable | None:
        """``lexeme=None`` asks whether *some* value of the terminal could be fed."""
        inner_state, levels, paren, _ = state
        term = terms[0]
        if term == self.nl:
            self._test_paren(paren)
            if paren > 0:
                return state
            # value unknown (a feedability probe): a newline at the same level will do if any
            # indentation does (each begins by feeding the newline), and reads no level
            indent = None if lexeme is None else indentation_of(lexeme, self.tab_len)
            r = self._newline(inner_state, levels, indent)
            return None if r is None else self._intern((r[0], r[1], 0, True))
        if term in self.open_parens:
            paren += 1
        elif term in self.close_parens:
            self._test_paren(paren)
            if paren == 0:
                return None
            paren -= 1
        s = self.inner.feed(inner_state, terms, lexeme)
        if s is None:
            return None
        return self._intern((s, levels, paren, False))

    def can_feed(self, state: Hashable, term: int) -> bool:
        """``feed(state, (term,), None) is not None``, by the inner parser's ``can_feed``: a
        newline whose indentation is still unknown is taken iff one at the same level is."""
        inner_state, levels, paren, _ = state
        can = self.inner.can_feed
        if term == self.nl:
            self._test_paren(paren)
            return paren > 0 or can(inner_state, self.nl)
        if term in self.close_parens:
            self._test_paren(paren)
            if paren == 0:
                return False
        return can(inner_state, term)

    def accepts_end(self, state: Hashable) -> bool:
        inner_state, levels, paren, at_line_start = state
        self._test_paren(paren)
        if paren > 0:
            return False
        self._lv, self._als = self.ALL_LEVELS, True
        if not at_line_start:
            r = self._newline(inner_state, levels, 0)
            if r is None:
                return False
            inner_state, levels = r
        for _ in range(len(levels) - 1):
            inner_state = self.inner.feed(inner_state, [self.dedent], b"")
            if inner_state is None:
                return False
        return self.inner.accepts_end(inner_state)


#: terminal names of go.lark after which a newline becomes a semicolon
GO_SEMICOLON_TRIGGERS = (
    "IDENT", "NUMBER", "RUNE", "STRING",
    "BREAK", "CONTINUE", "FALLTHROUGH", "RETURN", "INC", "DEC", "RPAR", "RSQB", "RBRACE",
)


class SemicolonInserter(_Wrapper):
    """Go's automatic semicolons around an inner parser (see the module docstring).

    State: an interned tuple ``(inner_state, last_token_triggers)``.
    """

    def __init__(self, inner, terminal_names: list[str], nl: str = "_NL",
                 triggers: Iterable[str] = GO_SEMICOLON_TRIGGERS) -> None:
        index = {name: i for i, name in enumerate(terminal_names)}
        if nl not in index:
            raise ValueError(f"SemicolonInserter: grammar lacks terminal {nl!r}")
        _Wrapper.__init__(self, inner)
        self.nl = index[nl]
        self.triggers = frozenset(index[n] for n in triggers if n in index)
        self.value_terminals = frozenset()
        self._start = self._intern((inner.start(), False))

    def _candidates(self, inner_state) -> frozenset[int]:
        return self.inner.candidates(inner_state) | {self.nl}

    def feed(self, state: Hashable, terms: Sequence[int], lexeme: bytes) -> Hashable | None:
        inner_state, trig = state
        term = terms[0]
        if term == self.nl:
            if not trig:
                return state
            s = self.inner.feed(inner_state, [self.nl], lexeme)
            return None if s is None else self._intern((s, False))
        s = self.inner.feed(inner_state, terms, lexeme)
        if s is None:
            return None
        return self._intern((s, term in self.triggers))

    def can_feed(self, state: Hashable, term: int) -> bool:
        """``feed(state, (term,), None) is not None``, by the inner parser's ``can_feed``."""
        inner_state, trig = state
        if term == self.nl and not trig:
            return True
        return self.inner.can_feed(inner_state, term)

    def accepts_end(self, state: Hashable) -> bool:
        inner_state, trig = state
        if trig:
            inner_state = self.inner.feed(inner_state, [self.nl], b"\n")
            if inner_state is None:
                return False
        return self.inner.accepts_end(inner_state)


def __getattr__(name: str):
    """The lark twins live in :mod:`constrain.parsing.lark_postlex`, loaded on first use:
    matching never needs lark, and importing it costs ~0.1 s of a cached compile."""
    if name in ("PythonPostLex", "GoPostLex"):
        from . import lark_postlex

        return getattr(lark_postlex, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
