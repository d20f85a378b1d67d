"""JSON Schema -> exact token masks.

Pipeline: parse/validate the schema text -> :mod:`.convert` (drafts 4..2020-12,
``$ref`` via :mod:`referencing`, keywords -> IR) -> :mod:`.ir` (``allOf`` merged
into true intersections, ``anyOf`` as unions, ``oneOf``/``not``/``if`` as
parallel groups) -> :mod:`.compile` (terminals: one regex per distinct string /
number language, literal keys; non-emptiness fixpoint) -> :mod:`.parser` (a
schema-specific pushdown parser; no LALR table is built, so compiling a schema
costs milliseconds) -> :func:`constrain.grammar.build_grammar` (masks).

Design choices and their cost:

* **Nondeterminism as sets of configurations.** Overlapping ``anyOf`` branches,
  ``oneOf``, ``not`` and ``if/then/else`` run in parallel over the same value;
  groups are decided when the value ends (exact accept/reject). Cost: states
  are sets; a schema that expands to more than ``max_configs`` alternatives
  raises :class:`CompileBudgetError`.
* **Value checks at lexeme ends.** What a regex cannot say (``multipleOf``
  other than powers of ten, several ``pattern``/``format`` on one string,
  ``pattern`` together with ``min/maxLength``, ``maxLength`` above 32 (a longer
  bounded repeat costs seconds in interegular), ``format: regex``,
  ``uniqueItems`` over non-literal items, ``oneOf``/``not`` decisions,
  ``maxContains``) is checked
  when the lexeme or value completes, including when a token completes it (the
  store marks tokens that end a lexeme exactly, e.g. on a closing quote, so the
  check runs at that token, not one later). Accept/reject is exact. A
  ``maxLength`` checked this way also caps open strings (per-token character
  counts, :mod:`constrain.store.charbounds`), so a string cannot run past it.
  *Documented bound* (tested as strict xfails): the other checks can allow a
  prefix that no completion satisfies (``["a","b","a`` under ``uniqueItems`` of
  ``pattern: ^[ab]$`` strings; ``"ab`` under ``pattern: ^a*b$`` with
  ``minLength: 3``). ``uniqueItems`` over literal items (string, boolean, null
  enums) is exact: a used literal is not a candidate, a comma needs an unused
  one, and ``minItems`` above the number of values makes the array empty.
  ``maxLength`` <= 32, ranges, integer/decimal steps, enums, formats, key sets,
  required/min/maxProperties and min/maxItems are in the regexes/candidates,
  so they never dead-end.
* **Batched value checks.** A key or string position can be closed by hundreds
  of distinct tokens (``abc",``), one lexeme value each. The engine hands the
  parser the lexeme's bytes so far and the exits' value endings once
  (``SchemaParser.feed_values_prefix``); the parser answers with the state most
  values reach plus the few exceptions: the schema's names that start with the
  key typed so far (a bisection over their ``json.dumps`` forms), names a
  ``patternProperties`` DFA accepts (its state after the prefix; the endings it
  accepts from that state are cached per exit set), and endings holding an
  escape (decoded one by one). So a key position costs a few feeds and one
  cached tail walk, not Python work per token or per value (Llama-3, a plain
  3-property object, 20 new instances: ~1.6 ms per in-string mask before; after,
  50 us per mask averaged over every position). Positions whose
  values differ by a check (``format``, long ``maxLength``, ``propertyNames``,
  remembered names) take the per-value path (``feed_values``: one feed per
  signature).
* **Length-keyed masks.** Inside a string whose only runtime check is its length
  (``maxLength`` above 32, ``minLength`` above 32, or either with one
  ``pattern``), masks are cached by the character count's class instead of the
  lexeme: below ``minLength`` the count itself, from there the room left up to
  the next count at which some token or closing token would no longer fit
  (``CharBounds.length_class``). Such terminals are keyed by their bounds, so
  every node using one has the same check, and the parser confirms per state
  that nothing else reads the value (no ``uniqueItems`` capture, not a key).
  Before, every character of such a string was a new mask (1-2 ms each). Array
  item indices and property counts stop counting past their schema's bounds, so
  the items after those bounds are one parser state.
  Ordinary additional property names are therefore not remembered where no
  constraint could tell a repeated key from the parsed object (which keeps the
  last value, validated like the first): a repeated *additional* key is then
  accepted. Keys the schema names, and all keys under ``minProperties`` or
  ``uniqueItems`` capture, stay tracked. Under ``oneOf``, ``not``, ``if`` or
  ``contains`` names are remembered and a repeat rejects the key for every
  branch (a branch dying alone could flip its group), except in an object where
  no frame under such a group can see an ordinary name (any value, no
  ``propertyNames``, no property counts; decided for all frames at its ``{``):
  remembering names there would make every key its own parser state.
* **Strings** are matched in their JSON encoding: raw characters and the short
  escapes (what ``json.dumps(..., ensure_ascii=False)`` writes, except for the
  rare control characters it spells ``\\u00XX``). ``\\uXXXX`` escapes are not
  generated/accepted: a smaller language, never a looser one.
  Keys are decoded before dispatch, so an escaped spelling of a known key is
  treated as that key (never as an "additional" one).
* **Numbers**: ranges are exact regexes (no exponent unless the bounds are
  sign-only); ``integer`` accepts ``1.0``.
* **Whitespace**: ``"flexible"`` (default) allows, around each structural
  character, what pretty printers write: up to 4 blanks, at most one line
  break, then up to ``max_whitespace`` (20) blanks of indentation. No runs of
  blank lines: a small model under a looser rule spends its budget on
  newlines (seen in the e2e bench). ``"compact"`` allows none; any other string
  is a custom regex; ``separators=(item, key)`` fixes the separators exactly
  (e.g. ``(", ", ": ")``).
* **Warm-up at compile time.** A mask is computed on the first contact with a parser
  context, and the first output through a schema meets most contexts for the first time
  (91% of the tokens over 1 ms on a 1,000-case MaskBench sample). ``compile_json_schema``
  therefore walks a witness (every known property in schema order, plain values, strings of
  a ``pattern`` from its DFA) through a matcher, greedily tokenised, within ``warm_up``
  seconds (default 0.25). Measured on that sample: TBM p99 1.37 -> 0.76 ms, tokens over 1 ms
  6,152 -> 2,418; TTFM p50 2.1 -> 16 ms, p99 183 -> 423 ms. The masks are the same either
  way (tested); only when they are computed changes.
* **Property order**: ``"schema"`` (default: known properties in schema
  order, optional ones may be skipped, additional ones anywhere after the
  required known ones; a small model then writes the schema's required keys
  instead of inventing others, as seen in the e2e bench) or ``"any"`` (what validation wants: MaskBench and the
  Test Suite benches use it); ``required`` is tracked in both. (With
  combinators each branch orders the properties it knows.)
"""
from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any

from ...errors import CompileBudgetError, ConstrainError, EmptyLanguageError, RegexError, SchemaError, \
    UnsupportedSchemaError
from ...parsing.base import GrammarSpec
from .compile import Compiler
from .convert import Converter
from .ir import Ctx, deref
from .parser import SchemaParser

__all__ = ["compile_json_schema", "schema_to_spec"]


def _load(schema):
    if isinstance(schema, (bytes, bytearray)):
        try:
            schema = schema.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise SchemaError(f"schema is not UTF-8 text: {e}", "") from e
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except ValueError as e:
            raise SchemaError(f"schema is not valid JSON: {e}", "") from e
    if not isinstance(schema, (dict, bool)):
        raise SchemaError(f"a schema must be a JSON object or boolean, got {type(schema).__name__}", "")
    return schema


def schema_to_spec(schema: Any, *, whitespace: str = "flexible", max_whitespace: int = 20,
                   separators: tuple[str, str] | None = None, property_order: str = "schema",
                   lenient: bool = False, registry=None, max_compile_seconds: float = 10.0,
                   max_configs: int = 20000, max_nodes: int = 200_000, draft: int | None = None,
                   format_assertion: bool = True) -> GrammarSpec:
    """Lower a schema to a :class:`GrammarSpec` (terminals + pushdown parser), without a tokenizer."""
    if property_order not in ("schema", "any"):
        raise ValueError("property_order must be 'schema' or 'any'")
    schema = _load(schema)
    deadline = time.monotonic() + max_compile_seconds
    ctx = Ctx(max_nodes=max_nodes, deadline=deadline)
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))
    try:
        conv = Converter(schema, registry=registry, lenient=lenient, ctx=ctx, draft=draft,
                         format_assertion=format_assertion)
        root = conv.convert()
        deref(root)
        comp = Compiler(ctx, whitespace=whitespace, max_ws=max_whitespace, separators=separators, deadline=deadline)
        comp._capture = conv.any_unique
        comp.finalize(root)
        empty = not comp.nonempty(root)
        parser = SchemaParser(root, comp, comp.value_terms, order=property_order,
                              max_configs=max_configs, capture=conv.any_unique)
        if conv.any_unique:
            parser.value_terminals = frozenset(range(len(comp.terminals)))
    except RecursionError as e:
        raise CompileBudgetError("schema is nested too deeply") from e
    except RegexError as e:
        if isinstance(e, ConstrainError) and "pattern" in str(e):
            raise UnsupportedSchemaError(str(e), "", "pattern") from e
        raise
    finally:
        sys.setrecursionlimit(old_limit)
    if time.monotonic() > deadline:
        raise CompileBudgetError(f"schema compilation exceeded max_compile_seconds={max_compile_seconds}")
    src = json.dumps(schema, sort_keys=True, default=str) + repr((whitespace, max_whitespace, separators,
                                                                 property_order, lenient))
    spec = GrammarSpec(comp.terminals, frozenset(), parser, name="json_schema",
                       source_hash=hashlib.sha256(src.encode()).hexdigest(),
                       extra={"relaxed": list(conv.relaxed), "empty": empty})
    return spec


def compile_json_schema(schema: Any, tok, **options):
    """Compile a JSON Schema (dict, bool, or JSON text) for tokenizer ``tok``.

    Options: ``whitespace`` ("flexible" | "compact" | regex), ``max_whitespace``,
    ``separators`` ((item, key) exact separators), ``property_order`` ("schema" |
    "any"), ``lenient`` (drop unsupported keywords; see ``g.relaxed``),
    ``registry`` (a :class:`referencing.Registry` for remote ``$ref``),
    ``max_compile_seconds``, ``max_configs``, ``max_nodes``, ``draft`` (4, 6, 7, 2019 or
    2020: the draft when the schema has no ``$schema``; default 2020), ``format_assertion``
    (default True: known formats are enforced; False: ``format`` is an annotation, as the
    2019-09/2020-12 specifications say by default), ``warm_up`` (seconds, default
    ``WARM_UP_SECONDS`` = 0.25, within what is left of ``max_compile_seconds``; 0 turns it
    off): after compiling, a likely instance of the
    schema (:mod:`.witness`) is walked through a matcher so the masks the first output needs
    are mostly cached before its first token (:mod:`constrain.warm`; what it did is in
    ``g.warm_stats``). It trades compile time for the slow first-contact masks.

    A schema that no value satisfies (``false``, ``{"enum": []}``) compiles to a grammar
    that accepts nothing (``g.spec.extra["empty"]``); its matcher allows no token.
    Raises :class:`SchemaError`, :class:`UnsupportedSchemaError`,
    :class:`CompileBudgetError`, :class:`EmptyLanguageError`.
    """
    from ...grammar import CompileOptions, build_grammar

    from ...budget import time_limit

    warm = options.pop("warm_up", WARM_UP_SECONDS)
    t0 = time.monotonic()
    budget = float(options.get("max_compile_seconds", 10.0))
    # the limit also interrupts a single long call (e.g. interegular on a hostile pattern)
    with time_limit(budget, f"compiling the schema (max_compile_seconds={budget:g})"):
        spec = schema_to_spec(schema, **options)
        left = max(0.05, budget - (time.monotonic() - t0))
        if len(_DFA_CACHE) > 4096:
            _DFA_CACHE.clear()
        g = build_grammar(spec, tok, CompileOptions(max_compile_seconds=left), _DFA_CACHE)
    # the warm-up stays within what is left of max_compile_seconds (plus at most one mask)
    warm = min(float(warm or 0), max(0.0, budget - (time.monotonic() - t0)))
    g.warm_stats = _warm(g, warm) if warm > 0 and not spec.extra["empty"] else None
    return g


#: default time budget of the compile-time warm-up (``warm_up=``), in seconds
WARM_UP_SECONDS = 0.25


def _warm(g, budget: float) -> dict | None:
    """Walk the schema's witness through a matcher (see :mod:`constrain.warm`)."""
    from ...warm import warm_up
    from .witness import string_sampler, witness

    p = g.parser
    found, value = witness(p.root, p.info, string_sampler(g))
    if not found:
        return None
    try:
        text = json.dumps(value, ensure_ascii=False).encode()
    except (TypeError, ValueError):  # pragma: no cover - IR values are JSON values
        return None
    return warm_up(g, [text], budget)


# terminal content -> byte DFA, shared by the schemas compiled in this process
_DFA_CACHE: dict = {}
