"""The contract between the lexer/mask engine and a parser.

The engine owns lexing: it walks token bytes through the terminals' byte DFAs
(longest match) and hands each finished lexeme to the parser. A parser is any
object implementing :class:`Parser`. Parser states must be *immutable and
hashable*, and cheap to hash: the engine uses them as cache keys and keeps
them on the rollback history. Intern them (equal states -> same object) when
hashing would otherwise walk a deep structure.

Two implementations ship: the LALR(1) parser built from lark's table
(:mod:`constrain.parsing.lalr`) and the JSON-Schema pushdown parser.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Protocol, Sequence

#: entries per parser interning / memo table before it is cleared (see :func:`bounded_put`)
CACHE_LIMIT = 400_000


def bounded_put(table: dict, key: Any, value: Any, limit: int = CACHE_LIMIT) -> Any:
    """``table[key] = value``, clearing ``table`` first when it holds ``limit`` entries.

    For tables keyed by parser states (interning, memos): their keys are the state objects,
    so clearing is always safe and costs only misses, and a long session stays bounded."""
    if len(table) >= limit:
        table.clear()
    table[key] = value
    return value


@dataclass(frozen=True)
class Terminal:
    """One lexical terminal.

    ``regex`` is in interegular's syntax (Python ``re`` subset, no lookaround or
    backreferences). ``literal`` is set for string terminals (keywords,
    punctuation): on a tie in length a literal beats a regex, as lark's
    "unless" rule does. ``priority`` breaks remaining ties (higher wins).
    """

    name: str
    regex: str | None  # None: declared only, never lexed (e.g. _INDENT fed by a post-lexer)
    priority: int = 0
    literal: bytes | None = None
    line: int | None = None  # where it was defined, for error messages
    #: a JSON string terminal whose content may have at most this many characters
    #: (checked when the value ends; the engine also keeps open strings within it)
    max_chars: int | None = None
    #: ``(lo, hi)``: the parser reads this JSON string terminal's value only through the
    #: check ``lo <= characters <= hi`` (``hi`` None: no upper bound), wherever the terminal is
    #: used; the engine may then share masks between open strings of equal character counts
    len_bounds: tuple[int, int | None] | None = None
    #: a finite set of exact byte strings (a large enum): built as a trie, no regex engine
    alternatives: tuple[bytes, ...] | None = None
    #: regexes whose languages this terminal's is intersected with / minus (``regex_to_dfa``)
    also: tuple[str, ...] = ()
    minus: tuple[str, ...] = ()


class Parser(Protocol):
    """Incremental parser over terminal indices (positions in the grammar's terminal list)."""

    #: terminals whose lexeme bytes the parser inspects in ``feed``; for the
    #: others ``feed`` gets ``b""`` and the engine may share work between lexemes.
    value_terminals: frozenset[int]

    def start(self) -> Hashable:
        """The initial parser state."""

    def candidates(self, state: Hashable) -> frozenset[int]:
        """Terminals the lexer should try in this state (ignored terminals are added by the engine).

        May over-approximate what ``feed`` accepts (lark's contextual lexer uses
        the action-table keys), but the choice changes how lexemes are cut, so
        it is part of the language definition.
        """

    def feed(self, state: Hashable, terms: Sequence[int], lexeme: bytes) -> Hashable | None:
        """Consume one lexeme. ``terms`` lists every candidate terminal matching the
        longest lexeme, best first (priority, literal-over-regex, definition order).
        A deterministic parser takes ``terms[0]``; a nondeterministic one may try all.
        Returns the new state, or None if the lexeme is a syntax error.

        ``lexeme`` is ``None`` when the engine asks whether the lexeme *could*
        be accepted before it is complete (the lexeme is still growing): answer
        non-None iff some value of these terminals would be accepted. The
        answer decides whether tokens that continue the lexeme are allowed, so
        a value terminal's regex should carry every constraint the parser
        checks, or the parser must keep the check decidable when it is fed."""

    def accepts_end(self, state: Hashable) -> bool:
        """True if the input may end here (end of input after the last lexeme)."""


@dataclass
class GrammarSpec:
    """What a front end hands to the engine: terminals, ignored terminal indices, a parser."""

    terminals: list[Terminal]
    ignore: frozenset[int]
    parser: Parser
    name: str = "grammar"
    source_hash: str = ""  # content hash of the front-end input, for disk caches
    extra: dict = field(default_factory=dict)
