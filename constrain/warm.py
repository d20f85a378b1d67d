"""Compile-time warm-up: walk a likely output through a matcher so its masks are cached early.

A mask is computed on first contact with a lexer state and the parser context it reads, then
cached (:meth:`CompiledGrammar.mask`). The first output through a grammar meets most contexts
for the first time, so that is where the slow masks are: on a 1,000-case MaskBench sample,
91% of the tokens over 1 ms were in each schema's first instance. Walking a likely text (for a
JSON Schema, the witness of :mod:`constrain.frontends.json_schema.witness`) through a matcher
right after compiling computes those masks before the first token is asked for; every later
output that meets the same contexts finds them cached.

Tokens are chosen greedily, the longest allowed token spelling the next bytes of the text, so the
walk visits the states a tokenizer's own split mostly visits. It stops where the text leaves the
language and once its time budget is spent (checked between tokens: a single mask is never
interrupted, since the caches are only ever filled whole). The walk uses the ordinary matcher,
so it changes which masks are cached, never what a mask is.

Cost: compile time. TTFM grows by the walk, at most ``budget_s`` plus one mask.
"""
from __future__ import annotations

import time

from .errors import ConstrainError

#: the longest token tried at each step (longer tokens are whitespace runs, not in witnesses)
MAX_TOKEN_BYTES = 48


def warm_up(grammar, texts: list[bytes], budget_s: float) -> dict:
    """Walk each text through a fresh matcher of ``grammar``, filling every mask on the way.

    Returns what was done: ``budget_s`` (the budget it had), ``tokens`` walked, ``texts``
    finished (walked to the end and accepting), ``seconds``, and ``stopped``: None,
    ``"budget"``, ``"left the language"`` (at byte ``at`` of the text), or the error that ended
    a walk (an error here is the grammar's: the same state raises it again when an output
    reaches it)."""
    tok = grammar.tok
    by_bytes = tok.ids_by_bytes
    t0 = time.monotonic()
    deadline = t0 + budget_s
    stats = {"tokens": 0, "texts": 0, "seconds": 0.0, "budget_s": budget_s, "stopped": None, "at": None}
    mask = tok.allocate_bitmask()
    try:
        for text in texts:
            m = grammar.matcher()
            pos, n = 0, len(text)
            while pos < n:
                if time.monotonic() > deadline:
                    stats["stopped"] = "budget"
                    return stats
                m.fill_bitmask(mask)
                for size in range(min(MAX_TOKEN_BYTES, n - pos), 0, -1):
                    t = by_bytes.get(text[pos:pos + size])
                    if t is not None and (int(mask[t >> 5]) >> (t & 31)) & 1:
                        break
                else:
                    stats["stopped"], stats["at"] = "left the language", pos
                    break
                m.advance(t)
                pos += size
                stats["tokens"] += 1
            else:
                m.fill_bitmask(mask)  # the end's mask (stop tokens) too
                stats["texts"] += bool(m.is_accepting())
    except ConstrainError as e:
        stats["stopped"] = f"{type(e).__name__}: {e}"
    finally:
        stats["seconds"] = time.monotonic() - t0
    return stats
