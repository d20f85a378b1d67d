"""constrain: exact, fast grammar-constrained generation.

The data flows grammar -> compiler -> mask store -> matcher -> processor -> integration:

    tok = constrain.TokenizerInfo.from_huggingface(hf_tokenizer)
    g = constrain.compile_json_schema(schema, tok)      # or compile_lark / compile_grammar / compile_regex
    m = g.matcher()
    mask = tok.allocate_bitmask(); m.fill_bitmask(mask); m.advance(token_id)
"""
from __future__ import annotations

from .errors import (
    CompileBudgetError,
    ConstrainError,
    EmptyLanguageError,
    GrammarError,
    MatcherError,
    RegexError,
    SchemaError,
    TokenizerError,
    UnsupportedSchemaError,
)
from .tokenizer import TokenizerInfo

__version__ = "0.1.0"

_LAZY = {
    "compile_lark": ("constrain.frontends.lark_frontend", "compile_lark"),
    "compile_grammar": ("constrain.frontends.lark_frontend", "compile_grammar"),
    "load_grammar": ("constrain.frontends.lark_frontend", "load_grammar"),
    "compile_regex": ("constrain.frontends.regex_frontend", "compile_regex"),
    "compile_choice": ("constrain.frontends.regex_frontend", "compile_choice"),
    "compile_json_schema": ("constrain.frontends.json_schema", "compile_json_schema"),
    "CompiledGrammar": ("constrain.grammar", "CompiledGrammar"),
    "Matcher": ("constrain.matcher", "Matcher"),
    "load_model": ("constrain.model", "load_model"),
    "generate": ("constrain.generate", "generate"),
    "Result": ("constrain.generate", "Result"),
}


def __getattr__(name: str):
    # Heavy parts (lark, torch, transformers) load on first use, so `import constrain` stays fast.
    if name in _LAZY:
        import importlib

        mod, attr = _LAZY[name]
        value = getattr(importlib.import_module(mod), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'constrain' has no attribute {name!r}")


__all__ = [
    "TokenizerInfo",
    "ConstrainError",
    "TokenizerError",
    "GrammarError",
    "RegexError",
    "EmptyLanguageError",
    "UnsupportedSchemaError",
    "SchemaError",
    "CompileBudgetError",
    "MatcherError",
    *_LAZY,
]
