"""Lark EBNF front end: ``compile_lark``, ``compile_grammar`` and ``load_grammar``.

lark does the grammar work it does well: parsing the EBNF, ``%import``,
``%ignore``, rule inlining and the LALR(1) table. We take its terminals
(lowered to byte DFAs) and its table (driven by our incremental parser).
Lexing follows lark's contextual lexer: in each LR state the candidates are
the action-table keys plus the ignored terminals; the longest match wins and
keywords beat identifiers on a tie (lark's "unless" rule).

Grammars that ``%declare`` ``_INDENT``/``_DEDENT`` and define ``_NEWLINE``
get the Python-style indentation post-lexer.

The compiled form (terminals, DFAs, table) is cached on disk, keyed by the
grammar text's hash, so a second process skips lark's table build.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import re
import tempfile
from importlib import resources
from pathlib import Path

from ..errors import CompileBudgetError, EmptyLanguageError, GrammarError, RegexError
from ..grammar import CompileOptions, CompiledGrammar, build_grammar
from ..parsing.base import GrammarSpec, Terminal
from ..parsing.lalr import LALRParser
from ..store.maskstore import cache_dir
from ..tokenizer import TokenizerInfo

CACHE_VERSION = 10
SHIPPED = ("json", "python", "java", "go", "sql")


def load_grammar(name: str) -> str:
    """The Lark source of a shipped grammar (see ``grammars/``)."""
    if not re.fullmatch(r"[A-Za-z0-9_]+", name or ""):
        raise GrammarError(f"unknown grammar {name!r}")
    try:
        return resources.files("constrain.grammars").joinpath(f"{name}.lark").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        pass
    path = Path(__file__).resolve().parents[2] / "grammars" / f"{name}.lark"
    if path.exists():
        return path.read_text(encoding="utf-8")
    raise GrammarError(f"unknown grammar {name!r}; shipped grammars: {', '.join(available_grammars())}")


def available_grammars() -> list[str]:
    names: set[str] = set()
    try:
        names |= {p.name[:-5] for p in resources.files("constrain.grammars").iterdir() if p.name.endswith(".lark")}
    except (ModuleNotFoundError, OSError):
        pass
    d = Path(__file__).resolve().parents[2] / "grammars"
    if d.is_dir():
        names |= {p.stem for p in d.glob("*.lark")}
    return sorted(names)


POSTLEX = ("python-indent", "go-semicolons")
_SHIPPED_POSTLEX = {"go": "go-semicolons"}
_DIRECTIVE = re.compile(r"^//\s*constrain:\s*postlex\s*=\s*([\w-]+)", re.M)


def compile_grammar(name: str, tok: TokenizerInfo, **options) -> CompiledGrammar:
    """Compile a shipped grammar by name (``json``, ``python``, ``java``, ``go``, ``sql``)."""
    options.setdefault("postlex", _SHIPPED_POSTLEX.get(name))
    return compile_lark(load_grammar(name), tok, name=name, **options)


def compile_lark(text: str, tok: TokenizerInfo, start: str = "start", name: str = "lark",
                 max_compile_seconds: float = 60.0, max_dfa_states: int = 20000,
                 use_cache: bool = True, postlex: str | None = None) -> CompiledGrammar:
    """Compile a Lark grammar for ``tok``. Raises :class:`GrammarError` (with the rule/terminal and line).

    ``postlex``: ``"python-indent"`` (INDENT/DEDENT from ``_NEWLINE``; chosen
    automatically when the grammar ``%declare``-s ``_INDENT``/``_DEDENT``) or
    ``"go-semicolons"`` (Go's automatic semicolons from ``_NL``). A grammar may
    also name it in a comment: ``// constrain: postlex=go-semicolons``.
    """
    if not isinstance(text, str):
        raise GrammarError(f"grammar must be a string, got {type(text).__name__}")
    if postlex is None:
        m = _DIRECTIVE.search(text)
        postlex = m.group(1) if m else None
    if postlex is not None and postlex not in POSTLEX:
        raise GrammarError(f"unknown postlex {postlex!r}; expected one of {', '.join(POSTLEX)}")
    opts = CompileOptions(max_compile_seconds=max_compile_seconds, max_dfa_states=max_dfa_states)
    key = hashlib.sha256(f"{CACHE_VERSION}|{_lark_version()}|{start}|{max_dfa_states}|{postlex}|{text}".encode()).hexdigest()[:32]
    cached = _load_cached(key) if use_cache else None
    if cached is not None:
        spec, dfas = cached
        return CompiledGrammar(spec, tok, dfas, opts)
    spec = _lark_to_spec(text, start, name, postlex)
    spec.source_hash = key
    dfa_cache: dict = {}
    try:
        g = build_grammar(spec, tok, opts, dfa_cache)
    except RegexError as e:
        raise RegexError(str(e), _terminal_line(text, e.where)) from e
    if use_cache:
        _save_cached(key, (spec, g.lexer.dfas))
    return g


# lark's common.ESCAPED_STRING uses a lookbehind; this is the same language without it
# (a quote, then non-quote/non-backslash characters or escape pairs, no newline, a quote).
_REGULAR_EQUIVALENTS = {
    '".*?(?<!\\\\)(\\\\\\\\)*?"': r'"([^"\\\n]|\\[^\n])*"',
}

_LARK_VERSION: list[str] = []


def _lark_version() -> str:
    """lark's version without importing lark or importlib.metadata (together ~0.15 s of a
    cached compile): read from the package's ``__init__.py``, a file that states it."""
    if not _LARK_VERSION:
        import importlib.util

        version = None
        spec = importlib.util.find_spec("lark")
        if spec is not None and spec.origin:
            try:
                m = re.search(r"""^__version__(?:\s*:\s*str)?\s*=\s*["']([^"']+)["']""",
                              Path(spec.origin).read_text(encoding="utf-8"), re.M)
                version = m.group(1) if m else None
            except OSError:  # pragma: no cover
                version = None
        if version is None:  # pragma: no cover
            import lark

            version = lark.__version__
        _LARK_VERSION.append(version)
    return _LARK_VERSION[0]


def _lark_to_spec(text: str, start: str, name: str, postlex: str | None = None) -> GrammarSpec:
    import lark
    from lark.exceptions import GrammarError as LarkGrammarError
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        lk = lark.Lark(text, parser="lalr", lexer="contextual", start=start)
    except UnexpectedInput as e:
        raise GrammarError(f"syntax error in grammar: {str(e).strip().splitlines()[0]}",
                           f"line {getattr(e, 'line', '?')}, column {getattr(e, 'column', '?')}") from e
    except LarkGrammarError as e:
        msg = str(e).strip()
        raise GrammarError(f"invalid grammar: {msg.splitlines()[0]}", _where_from_lark(text, msg)) from e
    except LarkError as e:
        msg = str(e).strip()
        raise GrammarError(f"invalid grammar: {msg.splitlines()[0]}", _where_from_lark(text, msg)) from e
    except (KeyError, ValueError, AssertionError, RecursionError) as e:
        raise GrammarError(f"invalid grammar: {type(e).__name__}: {e}") from e

    table = lk.parser.parser.parser.parse_table
    nonterminals = {str(r.origin.name) for r in lk.rules}
    terminals: list[Terminal] = []
    index: dict[str, int] = {}
    for td in lk.terminals:
        pat = td.pattern
        literal = None
        if pat.type == "str" and not pat.flags:
            literal = pat.value.encode("utf-8")
        rx = _REGULAR_EQUIVALENTS.get(pat.to_regexp(), pat.to_regexp())
        name = str(td.name)
        index[name] = len(terminals)
        terminals.append(Terminal(name, str(rx), int(td.priority), literal, _terminal_line(text, name)))
    for acts in table.states.values():
        for sym in acts:
            sym = str(sym)
            if sym not in nonterminals and sym not in index and sym != "$END":
                index[sym] = len(terminals)
                terminals.append(Terminal(sym, None, 0, None, _terminal_line(text, sym)))
    _check_productive(lk, start, terminals, index)
    parser = LALRParser(table, index, start)
    ignore = frozenset(index[str(n)] for n in lk.ignore_tokens if str(n) in index)
    names = [t.name for t in terminals]
    if postlex is None and "_INDENT" in index and "_DEDENT" in index and terminals[index["_INDENT"]].regex is None:
        postlex = "python-indent"
    if postlex == "python-indent":
        from ..parsing.indenter import Indenter

        if "_NEWLINE" not in index:
            raise GrammarError("postlex python-indent needs a _NEWLINE terminal")
        parser = Indenter(parser, names)
    elif postlex == "go-semicolons":
        from ..parsing.indenter import SemicolonInserter

        if "_NL" not in index:
            raise GrammarError("postlex go-semicolons needs a _NL terminal")
        parser = SemicolonInserter(parser, names)
    return GrammarSpec(terminals, ignore, parser, name)


def _check_productive(lk, start: str, terminals: list[Terminal], index: dict[str, int]) -> None:
    """Raise EmptyLanguageError if the start symbol derives no terminal string."""
    productive: set[str] = set(index)
    rules = [(r.origin.name, [s.name for s in r.expansion]) for r in lk.rules]
    changed = True
    while changed:
        changed = False
        for origin, exp in rules:
            if origin not in productive and all(s in productive for s in exp):
                productive.add(origin)
                changed = True
    if start not in productive:
        raise EmptyLanguageError(f"rule '{start}' derives no finite string: the language is empty", start)


def _terminal_line(text: str, name: str | None) -> int | None:
    if not name:
        return None
    m = re.search(rf"^[ \t]*{re.escape(name)}(\.-?\d+)?[ \t]*:", text, re.M)
    return text.count("\n", 0, m.start()) + 1 if m else None


def _where_from_lark(text: str, msg: str) -> str | None:
    m = re.search(r"[Ll]ine (\d+)", msg)
    if m:
        return f"line {m.group(1)}"
    m = re.search(r"(?:rule|Rule|NonTerminal\(Token\('RULE', ')'?([A-Za-z_][A-Za-z0-9_]*)", msg)
    if m:
        rule = m.group(1)
        mm = re.search(rf"\b{re.escape(rule)}\b", text)
        line = text.count("\n", 0, mm.start()) + 1 if mm else None
        return f"rule {rule}" + (f", line {line}" if line else "")
    return None


def _cache_path(key: str) -> Path | None:
    root = cache_dir()
    return root / "grammars" / f"{key}.pkl" if root else None


def _load_cached(key: str):
    path = _cache_path(key)
    if path is None or not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            tag, spec, dfas = pickle.load(f)
        if tag != key or not isinstance(spec, GrammarSpec) or len(dfas) != len(spec.terminals):
            raise ValueError("stale")
        return spec, dfas
    except Exception:  # corrupt or stale: rebuild
        try:
            path.unlink()
        except OSError:
            pass
        return None


def _save_cached(key: str, value) -> None:
    path = _cache_path(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump((key, *value), f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        pass
