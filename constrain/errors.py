"""Typed errors. Every failure a user can cause raises a subclass of ``ConstrainError``."""
from __future__ import annotations


class ConstrainError(Exception):
    """Base class of all errors raised by constrain."""


class TokenizerError(ConstrainError):
    """The tokenizer could not be read or has no usable vocabulary."""


class GrammarError(ConstrainError):
    """A grammar cannot be compiled. ``where`` names the rule/terminal and line when known."""

    def __init__(self, message: str, where: str | None = None):
        self.where = where
        super().__init__(f"{message} (at {where})" if where else message)


class RegexError(GrammarError):
    """A regular expression uses a feature that cannot be lowered to a DFA."""


class EmptyLanguageError(GrammarError):
    """The grammar accepts no string at all."""


class UnsupportedSchemaError(ConstrainError):
    """A JSON Schema keyword or construct is not supported. ``pointer`` is its JSON pointer."""

    def __init__(self, message: str, pointer: str = "", keyword: str | None = None):
        self.pointer = pointer
        self.keyword = keyword
        super().__init__(f"{message} at '{pointer or '#'}'")


class SchemaError(ConstrainError):
    """The schema itself is malformed (not JSON, not an object/boolean, bad keyword value)."""

    def __init__(self, message: str, pointer: str = ""):
        self.pointer = pointer
        super().__init__(f"{message} at '{pointer or '#'}'" if pointer is not None else message)


class CompileBudgetError(ConstrainError):
    """Compilation exceeded its time or size budget."""


class MatcherError(ConstrainError):
    """Misuse of a matcher: rollback beyond history, token id out of range, ..."""
