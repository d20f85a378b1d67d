"""The vocabulary as a byte trie, for store walks that prune dead prefixes.

:func:`constrain.store.maskstore.walk_all` used to step every token through the DFA byte by
byte. Tokens share prefixes, and once a prefix dies every token under it dies at the same
place, so :func:`trie_walk` steps trie *nodes* level by level and only expands the children of
live nodes. A restrictive state (a digit, a date, a literal's next byte) is then decided after
a few hundred node steps instead of ~128k token steps; a permissive one (inside a string)
visits each distinct prefix once, about half the token bytes of a 128k vocabulary.

Layout: the walkable tokens sorted by their bytes; a node at depth ``d`` is a distinct
``d + 1``-byte prefix, and its subtree is a contiguous range ``[lo, hi)`` of that order, the
tokens that end exactly at the node first (a prefix sorts before its extensions). Per level
the nodes are in sorted order too, so a node's children are a contiguous range of the next
level. Cost: built once per tokenizer (~0.3 s, ~15 MB of arrays for Llama-3), then O(nodes visited)
numpy work per walk.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Level:
    byte: np.ndarray  # int64[n]: the node's last byte
    lo: np.ndarray  # int64[n]: first token (in trie order) under the node
    hi: np.ndarray  # int64[n]: one past the last
    n_end: np.ndarray  # int64[n]: tokens ending exactly here (they are lo .. lo + n_end)
    child0: np.ndarray  # int64[n + 1]: children in the next level are child0[j] .. child0[j + 1]


@dataclass
class VocabTrie:
    ids: np.ndarray  # int32[N]: token ids in trie (byte) order
    levels: list[Level]
    parent: list  # per level >= 1: int64[n] index of each node's parent in the level above
    end: np.ndarray  # int64[N]: each token's node, as an index into the concatenated levels
    data: list  # [N] each token's bytes, in trie order

    @classmethod
    def build(cls, ids: np.ndarray, lengths: np.ndarray, data: np.ndarray, token_bytes) -> "VocabTrie":
        """From a padded byte matrix (rows: tokens ``ids`` of ``lengths``; any row order) and
        every token's bytes (``token_bytes[id]``)."""
        n, lmax = data.shape
        # sort rows by bytes: numpy's fixed-width bytes order pads with NULs, so a token and its
        # extension by NULs tie; stable over rows laid out shortest first, the prefix comes first
        pre = np.lexsort((ids, lengths))
        flat = np.ascontiguousarray(data[pre]).view(f"S{lmax}").ravel()
        order = pre[np.argsort(flat, kind="stable")]
        rows, lens = data[order], lengths[order].astype(np.int64)
        # lcp[i]: bytes shared with the previous row
        same = rows[1:] == rows[:-1]
        same &= np.arange(lmax)[None, :] < np.minimum(lens[1:], lens[:-1])[:, None]
        lcp = np.zeros(n, dtype=np.int64)
        lcp[1:] = np.where(same.all(axis=1), lmax, np.argmin(same, axis=1))
        del same
        levels: list[Level] = []
        prev_lo = None
        live = np.arange(n)  # rows longer than d, in order: a node's range is a run of them
        for d in range(lmax):
            live = live[lens[live] > d]
            if not len(live):
                break
            # a node starts where the shared prefix is shorter than d + 1 (a gap in `live` is a
            # shorter row, whose lcp bounds the next one's), and runs to the next start
            ks = np.flatnonzero(lcp[live] <= d)
            starts = live[ks]
            hi = live[np.append(ks[1:], len(live)) - 1] + 1
            ends = np.concatenate([[0], np.cumsum(lens[live] == d + 1)])
            lv = Level(byte=rows[starts, d].astype(np.int64), lo=starts, hi=hi,
                       n_end=ends[np.append(ks[1:], len(live))] - ends[ks], child0=np.zeros(0, dtype=np.int64))
            if prev_lo is not None:  # children of the previous level: parents by range
                parent = np.searchsorted(prev_lo, starts, side="right") - 1
                levels[-1].child0 = np.searchsorted(parent, np.arange(len(prev_lo) + 1))
            levels.append(lv)
            prev_lo = starts
        levels[-1].child0 = np.zeros(len(levels[-1].lo) + 1, dtype=np.int64)
        parent = [None] + [np.repeat(np.arange(len(a.lo)), np.diff(a.child0)) for a in levels[:-1]]
        # each token's node: the level of its length, the node whose range starts at or before it
        offset = np.concatenate([[0], np.cumsum([len(lv.lo) for lv in levels])])
        by_len = np.argsort(lens, kind="stable")
        cut = np.searchsorted(lens[by_len], np.arange(1, len(levels) + 2))
        end = np.zeros(n, dtype=np.int64)
        for d, lv in enumerate(levels):
            here = by_len[cut[d]:cut[d + 1]]
            end[here] = offset[d] + np.searchsorted(lv.lo, here, side="right") - 1
        ids = ids[order].astype(np.int32)
        return cls(ids=ids, levels=levels, parent=parent, end=end, data=[token_bytes[i] for i in ids.tolist()])

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (``data`` holds the tokenizer's own bytes objects)."""
        return (self.ids.nbytes + self.end.nbytes + sum(a.nbytes for a in self.parent[1:])
                + sum(a.nbytes for lv in self.levels for a in (lv.byte, lv.lo, lv.hi, lv.n_end, lv.child0)))


def _ranges(lo: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(lo[i], lo[i] + count[i])`` (vectorised)."""
    total = int(count.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    keep = count > 0
    lo, count = lo[keep], count[keep]
    off = np.cumsum(count) - count
    return np.repeat(lo - off, count) + np.arange(total)


DENSE = 64  # live first bytes from which every node is stepped (no pruning, no range bookkeeping)
FEW = 256  # tokens left under the live nodes below which they are finished one by one in Python
DEEP = 6  # ... or 8x as many from this depth on (what is left there is mostly long runs)


def trie_walk(trie: VocabTrie, dfa, state: int):
    """Walk every token from ``state`` of ``dfa`` (a :class:`ByteDFA`); returns positions in
    trie order: (alive, done, dying-after-accept, their accept position).

    Three regimes, by what each costs: a permissive state (most first bytes live: inside a
    string) keeps most prefixes alive, so pruning saves little and its bookkeeping costs more
    than it saves: every level is then stepped whole (:func:`_dense_walk`). Otherwise live
    nodes are expanded level by level, and once few tokens are left under them (whitespace
    runs are 100+ levels deep, a few nodes each) they are finished byte by byte in Python,
    which beats a dozen numpy calls per level."""
    trans, accept, complete = dfa.trans, dfa.accept, dfa.complete
    if int((trans[state, trie.levels[0].byte] >= 0).sum()) >= DENSE:
        return _dense_walk(trie, trans, accept, complete, state)
    alive_r, done_r, acc_r, acc_p = [], [], [], []
    lv = trie.levels[0]
    node = np.arange(len(lv.lo))
    st = trans[state, lv.byte].astype(np.int64)
    last = np.zeros(len(node), dtype=np.int64)  # deepest accepting prefix above (bytes), 0: none
    d = 0
    while True:
        ok = st >= 0
        if not ok.all():  # dead nodes: every token under them dies after the last accept above
            dead = ~ok & (last > 0)
            if dead.any():
                dn = node[dead]
                r = _ranges(lv.lo[dn], lv.hi[dn] - lv.lo[dn])
                acc_r.append(r)
                acc_p.append(np.repeat(last[dead], lv.hi[dn] - lv.lo[dn]))
            node, st, last = node[ok], st[ok], last[ok]
        if not len(node):
            break
        last = np.where(accept[st], d + 1, last)
        under = lv.hi[node] - lv.lo[node]
        left = int(under.sum())
        if left <= FEW or (d >= DEEP and left <= 8 * FEW):
            _finish_few(trie, dfa, d + 1, lv.lo[node], under, st, last, complete, alive_r, done_r, acc_r, acc_p)
            break
        ne = lv.n_end[node]
        if ne.any():
            r = _ranges(lv.lo[node], ne)
            alive_r.append(r)
            c = complete[st]
            if c.any():
                done_r.append(_ranges(lv.lo[node[c]], ne[c]))
        d += 1
        if d >= len(trie.levels):
            break
        c0 = lv.child0[node]
        cnt = lv.child0[node + 1] - c0
        lv = trie.levels[d]
        child = _ranges(c0, cnt)
        if not len(child):
            break
        par = np.repeat(np.arange(len(node)), cnt)
        node, st, last = child, trans[st[par], lv.byte[child]].astype(np.int64), last[par]
    cat = (lambda xs: np.concatenate(xs) if xs else np.zeros(0, dtype=np.int64))
    return cat(alive_r), cat(done_r), cat(acc_r), cat(acc_p)


def _finish_few(trie, dfa, depth, lo, under, st, last, complete, alive_r, done_r, acc_r, acc_p) -> None:
    """The tokens under a few live nodes (whose first ``depth`` bytes are walked), one by one."""
    rows, acc, data = dfa.rows, dfa.accept_list, trie.data
    comp = complete.tolist()
    al, dn, ar, ap = [], [], [], []
    for a, n, s0, l0 in zip(lo.tolist(), under.tolist(), st.tolist(), last.tolist()):
        for k in range(a, a + n):
            s, lst, b = s0, l0, data[k]
            for i in range(depth, len(b)):
                s = rows[s][b[i]]
                if s < 0:
                    break
                if acc[s]:
                    lst = i + 1
            if s >= 0:
                al.append(k)
                if comp[s]:
                    dn.append(k)
            elif lst > 0:
                ar.append(k)
                ap.append(lst)
    for out, xs in ((alive_r, al), (done_r, dn), (acc_r, ar), (acc_p, ap)):
        if xs:
            out.append(np.asarray(xs, dtype=np.int64))


def _dense_walk(trie: VocabTrie, trans: np.ndarray, accept: np.ndarray, complete: np.ndarray, state: int):
    """:func:`trie_walk` stepping every node, a level at a time. A dead row appended to the
    table keeps dead nodes dead (index -1), and dead nodes inherit their parent's last accept,
    so each token's outcome is read off its own node at the end."""
    # the dead row goes last: a dead parent's index (-1) * 256 + byte wraps around into it
    flat = np.concatenate([trans.reshape(-1), np.full(256, -1, dtype=trans.dtype)]).astype(np.int64)
    acc = np.concatenate([accept, [False]])
    comp = np.concatenate([complete, [False]])
    sts, lasts = [], []
    lv = trie.levels[0]
    st = flat[state * 256 + lv.byte]
    last = np.where(acc[st], 1, 0).astype(np.int16)
    sts.append(st)
    lasts.append(last)
    for d in range(1, len(trie.levels)):
        par = trie.parent[d]
        st = flat[st[par] * 256 + trie.levels[d].byte]
        last = np.where(acc[st], np.int16(d + 1), last[par])
        sts.append(st)
        lasts.append(last)
    st_all, last_all = np.concatenate(sts)[trie.end], np.concatenate(lasts)[trie.end]
    alive = np.flatnonzero(st_all >= 0)
    done = alive[comp[st_all[alive]]]
    acc_r = np.flatnonzero((st_all < 0) & (last_all > 0))
    return alive, done, acc_r, last_all[acc_r].astype(np.int64)
