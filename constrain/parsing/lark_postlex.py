"""lark post-lexers with exactly the semantics of :mod:`constrain.parsing.indenter`'s
wrappers, for building reference ``lark.Lark(..., postlex=...)`` parsers (tests, benchmarks)."""
from __future__ import annotations

from typing import Iterator

from lark.indenter import DedentError
from lark.indenter import Indenter as _LarkIndenter
from lark.lark import PostLex
from lark.lexer import Token

from .indenter import GO_SEMICOLON_TRIGGERS, indentation_of

__all__ = ["PythonPostLex", "GoPostLex"]

class PythonPostLex(_LarkIndenter):
    """lark post-lexer with exactly :class:`Indenter`'s semantics, for python.lark."""

    NL_type = "_NEWLINE"
    OPEN_PAREN_types = ["LPAR", "LSQB", "LBRACE"]
    CLOSE_PAREN_types = ["RPAR", "RSQB", "RBRACE"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def handle_NL(self, token: Token) -> Iterator[Token]:
        if self.paren_level > 0:
            return
        yield token
        indent = indentation_of(str(token), self.tab_len)
        if indent is None or indent == self.indent_level[-1]:
            return
        if indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, "", token)
            return
        while indent < self.indent_level[-1]:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, "", token)
        if indent != self.indent_level[-1]:
            raise DedentError(f"unindent to column {indent} does not match any outer level")

    def _process(self, stream):
        at_line_start = True
        token = None
        for token in stream:
            if token.type == self.NL_type:
                if self.paren_level == 0:
                    at_line_start = True
                yield from self.handle_NL(token)
            else:
                at_line_start = False
                yield token
            if token.type in self.OPEN_PAREN_types:
                self.paren_level += 1
            elif token.type in self.CLOSE_PAREN_types:
                self.paren_level -= 1
                if self.paren_level < 0:
                    raise DedentError("unbalanced closing bracket")
        if self.paren_level > 0:
            return  # the parser reports the unclosed bracket
        if not at_line_start:
            nl = (Token.new_borrow_pos(self.NL_type, "\n", token) if token is not None
                  else Token(self.NL_type, "\n"))
            yield nl
        while len(self.indent_level) > 1:
            self.indent_level.pop()
            yield (Token.new_borrow_pos(self.DEDENT_type, "", token) if token is not None
                   else Token(self.DEDENT_type, ""))


class GoPostLex(PostLex):
    """lark post-lexer with exactly :class:`SemicolonInserter`'s semantics, for go.lark."""

    NL_type = "_NL"
    triggers = frozenset(GO_SEMICOLON_TRIGGERS)
    always_accept = ("_NL",)

    def process(self, stream):
        trig = False
        token = None
        for token in stream:
            if token.type == self.NL_type:
                if trig:
                    yield token
                    trig = False
                continue
            yield token
            trig = token.type in self.triggers
        if trig:
            yield Token.new_borrow_pos(self.NL_type, "\n", token)
