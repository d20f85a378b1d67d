"""Hugging Face ``transformers`` integration: :class:`GrammarLogitsProcessor`.

State is keyed on each row's *generated token prefix*, never on call order or
row index. A row's matcher is derived from its parent prefix (the prefix minus
the last token) plus one ``advance``; a prefix seen before is a dict lookup. This
makes every decoding mode of ``model.generate`` work with one mechanism:

* batches with left padding (the prompt length is fixed on the first call);
* greedy, sampling, ``num_return_sequences`` (rows sharing a prefix share the mask);
* beam search, where beams are reordered and duplicated between steps;
* assisted generation, where candidate prefixes are proposed, checked and
  dropped: any prefix is rebuilt from its longest known ancestor.

A row that has generated a stop token stays finished: only stop tokens and the
pad token are allowed (transformers pads finished rows). A prefix the grammar
rejects (it can only come from an unconstrained draft, e.g. prompt-lookup
candidates) gets a stop-only mask and is counted in ``stats["rejected_prefixes"]``.

Use one processor per ``generate`` call (or call :meth:`reset`).
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np
import torch
from transformers import LogitsProcessor

from ..tokenizer import TokenizerInfo
from .torch_mask import apply_bitmask

_DEAD = object()  # marker state: the prefix left the language


class GrammarLogitsProcessor(LogitsProcessor):
    """Mask logits so every generated row stays a prefix of the grammar's language.

    ``grammar``: a compiled grammar (anything with ``.matcher()``), or a list of
    them, one per prompt of the batch (rows ``b*k .. b*k+k-1`` belong to prompt
    ``b`` when beams or ``num_return_sequences`` expand the batch by ``k``).
    ``tok``: the :class:`~constrain.TokenizerInfo` the grammar was compiled for.
    ``pad_token_id``: also allowed in finished rows (defaults to none extra).
    """

    def __init__(self, grammar, tok: TokenizerInfo, *, pad_token_id: int | None = None, max_states: int = 200_000):
        self.grammars = list(grammar) if isinstance(grammar, (list, tuple)) else [grammar]
        if not self.grammars:
            raise ValueError("GrammarLogitsProcessor needs at least one grammar")
        self.tok = tok
        self.pad_token_id = pad_token_id
        self.max_states = max_states
        words = tok.mask_words
        self._stop_mask = np.zeros(words, dtype=np.uint32)
        finished_ids = list(tok.stop_token_ids) + ([pad_token_id] if pad_token_id is not None else [])
        for t in finished_ids:
            if 0 <= t < words * 32:
                self._stop_mask[t // 32] |= np.uint32(1 << (t % 32))
        self.reset()

    def reset(self) -> None:
        """Forget all state (start a new ``generate`` call)."""
        self.prompt_len: int | None = None
        self.n_rows: int | None = None
        # (grammar index, generated prefix) -> [matcher or _DEAD, cached mask or None]
        self._states: dict[tuple[int, tuple[int, ...]], list] = {}
        self._filled: list[list] = []  # states whose mask is cached (dropped at the next call: 6 KB each)
        self.stats = {"calls": 0, "rows": 0, "advances": 0, "rejected_prefixes": 0, "dead_ends": 0}

    # ------------------------------------------------------------------ state lookup
    def _state(self, gi: int, prefix: tuple[int, ...]) -> list:
        key = (gi, prefix)
        st = self._states.get(key)
        if st is not None:
            return st
        # walk back to the longest known ancestor, then forward one token at a time
        k = len(prefix) - 1
        while k >= 0 and (gi, prefix[:k]) not in self._states:
            k -= 1
        if k < 0:
            st = [self.grammars[gi].matcher(), None]
            self._states[(gi, ())] = st
            k = 0
        else:
            st = self._states[(gi, prefix[:k])]
        for j in range(k, len(prefix)):
            m = st[0]
            if m is _DEAD:
                nxt = [_DEAD, None]
            elif m.is_terminated():
                # after a stop token transformers appends padding: the row stays finished
                nxt = st
            else:
                m2 = m.copy()
                self.stats["advances"] += 1
                if m2.advance(int(prefix[j])):
                    nxt = [m2, None]
                else:
                    self.stats["rejected_prefixes"] += 1
                    nxt = [_DEAD, None]
            self._states[(gi, prefix[: j + 1])] = nxt
            st = nxt
        return st

    def _mask_of(self, st: list) -> np.ndarray:
        if st[1] is None:
            m = st[0]
            if m is _DEAD or m.is_terminated():
                st[1] = self._stop_mask
            else:
                mask = np.empty(self.tok.mask_words, dtype=np.uint32)
                m.fill_bitmask(mask)
                if not mask.any():  # cannot happen with an exact grammar; never hand -inf everywhere to a sampler
                    self.stats["dead_ends"] += 1
                    warnings.warn("constrain: the grammar allows no token here; forcing a stop token", RuntimeWarning, stacklevel=3)
                    mask = self._stop_mask
                st[1] = mask
            self._filled.append(st)
        return st[1]

    def _prune(self, min_len: int) -> None:
        if len(self._states) <= self.max_states:
            return
        keep = max(min_len - 1, 0)
        self._states = {k: v for k, v in self._states.items() if len(k[1]) >= keep}

    # ------------------------------------------------------------------ LogitsProcessor
    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        n_rows, cur_len = input_ids.shape
        if self.prompt_len is None:
            self.prompt_len = cur_len
            self.n_rows = n_rows
        if cur_len < self.prompt_len:
            raise ValueError("GrammarLogitsProcessor was reused with a shorter input; call reset() between generate calls")
        if scores.shape[-1] < self.tok.vocab_size:
            raise ValueError(f"logits width {scores.shape[-1]} is smaller than the tokenizer's vocabulary {self.tok.vocab_size}")
        for st in self._filled:  # prefixes only grow between calls; the engine caches masks by state anyway
            st[1] = None
        self._filled = []
        per = max(n_rows // len(self.grammars), 1)
        gen = input_ids[:, self.prompt_len:].tolist()
        masks = np.empty((n_rows, self.tok.mask_words), dtype=np.uint32)
        for r in range(n_rows):
            gi = min(r // per, len(self.grammars) - 1)
            masks[r] = self._mask_of(self._state(gi, tuple(gen[r])))
        self.stats["calls"] += 1
        self.stats["rows"] += n_rows
        self._prune(cur_len - self.prompt_len)
        return apply_bitmask(scores, masks)

    # ------------------------------------------------------------------ helpers
    def matcher_for(self, generated: Sequence[int], row: int = 0):
        """The matcher after ``generated`` tokens for ``row``'s grammar (None if the prefix was rejected)."""
        per = max((self.n_rows or len(self.grammars)) // len(self.grammars), 1)
        m = self._state(min(row // per, len(self.grammars) - 1), tuple(int(t) for t in generated))[0]
        return None if m is _DEAD else m
