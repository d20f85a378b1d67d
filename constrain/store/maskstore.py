"""The DFA mask store: for one terminal-DFA state, what every token does.

For a (terminal DFA, state) pair we walk *all* tokens' bytes through the DFA
at once (numpy, over the vocabulary's byte trie, see :mod:`.trie`; the
row-by-row walk :func:`walk_rows` is the reference) and keep three facts per
token:

* ``alive``: the walk survives to the token's end (packed bitmask, bit 1 =
  the token's bytes keep this terminal alive);
* for tokens that die: the last position where the terminal accepted
  (``acc_ids``/``acc_pos``, sparse). That is where the lexeme would end by
  longest match, and the rest of the token is lexed afresh;
* ``done_ids``: the alive tokens that end in a *complete* state (accepting,
  no byte continues it, e.g. after a string's closing quote). The lexeme is
  then fully known at the token's end, so a terminal whose value the parser
  checks can be decided there, not one token later.

An entry depends only on the tokenizer and the DFA's content, so it is shared
by every grammar that contains the same terminal, and cached on disk keyed by
``(tokenizer hash, DFA hash, state)``. Entries are built lazily, on the states
decoding actually reaches. Cost for a 128k vocabulary: 0.1-0.5 ms per entry
for a restrictive state, ~4.5 ms for a permissive one (inside a string); 16 KB
+ 6 bytes per accepting-then-dying token.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import queue
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fsm.bytedfa import ByteDFA
from ..tokenizer import TokenizerInfo
from .trie import trie_walk

FORMAT_VERSION = 3


def cache_dir() -> Path | None:
    """Disk cache root: $CONSTRAIN_CACHE_DIR, else ~/.cache/constrain; "" or "off" disables it."""
    d = os.environ.get("CONSTRAIN_CACHE_DIR")
    if d is not None and d.strip().lower() in ("", "0", "off", "none"):
        return None
    return Path(d) if d else Path.home() / ".cache" / "constrain"


@dataclass
class TerminalWalk:
    alive: np.ndarray  # uint32[W] packed
    acc_ids: np.ndarray  # int32: token ids that die after an accepting position
    acc_pos: np.ndarray  # int16: bytes consumed at that accepting position (>= 1)
    done_ids: np.ndarray  # int32: alive token ids that end in a complete state

    @property
    def nbytes(self) -> int:
        return self.alive.nbytes + self.acc_ids.nbytes + self.acc_pos.nbytes + self.done_ids.nbytes


def pack_ids(ids: np.ndarray, words: int) -> np.ndarray:
    """Token ids -> packed uint32 bitmask."""
    bits = np.zeros(words * 32, dtype=bool)
    bits[ids] = True
    return np.packbits(bits, bitorder="little").view(np.uint32)


class SparseBits:
    """A small token set as (word index, word bits): OR-ing it into a mask costs its size, not V/32."""

    __slots__ = ("words", "vals")

    def __init__(self, ids: np.ndarray):
        if len(ids) <= 32:  # small sets (most tail groups): a dict beats numpy's per-call overhead
            acc: dict[int, int] = {}
            for t in np.asarray(ids).tolist():
                acc[t >> 5] = acc.get(t >> 5, 0) | (1 << (t & 31))
            self.words = np.fromiter(acc.keys(), dtype=np.int32, count=len(acc))
            self.vals = np.fromiter(acc.values(), dtype=np.uint32, count=len(acc))
            return
        ids = np.asarray(ids, dtype=np.int64)
        w = ids >> 5
        order = np.argsort(w, kind="stable")
        w, b = w[order], (np.uint32(1) << (ids[order] & 31).astype(np.uint32))
        first = np.ones(len(w), dtype=bool)
        first[1:] = w[1:] != w[:-1]
        starts = np.flatnonzero(first)
        self.words = w[starts].astype(np.int32)
        self.vals = np.bitwise_or.reduceat(b, starts).astype(np.uint32)

    @classmethod
    def compact(cls, m: np.ndarray):
        """``m`` itself, or as SparseBits when under a quarter of its words are nonzero (a cached
        result then costs 8 bytes per nonzero word instead of 4 bytes for every word)."""
        nz = np.flatnonzero(m)
        if 4 * len(nz) >= len(m):
            return m
        sb = cls.__new__(cls)
        sb.words = nz.astype(np.int32)
        sb.vals = m[nz]
        return sb

    def or_into(self, m: np.ndarray) -> None:
        m[self.words] |= self.vals

    def clear_in(self, m: np.ndarray) -> None:
        """Clear these tokens' bits in ``m`` (the words are distinct)."""
        m[self.words] &= ~self.vals

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.vals.nbytes


def or_into(m: np.ndarray, bits) -> None:
    """OR a packed mask or :class:`SparseBits` into ``m``."""
    if isinstance(bits, SparseBits):
        m[bits.words] |= bits.vals
    else:
        m |= bits


def walk_all(dfa: ByteDFA, state: int, tok: TokenizerInfo) -> TerminalWalk:
    """The store entry for (dfa, state): a walk of the vocabulary's trie (:mod:`.trie`), dead
    prefixes pruned. The same entry as :func:`walk_rows`, in the same order."""
    trie = tok.trie
    alive, done, acc, pos = trie_walk(trie, dfa, state)
    ids, wt = trie.ids, tok.walk_table
    rows = wt.row_of[ids[acc]]
    if len(rows) < 4096:  # walk_rows' order (by walk-table row): sorted if few, else scattered
        order = np.argsort(rows)
        acc_rows, acc_pos = rows[order], pos[order].astype(np.int16)
    else:
        by_row = np.zeros(len(wt.ids), dtype=np.int16)
        by_row[rows] = pos
        acc_rows = np.flatnonzero(by_row)
        acc_pos = by_row[acc_rows]
    return TerminalWalk(
        alive=pack_ids(ids[alive], tok.mask_words),
        acc_ids=wt.ids[acc_rows].astype(np.int32),
        acc_pos=acc_pos,
        done_ids=np.sort(ids[done]).astype(np.int32),
    )


def walk_rows(dfa: ByteDFA, state: int, tok: TokenizerInfo) -> TerminalWalk:
    """:func:`walk_all` by stepping every token's row of the walk table (the reference the
    trie walk is tested against; every row pays each byte position it reaches)."""
    wt = tok.walk_table
    n = len(wt.ids)
    st = np.full(n, state, dtype=np.int32)
    last = np.zeros(n, dtype=np.int16)
    dead = np.zeros(n, dtype=bool)
    act = np.arange(n)
    trans, accept, data = dfa.trans, dfa.accept, wt.data
    for i in range(data.shape[1]):
        # rows are sorted by length (descending): those long enough form a prefix
        act = act[: np.searchsorted(act, wt.n_active[i])]
        if len(act) == 0:
            break
        nxt = trans[st[act], data[act, i]]
        ok = nxt >= 0
        dead[act[~ok]] = True
        act = act[ok]
        nxt = nxt[ok]
        st[act] = nxt
        a = accept[nxt]
        last[act[a]] = i + 1
    alive_rows = np.flatnonzero(~dead)
    acc_rows = np.flatnonzero(dead & (last > 0))
    done_rows = alive_rows[dfa.complete[st[alive_rows]]]
    return TerminalWalk(
        alive=pack_ids(wt.ids[alive_rows], tok.mask_words),
        acc_ids=wt.ids[acc_rows].astype(np.int32),
        acc_pos=last[acc_rows].astype(np.int16),
        done_ids=np.sort(wt.ids[done_rows]).astype(np.int32),
    )


def literal_walk(literal: bytes, state: int, tok: TokenizerInfo) -> TerminalWalk:
    """The store entry of a literal terminal's DFA, without a walk (masks.md, "literals").

    From state ``s`` the rest of the literal is ``r = literal[s:]``: the tokens that stay alive
    are the prefixes of ``r`` (the one equal to ``r`` is complete), and the tokens that die after
    accepting are those that extend ``r`` (one bisection in the byte-sorted vocabulary)."""
    keys, sorted_ids = tok.sorted_bytes
    rest = literal[state:]
    if not rest:  # the literal is complete: every byte kills it, with no accepting position inside
        none = np.zeros(0, dtype=np.int32)
        return TerminalWalk(np.zeros(tok.mask_words, dtype=np.uint32), none, none.astype(np.int16), none)
    lo, hi = tok.ids_with_prefix(rest)
    alive: list[int] = []
    done: list[int] = []
    for k in range(1, len(rest) + 1):
        head = rest[:k]
        a, b = tok.ids_with_prefix(head)
        # the exact matches of head sit at the start of its range (a shorter key sorts first)
        j = a
        while j < b and keys[j] == head:
            alive.append(int(sorted_ids[j]))
            if k == len(rest):
                done.append(int(sorted_ids[j]))
            j += 1
    while lo < hi and keys[lo] == rest:  # equal keys sort before their extensions
        lo += 1
    longer = np.sort(sorted_ids[lo:hi])
    return TerminalWalk(
        alive=pack_ids(np.asarray(alive, dtype=np.int64), tok.mask_words),
        acc_ids=longer.astype(np.int32),
        acc_pos=np.full(len(longer), len(rest), dtype=np.int16),
        done_ids=np.sort(np.asarray(done, dtype=np.int32)),
    )


class MaskStore:
    """Per-tokenizer store of :class:`TerminalWalk` entries: memory, then disk, then computed."""

    _stores: dict[str, "MaskStore"] = {}
    _lock = threading.Lock()

    def __init__(self, tok: TokenizerInfo):
        self.tok = tok
        self.entries: dict[tuple[str, int], TerminalWalk] = {}
        self.hits = {"memory": 0, "disk": 0, "computed": 0, "corrupt": 0}
        #: union-state analyses shared across grammars (filled by constrain.lexer.Lexer)
        self.analyses: OrderedDict = OrderedDict()
        self.tails: OrderedDict = OrderedDict()
        self._walked: np.ndarray | None = None

    @property
    def walked_bits(self) -> np.ndarray:
        """Packed bits of every token the walks cover (grammar-allowable bytes); read-only."""
        if self._walked is None:
            b = pack_ids(self.tok.walk_table.ids, self.tok.mask_words)
            b.flags.writeable = False
            self._walked = b
        return self._walked

    @property
    def dir(self) -> Path | None:
        """Read on each miss, so a changed $CONSTRAIN_CACHE_DIR takes effect at once."""
        root = cache_dir()
        return root / "masks" / f"v{FORMAT_VERSION}-{self.tok.content_hash}" if root else None

    @classmethod
    def for_tokenizer(cls, tok: TokenizerInfo) -> "MaskStore":
        """The store shared by all grammars compiled for this vocabulary."""
        with cls._lock:
            store = cls._stores.get(tok.content_hash)
            if store is None:
                store = cls._stores[tok.content_hash] = cls(tok)
            return store

    def get(self, dfa: ByteDFA, state: int) -> TerminalWalk:
        key = (dfa.key, state)
        entry = self.entries.get(key)
        if entry is not None:
            self.hits["memory"] += 1
            return entry
        if dfa.literal is not None:  # microseconds: no disk round trip
            entry = self.entries[key] = literal_walk(dfa.literal, state, self.tok)
            self.hits["computed"] += 1
            return entry
        entry = self._load(dfa.key, state)
        if entry is None:
            entry = walk_all(dfa, state, self.tok)
            self.hits["computed"] += 1
            self._save(dfa.key, state, entry)
        else:
            self.hits["disk"] += 1
        self.entries[key] = entry
        return entry

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self.entries.values())

    # -- disk cache: one file per entry, written atomically, checksummed.
    # Layout: MAGIC, four uint32 array lengths, a SHA-256 digest of (tag, arrays), then the
    # arrays' raw bytes. One read and four frombuffer views load an entry in ~50 us; the
    # .npz of format 2 went through zipfile and a header literal_eval, ~0.5-1.5 ms per entry.
    _FIELDS = (("alive", np.uint32), ("acc_ids", np.int32), ("acc_pos", np.int16), ("done_ids", np.int32))
    _HEAD = struct.Struct("<8s4I32s")
    _MAGIC = b"CSTRMSK" + bytes([FORMAT_VERSION])

    def _path(self, dfa_key: str, state: int) -> Path | None:
        d = self.dir
        return d / dfa_key / f"{state}.bin" if d else None

    @staticmethod
    def _digest(tag: str, e: TerminalWalk) -> bytes:
        h = hashlib.sha256(tag.encode())
        for a in (e.alive, e.acc_ids, e.acc_pos, e.done_ids):
            h.update(a.tobytes())
        return h.digest()

    def _load(self, dfa_key: str, state: int) -> TerminalWalk | None:
        path = self._path(dfa_key, state)
        if path is None:
            return None
        raw = WRITER.pending.get(path)  # written by this process, not yet on disk
        if raw is None:
            try:
                raw = path.read_bytes()
            except OSError:
                return None
        tag = f"{self.tok.content_hash}/{dfa_key}/{state}"
        e = None
        try:
            magic, *lens, digest = self._HEAD.unpack_from(raw)
            arrays, off = [], self._HEAD.size
            for (_, dt), n in zip(self._FIELDS, lens):
                arrays.append(np.frombuffer(raw, dtype=dt, count=n, offset=off).copy())
                off += n * np.dtype(dt).itemsize
            cand = TerminalWalk(*arrays)
            if (magic == self._MAGIC and off == len(raw) and cand.alive.shape == (self.tok.mask_words,)
                    and len(cand.acc_ids) == len(cand.acc_pos) and digest == self._digest(tag, cand)):
                e = cand
        except (struct.error, ValueError):
            pass
        if e is None:  # corrupt or stale: rebuild, never trust
            self.hits["corrupt"] += 1
            try:
                path.unlink()
            except OSError:
                pass
        return e

    def _save(self, dfa_key: str, state: int, e: TerminalWalk) -> None:
        path = self._path(dfa_key, state)
        if path is None:
            return
        tag = f"{self.tok.content_hash}/{dfa_key}/{state}"
        arrays = [np.ascontiguousarray(getattr(e, f), dtype=dt) for f, dt in self._FIELDS]
        # the digest covers the arrays as written (the file's dtypes), which is what _load checks
        head = self._HEAD.pack(self._MAGIC, *(len(a) for a in arrays), self._digest(tag, TerminalWalk(*arrays)))
        WRITER.put(path, head + b"".join(a.tobytes() for a in arrays))


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only or full disk only costs speed


class _Writer:
    """Writes cache files on a daemon thread, so computing an entry does not also pay for the
    file system (a mkdir, a temporary file and a rename: 0.3-1 ms per entry measured here).
    ``pending`` holds what is queued (readers in this process see it); ``flush`` waits for the
    queue, and runs at exit. A forked child starts with an empty queue and its own thread."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush, 10.0)

    def _reset(self) -> None:
        self.pending: dict[Path, bytes] = {}
        self._q: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, path: Path, data: bytes) -> None:
        with self._lock:
            self.pending[path] = data
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="constrain-cache-writer", daemon=True)
                self._thread.start()
        self._q.put(path)

    def _run(self) -> None:
        while True:
            path = self._q.get()
            try:
                data = self.pending.get(path)
                if data is not None:
                    _write_atomic(path, data)
                    with self._lock:
                        if self.pending.get(path) is data:
                            del self.pending[path]
            finally:
                self._q.task_done()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued file is written (True), or ``timeout`` seconds pass (False)."""
        end = None if timeout is None else time.monotonic() + timeout
        while self._q.unfinished_tasks:
            if end is not None and time.monotonic() > end:
                return False
            time.sleep(0.001)
        return True


WRITER = _Writer()
