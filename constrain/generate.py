"""High-level constrained generation: :func:`generate` and :class:`Result`.

    model, tok = constrain.load_model()
    r = constrain.generate(model, tok, "Give me a user", schema={"type": "object", ...})
    r.text, r.value, r.finished
"""
from __future__ import annotations

import importlib.util
import json
import re
import sys
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .errors import ConstrainError
from .tokenizer import TokenizerInfo


class UnsupportedFeatureError(ConstrainError, NotImplementedError):
    """A requested feature is not implemented (it is refused, never silently ignored)."""


def _ensure_integrations() -> None:
    """Make ``constrain.integrations`` importable from a source checkout.

    A regular install maps the top-level ``integrations/`` directory to
    ``constrain.integrations``; setuptools' editable installs do not map
    sub-packages that live outside ``constrain/``, so load it from the tree.
    """
    if "constrain.integrations" in sys.modules or importlib.util.find_spec("constrain.integrations") is not None:
        return
    root = Path(__file__).resolve().parent.parent / "integrations"
    spec = importlib.util.spec_from_file_location(
        "constrain.integrations", root / "__init__.py", submodule_search_locations=[str(root)])
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError("constrain.integrations is not installed")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["constrain.integrations"] = mod
    spec.loader.exec_module(mod)


_ensure_integrations()


@dataclass
class Result:
    """One generated output.

    ``text``: the generated text (stop token excluded). ``token_ids``: the generated
    ids (stop token and padding excluded). ``finished``: True if a stop token ended
    it, False if ``max_new_tokens`` cut it. ``value``: for a schema, the parsed JSON
    once it validated against the schema; for choices/regex/grammar, the text when
    finished; ``None`` otherwise, with the reason in ``error``.
    """

    text: str
    token_ids: list[int]
    value: Any = None
    finished: bool = False
    error: str | None = None
    stats: dict = field(default_factory=dict, repr=False)


# ---------------------------------------------------------------------- caches
_TOK_CACHE: "weakref.WeakKeyDictionary[Any, dict[int, TokenizerInfo]]" = weakref.WeakKeyDictionary()
_GRAMMAR_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()


def tokenizer_info(hf_tokenizer, model=None) -> TokenizerInfo:
    """The (cached) :class:`TokenizerInfo` of a HF tokenizer, sized to the model's logits width."""
    width = None
    if model is not None:
        width = getattr(getattr(model, "config", None), "vocab_size", None)
    try:
        per = _TOK_CACHE.setdefault(hf_tokenizer, {})
    except TypeError:
        per = {}
    info = per.get(width)
    if info is None:
        n = len(hf_tokenizer)
        info = per[width] = TokenizerInfo.from_huggingface(hf_tokenizer, vocab_size=max(width or n, n))
    return info


def _choices_regex(choices: Sequence[str]) -> str:
    from .frontends.regex_frontend import escape

    return "(" + "|".join(escape(c) for c in choices) + ")"


def compile_constraint(tok: TokenizerInfo, *, schema=None, grammar=None, regex=None, choices=None):
    """Compile the one constraint given (or return None for unconstrained); results are cached."""
    given = [k for k, v in (("schema", schema), ("grammar", grammar), ("regex", regex), ("choices", choices)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"give at most one of schema/grammar/regex/choices, got {', '.join(given)}")
    if not given:
        return None
    import constrain

    kind = given[0]
    if kind == "schema":
        if isinstance(schema, (str, bytes)):
            from .errors import SchemaError

            try:
                schema = json.loads(schema)
            except ValueError as e:
                raise SchemaError(f"schema is not valid JSON: {e}", "") from e
        spec = json.dumps(schema, sort_keys=True)
    elif kind == "choices":
        choices = [str(c) for c in choices]
        if not choices:
            raise ValueError("choices must not be empty")
        spec = json.dumps(choices)
    else:
        spec = grammar if kind == "grammar" else regex
        if not isinstance(spec, str):
            raise TypeError(f"{kind} must be a string")
    key = (tok.content_hash, kind, spec)
    g = _GRAMMAR_CACHE.get(key)
    if g is not None:
        _GRAMMAR_CACHE.move_to_end(key)
        return g
    if kind == "schema":
        g = constrain.compile_json_schema(schema, tok)
    elif kind == "grammar":
        # a shipped grammar name, else Lark source text
        g = constrain.compile_grammar(grammar, tok) if re.fullmatch(r"[A-Za-z0-9_]+", grammar) else constrain.compile_lark(grammar, tok)
    elif kind == "regex":
        g = constrain.compile_regex(regex, tok)
    else:
        try:
            compile_choice = constrain.compile_choice
        except AttributeError:
            g = constrain.compile_regex(_choices_regex(choices), tok)
        else:
            g = compile_choice(choices, tok)
    _GRAMMAR_CACHE[key] = g
    if len(_GRAMMAR_CACHE) > 64:
        _GRAMMAR_CACHE.popitem(last=False)
    return g


def format_prompt(tokenizer, prompt: str, raw_prompt: bool = False) -> tuple[str, bool]:
    """The prompt text and whether the tokenizer should add special tokens (no, after a chat template)."""
    if not raw_prompt and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True)
        return text, False
    return prompt, True


def _check_monitors(monitors) -> None:
    if monitors:
        raise UnsupportedFeatureError(
            "monitors are not implemented in this version of constrain; pass monitors=() "
            f"(got {len(list(monitors))} monitor(s))")


def generate(model, tokenizer, prompt: str | Sequence[str], *, schema=None, grammar: str | None = None,
             regex: str | None = None, choices: Sequence[str] | None = None, max_new_tokens: int = 256,
             sampler: str = "greedy", monitors: Sequence[Any] = (), raw_prompt: bool = False,
             **gen_kwargs) -> Result | list[Result]:
    """Generate with ``model.generate`` under one constraint.

    Exactly one of ``schema`` (dict/bool or JSON text), ``grammar`` (a shipped grammar
    name such as ``"json"`` or ``"python"``, or Lark source), ``regex`` or ``choices``
    may be given; none means unconstrained. ``sampler`` is ``"greedy"`` or
    ``"sample"`` (pass ``temperature``/``top_p``/``top_k`` as keyword arguments);
    other keyword arguments go to ``model.generate`` (``num_beams``,
    ``num_return_sequences``, ``assistant_model``, ...). The chat template is
    applied unless ``raw_prompt``. ``monitors`` (semantic checks during decoding) are
    not implemented yet: a non-empty value raises :class:`UnsupportedFeatureError`.

    A single prompt with one return sequence gives a :class:`Result`; a list of
    prompts or ``num_return_sequences > 1`` gives a list (prompt-major).
    """
    import torch
    from transformers import LogitsProcessorList

    from .integrations.hf import GrammarLogitsProcessor

    _check_monitors(monitors)
    if sampler not in ("greedy", "sample"):
        raise ValueError(f"sampler must be 'greedy' or 'sample', got {sampler!r}")
    tok = tokenizer_info(tokenizer, model)
    g = compile_constraint(tok, schema=schema, grammar=grammar, regex=regex, choices=choices)
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise ValueError("no prompt given")
    texts, add_special = zip(*(format_prompt(tokenizer, p, raw_prompt) for p in prompts))
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        enc = tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=add_special[0])
    finally:
        tokenizer.padding_side = side
    device = getattr(model, "device", torch.device("cpu"))
    input_ids = enc["input_ids"].to(device)
    attention_mask = enc["attention_mask"].to(device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tok.stop_token_ids[0]
    processors = LogitsProcessorList(gen_kwargs.pop("logits_processor", None) or [])
    proc = None
    if g is not None:
        proc = GrammarLogitsProcessor(g, tok, pad_token_id=pad_id)
        processors.append(proc)
    kw = dict(max_new_tokens=max_new_tokens, do_sample=(sampler == "sample"), pad_token_id=pad_id,
              eos_token_id=list(tok.stop_token_ids))
    if sampler == "greedy":
        kw.update(temperature=None, top_p=None, top_k=None)
    kw.update(gen_kwargs)
    with torch.no_grad():
        out = model.generate(input_ids=input_ids, attention_mask=attention_mask, logits_processor=processors, **kw)
    seqs = out.sequences if hasattr(out, "sequences") else out
    gen = seqs[:, input_ids.shape[1]:].tolist()
    stops = set(tok.stop_token_ids)
    results = []
    for r, row in enumerate(gen):
        ids, finished, stop = [], False, None
        for t in row:
            if t in stops:
                finished, stop = True, int(t)
                break
            ids.append(int(t))
        res = _make_result(tok, ids, finished, schema, g is not None, proc)
        if proc is not None and finished:
            m = proc.matcher_for(ids + [stop], r)
            if m is None or not m.is_terminated():  # a forced stop after a dead end: not a real finish
                res.finished, res.value = False, None
                res.error = ("the output reached a prefix with no valid continuation (possible only under the "
                             "documented value-end bound, README 'JSON Schema'; otherwise please report)")
        results.append(res)
    if isinstance(prompt, str) and len(results) == 1:
        return results[0]
    return results


def _make_result(tok: TokenizerInfo, ids: list[int], finished: bool, schema, constrained: bool, proc) -> Result:
    text = tok.decode(ids).decode("utf-8", errors="replace")
    r = Result(text=text, token_ids=ids, finished=finished)
    if proc is not None:
        r.stats = dict(proc.stats)
    if not finished:
        r.error = "cut by max_new_tokens"
        return r
    if schema is not None:
        import jsonschema

        sch = json.loads(schema) if isinstance(schema, (str, bytes)) else schema
        try:
            value = json.loads(text)
        except ValueError as e:
            r.error = f"output is not JSON: {e}"
            return r
        try:
            jsonschema.validate(value, sch)
        except jsonschema.ValidationError as e:
            r.error = f"output does not validate: {e.message}"
            return r
        except jsonschema.SchemaError as e:
            r.error = f"schema is invalid for jsonschema: {e.message}"
            return r
        r.value = value
    elif constrained:
        r.value = text
    return r


class _CallableModule(type(sys)):
    """``constrain.generate`` is both this module and the function: once the module has been
    imported (``from constrain.generate import Result``) the package attribute is the module,
    so calling it must still mean :func:`generate`."""

    def __call__(self, *args, **kwargs):
        return generate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
