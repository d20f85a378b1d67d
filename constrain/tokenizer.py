"""The tokenizer view: the exact bytes of every token id.

Grammars work on bytes, so each token id maps to the bytes it appends to the
output. Three vocabulary encodings occur in practice:

* byte-level BPE (GPT-2, Llama-3, SmolLM2, DeepSeek): each byte is stored as a
  printable unicode character (the GPT-2 byte map);
* SentencePiece: ``▁`` stands for a space and ``<0xNN>`` tokens are raw bytes
  (byte fallback);
* added/special tokens (``<|eot_id|>``): control tokens have *no* bytes and are
  never allowed by a grammar, except the stop tokens, which are allowed exactly
  when the output is complete.

The model's logits may be wider than the tokenizer (padded vocabularies); the
ids past the tokenizer have no bytes either. Several ids may share the same
bytes; each is allowed on its own merits, so all of them are.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from .errors import TokenizerError

if TYPE_CHECKING:
    from .store.trie import VocabTrie

_STOP_NAMES = (
    "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<|im_end|>", "</s>",
    "<｜end▁of▁sentence｜>", "<|end|>", "<end_of_turn>", "<eos>",
)


def _gpt2_byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's bytes_to_unicode map (printable stand-in char -> byte)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _gpt2_byte_decoder()


def _decode_bytelevel(s: str) -> bytes | None:
    try:
        return bytes(_BYTE_DECODER[c] for c in s)
    except KeyError:
        return None


def _decode_sentencepiece(s: str) -> bytes:
    if len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
        try:
            return bytes([int(s[3:5], 16)])
        except ValueError:
            pass
    return s.replace("\u2581", " ").encode("utf-8")


def _decoder_kind(decoder: dict | None) -> str:
    """'bytelevel', 'sentencepiece' or 'plain', from a tokenizer.json ``decoder`` entry."""
    if not decoder:
        return "plain"
    t = decoder.get("type")
    if t == "ByteLevel":
        return "bytelevel"
    if t in ("Metaspace", "ByteFallback"):
        return "sentencepiece"
    if t == "Sequence":
        kinds = {_decoder_kind(d) for d in decoder.get("decoders", [])}
        for d in decoder.get("decoders", []):
            if d.get("type") == "Replace" and "\u2581" in json.dumps(d.get("pattern", {}), ensure_ascii=False):
                kinds.add("sentencepiece")
        if "bytelevel" in kinds:
            return "bytelevel"
        if "sentencepiece" in kinds:
            return "sentencepiece"
    return "plain"


@dataclass(eq=False)
class TokenizerInfo:
    """Per-token bytes plus the facts a grammar engine needs.

    ``token_bytes[i]`` is ``None`` for ids that can never be produced by a
    grammar (special/control tokens, padding). ``stop_token_ids`` are allowed
    iff the output is complete. ``vocab_size`` is the logits width.
    """

    token_bytes: list[bytes | None]
    stop_token_ids: tuple[int, ...]
    vocab_size: int
    special_token_ids: frozenset[int] = frozenset()
    name: str = "tokenizer"
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.vocab_size < len(self.token_bytes):
            raise TokenizerError(f"vocab_size {self.vocab_size} is smaller than the tokenizer ({len(self.token_bytes)} ids)")
        if len(self.token_bytes) < self.vocab_size:
            self.token_bytes = list(self.token_bytes) + [None] * (self.vocab_size - len(self.token_bytes))
        for t in self.stop_token_ids:
            if not 0 <= t < self.vocab_size:
                raise TokenizerError(f"stop token id {t} is outside the vocabulary (size {self.vocab_size})")
        # stop tokens have no grammar bytes: they are decided by acceptance alone
        for t in self.stop_token_ids:
            self.token_bytes[t] = None
        if not any(b for b in self.token_bytes):
            raise TokenizerError("the vocabulary has no token with bytes")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_vocab(
        cls,
        vocab: Sequence[bytes | None],
        eos_token_id: int | Iterable[int],
        vocab_size: int | None = None,
        special_token_ids: Iterable[int] = (),
        name: str = "vocab",
    ) -> "TokenizerInfo":
        """From raw per-id bytes. ``None`` or ids in ``special_token_ids`` are never allowed."""
        special = frozenset(special_token_ids)
        tb: list[bytes | None] = []
        for i, b in enumerate(vocab):
            if b is None or i in special:
                tb.append(None)
            elif isinstance(b, (bytes, bytearray)):
                tb.append(bytes(b) or None)
            else:
                raise TokenizerError(f"token {i}: expected bytes, got {type(b).__name__}")
        stops = (eos_token_id,) if isinstance(eos_token_id, int) else tuple(eos_token_id)
        return cls(tb, stops, vocab_size or len(tb), special | frozenset(stops), name)

    @classmethod
    def from_tokenizer_json(
        cls,
        path: str | os.PathLike,
        eos_token_id: int | Iterable[int] | None = None,
        vocab_size: int | None = None,
    ) -> "TokenizerInfo":
        """From a Hugging Face ``tokenizer.json`` file (no transformers needed).

        Stop tokens: ``eos_token_id`` if given, else ``tokenizer_config.json``
        beside the file, else the well-known end-of-text/end-of-turn tokens found.
        """
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            raise TokenizerError(f"cannot read tokenizer file {path}: {e}") from e
        if eos_token_id is None:
            cfg = os.path.join(os.path.dirname(os.fspath(path)), "tokenizer_config.json")
            eos_name = None
            if os.path.exists(cfg):
                try:
                    with open(cfg, encoding="utf-8") as f:
                        e = json.load(f).get("eos_token")
                    eos_name = e.get("content") if isinstance(e, dict) else e
                except (OSError, ValueError):
                    eos_name = None
            return cls._from_json_data(data, None, vocab_size, os.fspath(path), eos_names=[eos_name] if eos_name else None)
        return cls._from_json_data(data, eos_token_id, vocab_size, os.fspath(path))

    @classmethod
    def _from_json_data(cls, data: dict, eos_token_id, vocab_size, name: str, eos_names=None) -> "TokenizerInfo":
        model = data.get("model") or {}
        vocab = model.get("vocab")
        if isinstance(vocab, list):  # Unigram: [[piece, score], ...]
            pieces = {p[0]: i for i, p in enumerate(vocab)}
        elif isinstance(vocab, dict):
            pieces = vocab
        else:
            raise TokenizerError(f"{name}: unsupported tokenizer model {model.get('type')!r}")
        kind = _decoder_kind(data.get("decoder"))
        if kind == "plain" and model.get("byte_fallback"):
            kind = "sentencepiece"
        added = {a["id"]: a for a in data.get("added_tokens", [])}
        n = max([*pieces.values(), *added.keys(), -1]) + 1
        tb: list[bytes | None] = [None] * n
        for piece, i in pieces.items():
            if kind == "bytelevel":
                b = _decode_bytelevel(piece)
                tb[i] = b if b is not None else piece.encode("utf-8")
            elif kind == "sentencepiece":
                tb[i] = _decode_sentencepiece(piece)
            else:
                tb[i] = piece.encode("utf-8")
        special = set()
        for i, a in added.items():
            if a.get("special", False):
                tb[i] = None
                special.add(i)
            else:  # user-added plain tokens are emitted verbatim
                tb[i] = a["content"].encode("utf-8") or None
        if kind == "sentencepiece":  # <unk>, <s>, </s> in the model vocab are control pieces
            for piece in ("<unk>", "<s>", "</s>", "<pad>"):
                if piece in pieces:
                    tb[pieces[piece]] = None
                    special.add(pieces[piece])
        by_content = {a["content"]: i for i, a in added.items()}
        by_content.update({p: i for p, i in pieces.items() if p in _STOP_NAMES})
        if eos_token_id is None:
            names = eos_names or [s for s in _STOP_NAMES if s in by_content]
            stops = tuple(by_content[s] for s in names if s in by_content)
            if not stops:
                raise TokenizerError(f"{name}: cannot find an end-of-sequence token; pass eos_token_id")
        else:
            stops = (eos_token_id,) if isinstance(eos_token_id, int) else tuple(eos_token_id)
        special |= set(stops)
        return cls(tb, stops, vocab_size or n, frozenset(special), name)

    @classmethod
    def from_huggingface(cls, tokenizer, vocab_size: int | None = None, stop_token_ids: Iterable[int] | None = None) -> "TokenizerInfo":
        """From a ``transformers`` tokenizer (fast tokenizers are read from their JSON).

        ``vocab_size`` is the model's logits width when it exceeds the tokenizer's.
        Stop tokens default to ``eos_token_id`` plus the end-of-turn tokens present
        (e.g. Llama-3's ``<|eot_id|>``).
        """
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        stops: list[int] = []
        if stop_token_ids is not None:
            stops = list(stop_token_ids)
        else:
            eos = getattr(tokenizer, "eos_token_id", None)
            if isinstance(eos, int):
                stops.append(eos)
            # end-of-turn / end-of-text tokens that exist as special added tokens also stop
            special_added = {t.content: i for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items() if t.special}
            for s in ("<|eot_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>"):
                i = special_added.get(s)
                if i is not None and i not in stops:
                    stops.append(i)
        if not stops:
            raise TokenizerError(f"{name}: tokenizer has no eos_token_id; pass stop_token_ids")
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None:
            # the vocabulary, decoder and added tokens are all we need; parsing the whole
            # tokenizer JSON (merges included) would cost seconds on a 128k vocabulary
            try:
                decoder = json.loads(backend.decoder.__getstate__()) if backend.decoder is not None else None
            except Exception:
                decoder = json.loads(backend.to_str()).get("decoder")
            added = [
                {"id": i, "content": t.content, "special": bool(t.special)}
                for i, t in getattr(tokenizer, "added_tokens_decoder", {}).items()
            ]
            model = {"vocab": backend.get_vocab(with_added_tokens=False),
                     "byte_fallback": bool(getattr(backend.model, "byte_fallback", False))}
            data = {"model": model, "decoder": decoder, "added_tokens": added}
            info = cls._from_json_data(data, stops, None, name)
        else:  # slow tokenizer: convert ids one by one
            ids = list(range(len(tokenizer)))
            pieces = tokenizer.convert_ids_to_tokens(ids)
            special = set(getattr(tokenizer, "all_special_ids", []))
            tb = []
            for i, p in zip(ids, pieces):
                if i in special or p is None:
                    tb.append(None)
                else:
                    tb.append(_decode_sentencepiece(p))
            info = cls(tb, tuple(stops), len(tb), frozenset(special | set(stops)), name)
        n = max(len(info.token_bytes), len(tokenizer))
        size = vocab_size or n
        if size < n:
            raise TokenizerError(f"vocab_size {size} is smaller than the tokenizer ({n} ids)")
        return cls(info.token_bytes, info.stop_token_ids, size, info.special_token_ids, name)

    # ------------------------------------------------------------------ derived data
    def allocate_bitmask(self, batch_size: int | None = None) -> np.ndarray:
        """A zeroed packed mask: ``uint32[ceil(V/32)]`` (or ``[batch, ceil(V/32)]``); bit 1 = allowed."""
        words = (self.vocab_size + 31) // 32
        shape = (words,) if batch_size is None else (batch_size, words)
        return np.zeros(shape, dtype=np.uint32)

    @property
    def mask_words(self) -> int:
        return (self.vocab_size + 31) // 32

    @cached_property
    def content_hash(self) -> str:
        """A hash of the vocabulary bytes and stop ids: the disk-cache key."""
        tb = self.token_bytes
        nones = [i for i, b in enumerate(tb) if b is None] if None in tb else []
        if nones:
            tb = [b"" if b is None else b for b in tb]
        h = hashlib.sha256()
        h.update(repr((self.vocab_size, self.stop_token_ids, nones)).encode())
        h.update(np.fromiter(map(len, tb), dtype=np.int32, count=len(tb)).tobytes())
        h.update(b"".join(tb))
        return h.hexdigest()[:32]

    @cached_property
    def walk_table(self) -> "WalkTable":
        """The vocabulary laid out for vectorised DFA walks (see :class:`WalkTable`)."""
        return WalkTable.build(self.token_bytes)

    @cached_property
    def trie(self) -> "VocabTrie":
        """The walkable tokens as a byte trie (see :mod:`constrain.store.trie`)."""
        from .store.trie import VocabTrie

        wt = self.walk_table
        return VocabTrie.build(wt.ids, wt.lengths, wt.data, self.token_bytes)

    @cached_property
    def sorted_bytes(self) -> tuple[list[bytes], np.ndarray]:
        """Token bytes in byte order, and their ids: tokens extending a given prefix form one
        contiguous range (found by bisection), which is how literal terminals skip DFA walks."""
        trie = self.trie  # its token order is this one (bytes, then id)
        return trie.data, trie.ids

    @cached_property
    def ids_by_bytes(self) -> dict[bytes, int]:
        """Each distinct token byte string -> its lowest id (for greedy walks over known text)."""
        out: dict[bytes, int] = {}
        for i, b in enumerate(self.token_bytes):
            if b and b not in out:
                out[b] = i
        return out

    def ids_with_prefix(self, prefix: bytes) -> tuple[int, int]:
        """The range [lo, hi) of :attr:`sorted_bytes` whose tokens start with ``prefix``."""
        import bisect

        keys = self.sorted_bytes[0]
        lo = bisect.bisect_left(keys, prefix)
        up = prefix.rstrip(b"\xff")  # the least byte string above every extension of prefix
        if not up:
            return lo, len(keys)
        up = up[:-1] + bytes([up[-1] + 1])
        return lo, bisect.bisect_left(keys, up, lo)

    def bitmask_to_ids(self, mask: np.ndarray) -> np.ndarray:
        """Token ids whose bit is set, ascending (only the nonzero words are unpacked)."""
        words = np.flatnonzero(mask[: self.mask_words])
        if not len(words):
            return np.zeros(0, dtype=np.int64)
        bits = np.unpackbits(np.ascontiguousarray(mask[words], dtype=np.uint32).view(np.uint8),
                             bitorder="little").reshape(len(words), 32)
        r, c = np.nonzero(bits)
        ids = words[r] * 32 + c
        return ids[ids < self.vocab_size]

    def decode(self, ids: Iterable[int]) -> bytes:
        return b"".join(self.token_bytes[i] or b"" for i in ids)


@dataclass
class WalkTable:
    """Tokens with bytes, sorted by length (longest first), as a padded byte matrix.

    ``ids[k]`` is the token id of row ``k``; ``lengths`` is non-increasing, so the
    rows still active at byte position ``i`` are a prefix ``[0, n_active[i])``.
    """

    ids: np.ndarray  # int32[N]
    lengths: np.ndarray  # int32[N]
    data: np.ndarray  # uint8[N, Lmax]
    n_active: np.ndarray  # int64[Lmax]: rows with length > i
    row_of: np.ndarray  # int32[V]: row of each id, -1 if none

    @classmethod
    def build(cls, token_bytes: Sequence[bytes | None]) -> "WalkTable":
        ids = np.array([i for i, b in enumerate(token_bytes) if b], dtype=np.int32)
        lens = np.array([len(token_bytes[i]) for i in ids], dtype=np.int32)
        order = np.argsort(-lens, kind="stable")
        ids, lens = ids[order], lens[order]
        lmax = int(lens[0])
        data = np.zeros((len(ids), lmax), dtype=np.uint8)
        flat = b"".join(token_bytes[i] for i in ids)
        buf = np.frombuffer(flat, dtype=np.uint8)
        starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
        rows = np.repeat(np.arange(len(ids)), lens)
        cols = np.arange(len(buf)) - np.repeat(starts, lens)
        data[rows, cols] = buf
        n_active = _count_longer(lens, lmax)
        row_of = np.full(len(token_bytes), -1, dtype=np.int32)
        row_of[ids] = np.arange(len(ids), dtype=np.int32)
        return cls(ids, lens, data, n_active, row_of)


def _count_longer(lens_desc: np.ndarray, lmax: int) -> np.ndarray:
    counts = np.bincount(lens_desc, minlength=lmax + 1)  # counts[l] = rows of length l
    ge = np.cumsum(counts[::-1])[::-1]  # ge[l] = rows with length >= l
    return ge[1 : lmax + 1].astype(np.int64)  # rows with length > i  == length >= i+1
