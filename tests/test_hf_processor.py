"""GrammarLogitsProcessor on a toy vocabulary: prefix-keyed state, beams, finished rows, candidates."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import constrain
import constrain.generate  # noqa: F401  (makes constrain.integrations importable from a checkout)
from constrain.integrations.hf import GrammarLogitsProcessor

VOCAB = [b"a", b"b", b"ab", b"ba", b"c", b"aa", b"<|end|>", b"x", b"bb"]
EOS = 6
PAD = 8  # a pad id that is also a normal token: only allowed in finished rows as padding
WIDTH = 40  # logits wider than the tokenizer


@pytest.fixture(scope="module")
def setup():
    tok = constrain.TokenizerInfo.from_vocab([None if i == EOS else b for i, b in enumerate(VOCAB)], EOS)
    g = constrain.compile_regex(r"(ab|ba)+c?", tok)
    return tok, g


def _expected_allowed(g, tok, gen):
    m = g.matcher()
    for t in gen:
        if m.is_terminated():
            break
        assert m.advance(t), gen
    if m.is_terminated():
        return {EOS, PAD}
    mask = tok.allocate_bitmask()
    m.fill_bitmask(mask)
    return set(tok.bitmask_to_ids(mask).tolist())


def _allowed(scores_row):
    return set(torch.isfinite(scores_row).nonzero().flatten().tolist())


def _call(proc, rows, prompt_len=3):
    ids = torch.tensor([[7] * prompt_len + r for r in rows], dtype=torch.long)
    return proc(ids, torch.zeros(len(rows), WIDTH))


def test_masks_follow_prefixes_under_reordering(setup):
    tok, g = setup
    proc = GrammarLogitsProcessor(g, tok, pad_token_id=PAD)
    steps = [
        [[], [], []],
        [[0], [1], [2]],            # a, b, ab
        [[2, 1], [0, 1], [1, 0]],   # beams reordered: row 0 now extends the old row 2
        [[1, 0, 4], [2, 3, 2], [0, 1, 1]],
        [[1, 0, 4, EOS], [2, 3, 2, 4], [2, 3, 4, EOS]],
        [[1, 0, 4, EOS, PAD], [2, 3, 2, 4, EOS], [2, 3, 4, EOS, PAD]],
    ]
    for rows in steps:
        out = _call(proc, rows)
        for r, gen in enumerate(rows):
            exp = _expected_allowed(g, tok, gen)
            assert _allowed(out[r]) == exp, (rows, r)
            assert not (_allowed(out[r]) & set(range(len(VOCAB), WIDTH)))
    assert proc.stats["rejected_prefixes"] == 0


def test_stop_only_when_complete(setup):
    tok, g = setup
    proc = GrammarLogitsProcessor(g, tok)
    out = _call(proc, [[]])
    assert EOS not in _allowed(out[0])
    out = _call(proc, [[0]])
    assert EOS not in _allowed(out[0])
    out = _call(proc, [[0, 1]])
    assert EOS in _allowed(out[0])
    out = _call(proc, [[0, 1, 0]])
    assert EOS not in _allowed(out[0])


def test_assisted_style_jumps_and_rejected_candidates(setup):
    tok, g = setup
    proc = GrammarLogitsProcessor(g, tok)
    _call(proc, [[]])
    # candidate prefixes of increasing length, several tokens at once, some invalid
    for gen in ([2], [2, 3], [2, 3, 2], [2, 3, 2, 4]):
        out = _call(proc, [gen])
        assert _allowed(out[0]) == _expected_allowed(g, tok, gen)
    out = _call(proc, [[2, 7]])  # 'x' is not in the language: stop-only mask, counted
    assert _allowed(out[0]) == {EOS}
    assert proc.stats["rejected_prefixes"] == 1
    out = _call(proc, [[2, 3, 3, 0]])  # a fresh branch from a known ancestor
    assert _allowed(out[0]) == _expected_allowed(g, tok, [2, 3, 3, 0])


def test_per_prompt_grammars(setup):
    tok, g = setup
    g2 = constrain.compile_regex(r"x+", tok)
    proc = GrammarLogitsProcessor([g, g2], tok)
    out = _call(proc, [[], [], [], []])  # 2 prompts x 2 beams
    assert _allowed(out[0]) == _allowed(out[1]) == _expected_allowed(g, tok, [])
    assert _allowed(out[2]) == _allowed(out[3]) == {7}


def test_reuse_needs_reset(setup):
    tok, g = setup
    proc = GrammarLogitsProcessor(g, tok)
    _call(proc, [[0, 1]], prompt_len=5)
    with pytest.raises(ValueError):
        _call(proc, [[]], prompt_len=2)
    proc.reset()
    out = _call(proc, [[]], prompt_len=2)
    assert _allowed(out[0]) == _expected_allowed(g, tok, [])


def test_narrow_logits_rejected(setup):
    tok, g = setup
    proc = GrammarLogitsProcessor(g, tok)
    with pytest.raises(ValueError):
        proc(torch.zeros(1, 3, dtype=torch.long), torch.zeros(1, len(VOCAB) - 1))
