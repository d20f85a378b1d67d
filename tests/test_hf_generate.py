"""End-to-end generation with the real SmolLM2-135M-Instruct (embedded GGUF) under constraints.

Every finished output must parse and validate; greedy output must match a hand-written
reference loop token for token; assisted greedy must equal plain greedy.
"""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
jsonschema = pytest.importorskip("jsonschema")

import constrain
from constrain.generate import compile_constraint, format_prompt, tokenizer_info
from constrain.integrations.hf import GrammarLogitsProcessor

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.e2e import cache_kw  # noqa: E402  (the KV-cache keyword, shared with the benchmark)

pytestmark = pytest.mark.slow

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0, "maximum": 120}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
COLOR = {"type": "object", "properties": {"color": {"enum": ["red", "green", "blue"]}, "ok": {"type": "boolean"}},
         "required": ["color", "ok"], "additionalProperties": False}
DATE_RX = r"20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"


@pytest.fixture(scope="module")
def model_tok():
    model, tok = constrain.load_model(progress=False)
    return model, tok


@pytest.fixture(scope="module")
def info(model_tok):
    return tokenizer_info(model_tok[1], model_tok[0])


def _valid_schema(r, schema):
    if not r.finished:
        return
    value = json.loads(r.text)
    jsonschema.validate(value, schema)
    assert r.value == value and r.error is None


def test_greedy_schema(model_tok):
    model, tok = model_tok
    r = constrain.generate(model, tok, "Describe a person named Ann who is 31, as JSON.", schema=PERSON, max_new_tokens=40)
    assert r.finished, r
    _valid_schema(r, PERSON)
    assert set(r.value) == {"name", "age"}


def test_greedy_matches_reference_loop(model_tok, info):
    """generate() with the processor == a plain loop that masks the logits by hand."""
    model, tok = model_tok
    prompt = "Pick a color and say if it is ok, as JSON."
    n_new = 24
    r = constrain.generate(model, tok, prompt, schema=COLOR, max_new_tokens=n_new)
    g = compile_constraint(info, schema=COLOR)
    m = g.matcher()
    text, _ = format_prompt(tok, prompt)
    ids = tok(text, return_tensors="pt", add_special_tokens=False).input_ids
    out, past = [], None
    kw = cache_kw(model)
    mask = info.allocate_bitmask()
    stops = set(info.stop_token_ids)
    with torch.no_grad():
        cur = ids
        for _ in range(n_new):
            o = model(input_ids=cur, use_cache=True, **{kw: past})
            past = getattr(o, kw)
            logits = o.logits[0, -1].float().numpy().copy()
            m.fill_bitmask(mask)
            allowed = np.zeros(logits.shape[0], dtype=bool)
            for t in info.bitmask_to_ids(mask):  # by hand: the list of allowed ids
                allowed[t] = True
            logits[~allowed] = -np.inf
            t = int(np.argmax(logits))
            assert m.advance(t)
            if t in stops:
                break
            out.append(t)
            cur = torch.tensor([[t]])
    assert r.token_ids == out
    assert r.finished == m.is_terminated()


def test_sampling_num_return_sequences(model_tok):
    model, tok = model_tok
    torch.manual_seed(1234)
    rs = constrain.generate(model, tok, "Give a person as JSON.", schema=PERSON, max_new_tokens=32, sampler="sample",
                            temperature=0.7, top_p=0.95, top_k=50, num_return_sequences=3)
    assert len(rs) == 3
    assert sum(r.finished for r in rs) >= 1
    for r in rs:
        _valid_schema(r, PERSON)


def test_beam_search_three_beams(model_tok):
    model, tok = model_tok
    rs = constrain.generate(model, tok, "When was the first moon landing? Answer with a date.", regex=DATE_RX,
                            max_new_tokens=12, num_beams=3, num_return_sequences=3)
    assert len(rs) == 3
    assert all(r.finished for r in rs)
    for r in rs:
        assert re.fullmatch(DATE_RX, r.text), r.text
    assert len({r.text for r in rs}) == 3  # three distinct beams, all in the language


def test_batch_of_four_prompts(model_tok):
    model, tok = model_tok
    prompts = ["Describe Bob, 40 years old.", "A person as JSON please.", "Who is Alice (age 7)? JSON only.",
               "Invent a short person record with a very long introduction before it."]
    rs = constrain.generate(model, tok, prompts, schema=PERSON, max_new_tokens=32)
    assert len(rs) == 4
    assert sum(r.finished for r in rs) >= 3
    for r in rs:
        _valid_schema(r, PERSON)
    # left padding must not change a row's output: each prompt alone gives the same tokens
    alone = constrain.generate(model, tok, prompts[1], schema=PERSON, max_new_tokens=32)
    assert alone.token_ids == rs[1].token_ids


def test_assisted_generation(model_tok):
    model, tok = model_tok
    prompt = "Give a person as JSON."
    plain = constrain.generate(model, tok, prompt, schema=PERSON, max_new_tokens=32)
    assisted = constrain.generate(model, tok, prompt, schema=PERSON, max_new_tokens=32, assistant_model=model)
    _valid_schema(assisted, PERSON)
    assert assisted.token_ids == plain.token_ids  # assisted greedy decoding is exact


def test_grammar_and_choices(model_tok):
    model, tok = model_tok
    r = constrain.generate(model, tok, "Is water wet? Answer yes or no.", choices=["yes", "no"], max_new_tokens=5)
    assert r.finished and r.text in ("yes", "no") and r.value == r.text
    r = constrain.generate(model, tok, "A JSON list of two numbers.", grammar="json", max_new_tokens=30)
    if r.finished:
        json.loads(r.text)


def test_processor_directly_with_model_generate(model_tok, info):
    """The processor is a plain transformers LogitsProcessor (sampling, padded batch)."""
    model, tok = model_tok
    g = compile_constraint(info, regex=DATE_RX)
    texts = [format_prompt(tok, p)[0] for p in ("Date of today?", "A date in 2031, please, in ISO format.")]
    tok.padding_side = "left"
    enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    torch.manual_seed(0)
    out = model.generate(**enc, logits_processor=[GrammarLogitsProcessor(g, info, pad_token_id=tok.pad_token_id)],
                         do_sample=True, max_new_tokens=14, eos_token_id=list(info.stop_token_ids),
                         pad_token_id=tok.pad_token_id)
    for row in out[:, enc.input_ids.shape[1]:].tolist():
        ids = []
        for t in row:
            if t in info.stop_token_ids:
                break
            ids.append(t)
        assert len(ids) < len(row), "a date is 10 bytes: it must finish"
        assert re.fullmatch(DATE_RX, info.decode(ids).decode())


def test_monitors_refused(model_tok):
    model, tok = model_tok
    with pytest.raises(NotImplementedError):
        constrain.generate(model, tok, "hi", regex="a", monitors=[object()])
