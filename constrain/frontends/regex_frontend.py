"""Regex and choice front ends: a whole output that must match one regex.

The output is one lexeme of a single terminal, so the parser is trivial: it
takes that terminal once and then only accepts the end. Longest match still
applies within the lexeme (``a|ab`` allows ``ab``); the output may end at any
accepting position.
"""
from __future__ import annotations

import hashlib
from typing import Sequence

from ..errors import GrammarError
from ..grammar import CompileOptions, CompiledGrammar, build_grammar
from ..parsing.base import GrammarSpec, Terminal
from ..tokenizer import TokenizerInfo

_SPECIAL = set(".^$*+?{}[]\\|()")


class SingleTerminalParser:
    """Parser for "exactly one lexeme of terminal 0"."""

    value_terminals: frozenset[int] = frozenset()
    _cands = frozenset({0})
    _none: frozenset[int] = frozenset()

    def start(self) -> int:
        return 0

    def candidates(self, state: int) -> frozenset[int]:
        return self._cands if state == 0 else self._none

    def feed(self, state: int, terms, lexeme) -> int | None:
        return 1 if state == 0 and terms[0] == 0 else None

    def accepts_end(self, state: int) -> bool:
        return state == 1


def escape(text: str) -> str:
    """Escape ``text`` as a literal for interegular's regex syntax."""
    out = []
    for ch in text:
        if ch in _SPECIAL:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        else:
            out.append(ch)
    return "".join(out)


def compile_regex(regex: str, tok: TokenizerInfo, max_compile_seconds: float = 30.0,
                  max_dfa_states: int = 20000) -> CompiledGrammar:
    """Constrain the whole output to match ``regex`` (Python ``re`` syntax without lookaround/backrefs)."""
    if not isinstance(regex, str):
        raise GrammarError(f"regex must be a string, got {type(regex).__name__}")
    spec = GrammarSpec([Terminal("REGEX", regex)], frozenset(), SingleTerminalParser(), "regex",
                       hashlib.sha256(regex.encode()).hexdigest()[:32])
    return build_grammar(spec, tok, CompileOptions(max_compile_seconds, max_dfa_states))


def compile_choice(choices: Sequence[str], tok: TokenizerInfo, **options) -> CompiledGrammar:
    """Constrain the output to be exactly one of ``choices``."""
    if isinstance(choices, str) or not choices or not all(isinstance(c, str) and c for c in choices):
        raise GrammarError("choices must be a non-empty list of non-empty strings")
    return compile_regex("|".join(f"({escape(c)})" for c in dict.fromkeys(choices)), tok, **options)
