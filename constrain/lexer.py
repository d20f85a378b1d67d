"""The lexer: union DFAs over candidate terminals, and their static token analysis.

A lexer state is a *union state*: the tuple of live ``(terminal, dfa_state)``
pairs, interned as an int. The candidates at a lexeme start come from the
parser (lark's contextual lexer uses the LALR action keys) plus the ignored
terminals, so longest match and tie-breaking are properties of this union.

For each union state we derive, once, from the per-terminal store entries:

* ``alive[T]``: tokens that keep terminal T alive to their end (the lexeme
  goes on);
* ``exits``: tokens that kill every terminal after some accepting position p
  (p >= 1 bytes into the token). Grouped by the terminals accepting at the
  longest such p (best first); the token's tail ``[p:]`` is lexed afresh
  after the parser takes the lexeme;
* ``rest``: tokens that kill every terminal with no accepting position inside
  the token: the lexeme must have ended *before* the token.

Everything here is independent of the parser stack and cached per union
state; the grammar combines it with exact parser checks at run time.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field

import numpy as np

from .fsm.bytedfa import ByteDFA
from .parsing.base import Terminal
from .store.maskstore import MaskStore, SparseBits, pack_ids
from .tokenizer import TokenizerInfo


@dataclass
class ExitGroup:
    terms: tuple[int, ...]  # terminals accepting at the lexeme end, best first
    ids: np.ndarray  # int32 token ids
    offs: np.ndarray  # int32: where each token's tail starts
    value: bytes | None  # the token part that ends the lexeme, when a value terminal needs it
    bits: np.ndarray | None = None  # packed ids (filled lazily)
    #: content key: the same in every grammar whose lexer produced this group from the same
    #: analysis (None: not shareable); a merged group has its members' keys, see Lexer.merged
    ckey: tuple | None = None
    #: 128-bit digest of ``ids`` and ``offs`` (filled by Lexer.intern_group; renumbered copies keep it)
    digest: bytes | None = None
    #: (walk-table rows, tail is empty, first tail byte, partition or None) of the tokens, for
    #: tail walks (lazy, see Lexer.walk_index)
    walk: tuple | None = None


@dataclass
class UnionInfo:
    members: tuple[tuple[int, int], ...]
    accepting: tuple[int, ...]  # terminals accepting in this state, best first
    alive: dict[int, np.ndarray] = field(default_factory=dict)  # terminal -> packed bits
    any_alive: np.ndarray | None = None
    exits: list[ExitGroup] = field(default_factory=list)
    rest: np.ndarray | None = None  # packed
    rest_any: bool = False
    #: alive tokens that passed an accepting position of a member that then died (None: no such token)
    alive_acc: np.ndarray | None = None
    #: (terminals alive together, packed bits of the tokens with exactly that live set); lazy
    alive_sets: list | None = None


@dataclass
class TailInfo:
    """Static result of lexing a group's token tails from a fresh union state."""

    alive: dict[int, np.ndarray]  # terminal -> packed bits of tokens whose tail keeps it alive
    exits: list[ExitGroup]
    empty: SparseBits | None = None  # tokens with nothing after the lexeme: allowed once it is taken
    open_strings: dict = field(default_factory=dict)  # bounded string terminal -> (ids, tail offsets)
    capped: dict = field(default_factory=dict)  # (terminal, bound) -> SparseBits, filled by the grammar
    alive_sets: list = field(default_factory=list)  # (terminals alive together, SparseBits), per end state


#: union-state analyses and tail analyses kept per tokenizer for sharing across grammars
#: (see Lexer._shared_analysis and Lexer.prefetch_tails)
SHARED_ANALYSES = 512
SHARED_TAILS = 4096
#: tail groups up to this size are finished in plain Python (see Lexer._tail_finish_small)
SMALL_TAILS = 32


def _renumbering(src_canon: list[int], canon: list[int]) -> dict | None:
    """Terminal numbers of a shared analysis -> this grammar's (None: the same numbers)."""
    return None if src_canon == canon else dict(zip(src_canon, canon))


def _renumbered(g: ExitGroup, renum: dict | None) -> ExitGroup:
    """``g`` for another grammar's terminal numbers (rank order, hence ``terms`` order, is shared)."""
    return ExitGroup(g.terms if renum is None else tuple(renum[t] for t in g.terms), g.ids, g.offs, g.value,
                     ckey=g.ckey, digest=g.digest, walk=g.walk)


def _renumbered_tail(ti: "TailInfo", renum: dict | None) -> "TailInfo":
    if renum is None:
        alive, opens, sets = dict(ti.alive), dict(ti.open_strings), list(ti.alive_sets)
    else:
        alive = {renum[t]: b for t, b in ti.alive.items()}
        opens = {renum[t]: v for t, v in ti.open_strings.items()}
        sets = [(tuple(sorted(renum[t] for t in terms)), b) for terms, b in ti.alive_sets]
    return TailInfo(alive, [_renumbered(g, renum) for g in ti.exits], ti.empty, opens, alive_sets=sets)


def _col_weights(m: int, _cache: dict = {}) -> np.ndarray:
    """int64[m] of fixed random odd weights (a column hash; products wrap modulo 2**64)."""
    w = _cache.get(m)
    if w is None:
        w = _cache[m] = np.random.default_rng(m).integers(1, 1 << 62, m, dtype=np.int64) | 1
    return w


class Lexer:
    """Terminal DFAs of one grammar, the union-state table and the static analyses."""

    def __init__(self, terminals: list[Terminal], dfas: list[ByteDFA | None], ignore: frozenset[int],
                 value_terminals: frozenset[int], tok: TokenizerInfo):
        self.terminals = terminals
        self.dfas = dfas
        self.ignore = ignore
        self.value_terminals = value_terminals
        self.tok = tok
        self.store = MaskStore.for_tokenizer(tok)
        # rank: literal first, then priority, then definition order
        order = sorted(
            range(len(terminals)),
            key=lambda i: (terminals[i].literal is None, -terminals[i].priority, i),
        )
        self.rank = [0] * len(terminals)
        for r, i in enumerate(order):
            self.rank[i] = r
        self.rows = [d.rows if d is not None else None for d in dfas]
        self.accepts = [d.accept_list if d is not None else None for d in dfas]
        self.completes = [d.complete.tolist() if d is not None else None for d in dfas]
        # prefix-free terminals accept only where no byte continues them (literals, quoted strings)
        self.prefix_free = [d is not None and bool((d.complete == d.accept).all()) for d in dfas]
        self.unions: list[tuple[tuple[int, int], ...]] = []
        self.union_ids: dict[tuple, int] = {}
        self.union_accepting: list[tuple[int, ...]] = []
        self.union_has_value: list[bool] = []
        self.union_done: list[bool] = []  # every member complete and a value terminal among them
        self.union_prefix_free: list[bool] = []  # no member can accept before its lexeme is over
        # (uid << 8 | byte) -> next uid: int keys keep the dict out of the garbage collector's
        # traversals (a dict of atomic keys and values is untracked) and hash faster than tuples
        self.trans: dict[int, int] = {}
        self.infos: dict[int, UnionInfo] = {}
        self.tails: dict[tuple, TailInfo] = {}
        self.fresh_ids: dict[frozenset, int] = {}
        self._merged: dict[tuple, ExitGroup] = {}
        self._groups: dict[tuple, ExitGroup] = {}
        self._exits_within: dict[tuple[int, int], list[ExitGroup]] = {}
        self._canons: dict[int, tuple | None] = {}
        self._first_rows: dict[int, np.ndarray] = {}
        self._first_ok: dict[int, np.ndarray] = {}
        self._dense: np.ndarray | None = None  # union transitions as a table (see _dense_tables)
        self._dense_acc = np.zeros(1, dtype=bool)
        self.words = tok.mask_words

    # ------------------------------------------------------------------ union states
    def intern(self, members: tuple[tuple[int, int], ...]) -> int:
        uid = self.union_ids.get(members)
        if uid is None:
            uid = len(self.unions)
            self.unions.append(members)
            self.union_ids[members] = uid
            acc = [t for t, s in members if self.accepts[t][s]]
            acc.sort(key=self.rank.__getitem__)
            self.union_accepting.append(tuple(acc))
            self.union_has_value.append(any(t in self.value_terminals for t, _ in members))
            self.union_done.append(bool(members) and self.union_has_value[-1]
                                   and all(self.completes[t][s] for t, s in members))
            self.union_prefix_free.append(all(self.prefix_free[t] for t, _ in members))
        return uid

    def fresh(self, candidates: frozenset[int]) -> int:
        """The union state at a lexeme start, for the parser's candidate terminals."""
        uid = self.fresh_ids.get(candidates)
        if uid is None:
            ts = sorted(t for t in candidates | self.ignore if self.dfas[t] is not None)
            uid = self.fresh_ids[candidates] = self.intern(tuple((t, 0) for t in ts))
        return uid

    def step(self, uid: int, byte: int) -> int:
        """Union transition on one byte; -1 if every terminal dies."""
        key = uid << 8 | byte
        nxt = self.trans.get(key)
        if nxt is None:
            row = self._first_rows.get(uid)
            if row is not None:
                nxt = self.trans[key] = int(row[byte])
                return nxt
            members = []
            for t, s in self.unions[uid]:
                n = self.rows[t][s][byte]
                if n >= 0:
                    members.append((t, n))
            nxt = self.intern(tuple(members)) if members else -1
            self.trans[key] = nxt
        return nxt

    # ------------------------------------------------------------------ static analyses
    def info(self, uid: int) -> UnionInfo:
        info = self.infos.get(uid)
        if info is None:
            info = self._shared_analysis(uid)
            exits = [self.intern_group(g) for g in info.exits]
            if any(a is not b for a, b in zip(exits, info.exits)):  # a copy: the analysis may be shared
                info = dataclasses.replace(info, exits=exits)
            self.infos[uid] = info
        return info

    def _shared_analysis(self, uid: int) -> UnionInfo:
        """:meth:`_analyse`, shared by every grammar whose union state has the same content.

        An analysis depends only on the members' DFAs and states, their rank order and which
        are value terminals, so it is keyed by those (DFA content hashes, not terminal numbers)
        in the tokenizer's store and renumbered for this grammar: e.g. every JSON schema that
        starts with an object has the same start state (whitespace or ``{``), analysed once
        per process. Cost: a dict entry with the analysis' arrays (LRU, ``SHARED_ANALYSES``)."""
        c = self._canon(uid)
        if c is None:  # a terminal in two states: analysed here (rare)
            return self._analyse(uid)
        key, canon = c
        members = self.unions[uid]
        shared = self.store.analyses
        got = shared.get(key)
        if got is None:
            info = self._analyse(uid)
            for i, g in enumerate(info.exits):
                g.ckey = (key, i)
            shared[key] = (info, canon)
            if len(shared) > SHARED_ANALYSES:
                shared.popitem(last=False)
            return info
        shared.move_to_end(key)
        src, src_canon = got
        renum = _renumbering(src_canon, canon)
        if renum is None and src.members == members:
            return src
        info = UnionInfo(members, self.union_accepting[uid])
        info.alive = dict(src.alive) if renum is None else {renum[t]: b for t, b in src.alive.items()}
        info.any_alive, info.rest, info.rest_any, info.alive_acc = src.any_alive, src.rest, src.rest_any, src.alive_acc
        info.exits = [_renumbered(g, renum) for g in src.exits]
        return info

    def _canon(self, uid: int) -> tuple | None:
        """(content key, members' terminals in key order) of union state ``uid``; None when a
        terminal appears in two states. The key holds DFA content hashes, states, which members
        are value terminals, their rank order and string bounds: all an analysis depends on."""
        got = self._canons.get(uid, False)
        if got is not False:
            return got
        members = self.unions[uid]
        ts = [t for t, _ in members]
        if len(set(ts)) != len(ts):
            got = None
        else:
            order = sorted(range(len(members)), key=lambda i: (self.dfas[ts[i]].key, members[i][1]))
            canon = [ts[i] for i in order]
            by_rank = tuple(sorted(range(len(canon)), key=lambda j: self.rank[canon[j]]))
            key = (tuple((self.dfas[t].key, members[i][1], t in self.value_terminals, self.terminals[t].max_chars)
                         for i, t in zip(order, canon)), by_rank)
            got = (key, canon)
        self._canons[uid] = got
        return got

    def _analyse(self, uid: int) -> UnionInfo:
        members = self.unions[uid]
        info = UnionInfo(members, self.union_accepting[uid])
        any_alive = np.zeros(self.words, dtype=np.uint32)
        acc_ids, acc_pos, acc_term = [], [], []
        entries = [(t, self.store.get(self.dfas[t], s)) for t, s in members]
        for t, e in entries:
            if t in info.alive:
                info.alive[t] = info.alive[t] | e.alive
            else:
                info.alive[t] = e.alive
            any_alive |= e.alive
            if len(e.acc_ids):
                acc_ids.append(e.acc_ids)
                acc_pos.append(e.acc_pos.astype(np.int32))
                acc_term.append(np.full(len(e.acc_ids), t, dtype=np.int32))
        done = self._complete_tokens(entries)
        if done is not None:
            # these tokens end the lexeme exactly at their end and a value terminal is among
            # the candidates: they are exits with an empty tail (the value is checked now)
            d_ids, d_pos, d_term, d_bits = done
            keep = ~d_bits
            for t in info.alive:
                info.alive[t] = info.alive[t] & keep
            any_alive &= keep
            acc_ids.append(d_ids)
            acc_pos.append(d_pos)
            acc_term.append(d_term)
        info.any_alive = any_alive
        exit_ids = np.zeros(0, dtype=np.int32)
        if acc_ids:
            ids = np.concatenate(acc_ids)
            pos = np.concatenate(acc_pos)
            term = np.concatenate(acc_term)
            # tokens alive in some terminal continue the lexeme: not exits
            inside = (any_alive[ids >> 5] >> (ids & 31).astype(np.uint32)) & 1
            keep = inside == 0
            if not keep.all():
                info.alive_acc = pack_ids(ids[~keep], self.words)
            ids, pos, term = ids[keep], pos[keep], term[keep]
            info.exits, exit_ids = self._group_exits(ids, pos, term)
        rest = self.store.walked_bits & ~any_alive
        if len(exit_ids):
            rest &= ~pack_ids(exit_ids, self.words)
        info.rest = rest
        info.rest_any = bool(rest.any())
        return info

    def alive_sets(self, uid: int) -> list:
        """The alive tokens of union state ``uid`` grouped by which terminals each keeps alive:
        ``[(terminals, packed bits)]``. Built on first use (only nondeterministic parsers ask)."""
        info = self.info(uid)
        if info.alive_sets is None:
            terms = [t for t, bits in info.alive.items() if bits.any()]
            if len(terms) <= 1:
                info.alive_sets = [(tuple(terms), info.alive[terms[0]])] if terms else []
            else:
                rows = np.stack([np.unpackbits(info.alive[t].view(np.uint8), bitorder="little") for t in terms])
                ids = np.flatnonzero(rows.any(axis=0))
                key = np.packbits(rows[:, ids], axis=0).T  # one row of member bits per token
                kv = np.ascontiguousarray(key).view(np.dtype((np.void, key.shape[1]))).ravel()
                _, inv = np.unique(kv, return_inverse=True)
                order = np.argsort(inv, kind="stable")
                bounds = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0, True])
                out = []
                for j in range(len(bounds) - 1):
                    ks = order[bounds[j]:bounds[j + 1]]
                    member = rows[:, ids[ks[0]]].astype(bool)
                    out.append((tuple(t for t, on in zip(terms, member) if on), pack_ids(ids[ks], self.words)))
                info.alive_sets = out
        return info.alive_sets

    def _complete_tokens(self, entries):
        """Tokens after which every live member terminal is complete, with a value terminal among
        them: (ids, token lengths, terminal, packed ids) triples, one per (token, complete terminal);
        None if there are none."""
        if not any(t in self.value_terminals and len(e.done_ids) for t, e in entries):
            return None
        open_alive = np.zeros(self.words, dtype=np.uint32)
        for t, e in entries:
            open_alive |= e.alive & ~pack_ids(e.done_ids, self.words) if len(e.done_ids) else e.alive
        sh = lambda ids: (ids & 31).astype(np.uint32)  # noqa: E731
        cand = [e.done_ids for t, e in entries if t in self.value_terminals and len(e.done_ids)]
        cand = np.unique(np.concatenate(cand))
        cand = cand[((open_alive[cand >> 5] >> sh(cand)) & 1) == 0]
        if not len(cand):
            return None
        lengths = self.tok.walk_table.lengths[self.tok.walk_table.row_of[cand]]
        ids, pos, term = [], [], []
        for t, e in entries:
            if len(e.done_ids):
                sel = np.isin(cand, e.done_ids, assume_unique=True)
                if sel.any():
                    ids.append(cand[sel])
                    pos.append(lengths[sel].astype(np.int32))
                    term.append(np.full(int(sel.sum()), t, dtype=np.int32))
        return (np.concatenate(ids).astype(np.int32), np.concatenate(pos), np.concatenate(term),
                pack_ids(cand, self.words))

    def _group_exits(self, ids, pos, term):
        """Group (token, last-accept pos, terminal) triples by the best lexeme end per token."""
        if len(ids) == 0:
            return [], ids
        dups = int(np.bincount(ids, minlength=1).max()) > 1
        if not dups or term.min() == term.max():
            # each token exits one way (the usual case, e.g. a whitespace-or-`{` start state):
            # no ranking needed, and a scatter over the vocabulary sorts the ids in O(V)
            return self._unique_exits(ids, pos, term, dups)
        rank = np.asarray(self.rank, dtype=np.int32)[term]
        order = np.lexsort((rank, -pos, ids))
        ids, pos, term = ids[order], pos[order], term[order]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        start_idx = np.flatnonzero(first)
        best_pos = np.repeat(pos[start_idx], np.diff(np.append(start_idx, len(ids))))
        at_best = pos == best_pos
        ids, pos, term = ids[at_best], pos[at_best], term[at_best]
        first = np.ones(len(ids), dtype=bool)
        first[1:] = ids[1:] != ids[:-1]
        starts = np.flatnonzero(first)
        uniq_ids = ids[starts]
        uniq_pos = pos[starts]
        counts = np.diff(np.append(starts, len(ids)))
        first_term = term[starts]
        is_value = np.zeros(len(self.terminals), dtype=bool)
        is_value[list(self.value_terminals)] = True
        simple = (counts == 1) & ~is_value[first_term]
        out = []
        # common case, vectorised: one terminal, no value needed
        if simple.any():
            st = first_term[simple]
            sid, spos = uniq_ids[simple], uniq_pos[simple]
            for t in np.unique(st).tolist():
                sel = st == t
                out.append(ExitGroup((t,), sid[sel].astype(np.int32), spos[sel].astype(np.int32), None))
        # one value terminal: grouped by (terminal, the token bytes up to the lexeme end), vectorised
        single = (counts == 1) & is_value[first_term]
        if single.any():
            out.extend(self._value_groups(first_term[single], uniq_ids[single], uniq_pos[single]))
        # ties (several terminals end the lexeme at the same place, e.g. a known key's literal
        # and the additional-key string on every closing token): grouped by the terminals,
        # best first, then by value bytes when a value terminal is among them, vectorised
        ks = np.flatnonzero(~simple & ~single)
        if len(ks):
            cmax = int(counts[ks].max())
            mat = np.full((len(ks), cmax), -1, dtype=np.int64)
            for j in range(cmax):
                has = counts[ks] > j
                mat[has, j] = term[starts[ks[has]] + j]
            rows, inv = np.unique(mat, axis=0, return_inverse=True)
            inv = inv.ravel()
            for r in range(len(rows)):
                sig = tuple(int(x) for x in rows[r] if x >= 0)
                sel = ks[inv == r]
                gi, gp = uniq_ids[sel].astype(np.int32), uniq_pos[sel].astype(np.int32)
                if any(t in self.value_terminals for t in sig):
                    out.extend(self._value_groups(np.zeros(len(sel), dtype=np.int32), gi, gp, sig))
                else:
                    out.append(ExitGroup(sig, gi, gp, None))
        return out, uniq_ids

    def _unique_exits(self, ids, pos, term, dups: bool):
        """:meth:`_group_exits` when no token exits by two terminals (``dups``: all exit by one
        terminal, some tokens at several positions)."""
        if dups:
            # one terminal, several accepting positions for a token: keep the longest
            order = np.lexsort((-pos, ids))
            ids, pos, term = ids[order], pos[order], term[order]
            first = np.ones(len(ids), dtype=bool)
            first[1:] = ids[1:] != ids[:-1]
            ids, pos, term = ids[first], pos[first], term[first]
        V = self.tok.vocab_size
        tok_term = np.full(V, -1, dtype=np.int32)
        tok_pos = np.zeros(V, dtype=np.int32)
        tok_term[ids] = term
        tok_pos[ids] = pos
        uniq = np.flatnonzero(tok_term >= 0).astype(np.int32)
        t_of, p_of = tok_term[uniq], tok_pos[uniq]
        out: list[ExitGroup] = []
        values = []
        for t in np.unique(t_of).tolist():
            sel = t_of == t
            if t in self.value_terminals:
                values.append((t, uniq[sel], p_of[sel]))
            else:
                out.append(ExitGroup((t,), uniq[sel], p_of[sel], None))
        for t, vi, vp in values:
            out.extend(self._value_groups(np.full(len(vi), t, dtype=np.int32), vi, vp))
        return out, uniq

    def _value_groups(self, term: np.ndarray, ids: np.ndarray, pos: np.ndarray,
                      terms: tuple[int, ...] | None = None) -> list[ExitGroup]:
        """ExitGroups for tokens that end a value terminal's lexeme, one per (terminal, value bytes);
        ``terms``: the terminals of every group (a tie), instead of ``(term[k],)``."""
        wt = self.tok.walk_table
        width = int(pos.max())
        head = wt.data[wt.row_of[ids], :width].copy()
        head[np.arange(width)[None, :] >= pos[:, None]] = 0
        key = np.concatenate([term.astype(">i4").view(np.uint8).reshape(-1, 4),
                              pos.astype(">i2").view(np.uint8).reshape(-1, 2), head], axis=1)
        key = np.ascontiguousarray(key).view(np.dtype((np.void, key.shape[1]))).ravel()
        _, first, inv = np.unique(key, return_index=True, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        bounds = np.flatnonzero(np.r_[True, np.diff(inv[order]) != 0, True]).tolist()
        tb = self.tok.token_bytes
        # one group per value: slices (views) of the sorted arrays, no per-group conversions
        sid, spos = ids[order].astype(np.int32), pos[order].astype(np.int32)
        heads = zip(bounds[:-1], bounds[1:], sid[bounds[:-1]].tolist(), spos[bounds[:-1]].tolist(),
                    term[order][bounds[:-1]].tolist())
        return [ExitGroup(terms or (t,), sid[a:b], spos[a:b], tb[i][:p]) for a, b, i, p, t in heads]

    def exits_within(self, uid: int, within: int) -> list[ExitGroup]:
        """The exit groups of ``uid`` holding some token of ``within``'s ``rest`` (cached)."""
        key = (uid, within)
        got = self._exits_within.get(key)
        if got is None:
            rest = self.info(within).rest
            got = self._exits_within[key] = [
                g for g in self.info(uid).exits
                if ((rest[g.ids >> 5] >> (g.ids & 31).astype(np.uint32)) & 1).any()]
        return got

    def intern_group(self, g: ExitGroup) -> ExitGroup:
        """The group equal to ``g`` (same terminals, value, tokens and offsets) seen first.

        Each tail analysis makes its own sub-exit groups, and the same ones recur under many
        parents: on the stdlib, 33k group objects held 1.6k distinct contents (a run of
        dashes lexes ``-`` after ``-`` under every operator that can precede it). The parser-side
        tail caches are keyed by group identity, so equal groups now share their results and
        their tail lexing. Cost: one 128-bit digest of the group's arrays per group object (kept
        on it, and on its renumbered copies, so a shared analysis is digested once per process)."""
        d = g.digest
        if d is None:
            h = hashlib.blake2b(g.ids.tobytes(), digest_size=16)
            h.update(g.offs.tobytes())
            d = g.digest = h.digest()
        key = (g.terms, g.value, len(g.ids), d)
        got = self._groups.get(key)
        if got is not None and ((got.ids is g.ids and got.offs is g.offs)
                                or (np.array_equal(got.ids, g.ids) and np.array_equal(got.offs, g.offs))):
            return got
        if len(self._groups) >= 1_000_000:  # bounded; clearing only costs sharing
            self._groups.clear()
        self._groups[key] = g
        return g

    def merged(self, groups: list[ExitGroup]) -> ExitGroup:
        """One group with the tokens of ``groups`` (same terminals, values that the parser
        treated alike), interned so its tail analysis is computed once."""
        key = tuple(id(g) for g in groups)
        got = self._merged.get(key)
        if got is None:
            got = ExitGroup(groups[0].terms, np.concatenate([g.ids for g in groups]),
                            np.concatenate([g.offs for g in groups]), None)
            got._parts = groups  # type: ignore[attr-defined]  # keeps the ids in `key` valid
            if all(g.ckey is not None for g in groups):  # its content is its members' in order
                got.ckey = ("merged",) + tuple(g.ckey for g in groups)
            # never evicted: caches elsewhere are keyed by id(group)
            self._merged[key] = got
        return got

    def union_walk(self, uid0: int, rows: np.ndarray, offs: np.ndarray):
        """Walk token rows (from ``offs``) through the union DFA from ``uid0``, vectorised.

        Distinct (state, byte) pairs are resolved through the lazily built
        union transition table, so one pass covers every member terminal.
        Returns ``(end_uid, acc_pos, acc_uid)``: the union state at the token
        end (-1 if it died), and the last accepting position and state (-1).
        """
        wt = self.tok.walk_table
        n = len(rows)
        if n <= 24:  # a few rows: stepping in Python beats numpy's per-call overhead
            return self._walk_small(uid0, rows, offs)
        end = np.full(n, -1, dtype=np.int64)
        acc_pos = np.full(n, -1, dtype=np.int32)
        acc_uid = np.full(n, -1, dtype=np.int64)
        cur = np.full(n, uid0, dtype=np.int64)
        pos = offs.astype(np.int32, copy=True)
        rem = wt.lengths[rows] - pos
        idx = np.arange(n)
        table, acc_arr = self._dense_tables()
        while len(idx):
            done = rem[idx] <= 0
            if done.any():
                end[idx[done]] = cur[idx[done]]
                idx = idx[~done]
                if not len(idx):
                    break
            c, b = cur[idx], wt.data[rows[idx], pos[idx]]
            nxt = table[c, b]
            unknown = nxt == -2
            if unknown.any():  # fill the table from the transition dict (or step) for the few new pairs
                table, acc_arr = self._fill_dense(np.unique(c[unknown] * 256 + b[unknown]).tolist())
                nxt = table[c, b]
            nxt = nxt.astype(np.int64)
            a = acc_arr[nxt]  # nxt == -1 reads the last entry, which is kept False
            ok = nxt >= 0
            idx, nxt, a = idx[ok], nxt[ok], a[ok]
            cur[idx] = nxt
            pos[idx] += 1
            rem[idx] -= 1
            if a.any():
                acc_pos[idx[a]] = pos[idx[a]]
                acc_uid[idx[a]] = nxt[a]
        return end, acc_pos, acc_uid

    def _dense_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(int32[union states, 256] transitions, -2 where not known yet; bool[union states + 1]
        accepting, its last entry False for the dead state -1), grown to cover every union
        state: one gather per walk step instead of sorting the (state, byte) pairs."""
        n = len(self.unions)
        t = self._dense
        if t is None or len(t) < n:
            cap = max(256, 1 << (n - 1).bit_length())
            grown = np.full((cap, 256), -2, dtype=np.int32)
            if t is not None:
                grown[: len(t)] = t
            self._dense = t = grown
        if len(self._dense_acc) != n + 1:
            self._dense_acc = np.array([bool(a) for a in self.union_accepting] + [False], dtype=bool)
        return t, self._dense_acc

    def _fill_dense(self, pairs: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Resolve transition keys ``uid << 8 | byte`` into the dense table (new states may be
        interned on the way, so the tables are returned again)."""
        trans, step = self.trans, self.step
        got = []
        for p in pairs:
            v = trans.get(p)
            got.append(step(p >> 8, p & 255) if v is None else v)
        table, acc = self._dense_tables()
        for p, v in zip(pairs, got):
            table[p >> 8, p & 255] = v
        return table, acc

    def _walk_small(self, uid0: int, rows: np.ndarray, offs: np.ndarray):
        """:meth:`union_walk` one row at a time (same results)."""
        tb, ids = self.tok.token_bytes, self.tok.walk_table.ids
        step, accepting = self.step, self.union_accepting
        n = len(rows)
        end, acc_pos, acc_uid = [-1] * n, [-1] * n, [-1] * n
        for i, (t, o) in enumerate(zip(ids[rows].tolist(), offs.tolist())):
            data = tb[t]
            u = uid0
            for j in range(o, len(data)):
                u = step(u, data[j])
                if u < 0:
                    break
                if accepting[u]:
                    acc_pos[i], acc_uid[i] = j + 1, u
            else:
                end[i] = u
        return (np.asarray(end, dtype=np.int64), np.asarray(acc_pos, dtype=np.int32),
                np.asarray(acc_uid, dtype=np.int64))

    def walk_tails(self, uid0: int, rows: np.ndarray, offs: np.ndarray, first: np.ndarray | None = None,
                   part: tuple | None = None):
        """:meth:`union_walk` of token tails, cheaper for the big groups.

        An exit group can hold most of the vocabulary (after ``:`` with flexible
        whitespace, every token that starts with a blank exits the colon), and most of those
        tails die on their first byte: only tokens whose first tail byte the start state takes
        are walked, each distinct tail once (``foo(`` and ``bar(`` share ``(``); positions come
        back relative to each row's own offset. The survivors are found from ``part`` (a
        group's rows sorted by first tail byte, see :meth:`walk_index`: cost in survivors),
        else from ``first`` (the first tail bytes) or the walk table (cost in rows)."""
        n = len(rows)
        if n < 512 and part is None:  # small groups: the plain walk is cheaper than the bookkeeping
            return self.union_walk(uid0, rows, offs)
        end = np.full(n, -1, dtype=np.int64)
        acc_pos = np.full(n, -1, dtype=np.int32)
        acc_uid = np.full(n, -1, dtype=np.int64)
        if part is not None:
            order, bounds = part
            ok = self.first_ok(uid0)
            spans = [(bounds[c], bounds[c + 1]) for c in np.flatnonzero(ok).tolist()
                     if bounds[c + 1] > bounds[c]]
            if not spans:
                return end, acc_pos, acc_uid
            k = order[spans[0][0]:spans[0][1]] if len(spans) == 1 else \
                np.concatenate([order[x:y] for x, y in spans])
        else:
            if first is None:
                first = self.tok.walk_table.data[rows, offs]
            k = np.flatnonzero(self.first_ok(uid0)[first])
            if not len(k):
                return end, acc_pos, acc_uid
        end[k], acc_pos[k], acc_uid[k] = self._walk_distinct(uid0, rows[k], offs[k])
        return end, acc_pos, acc_uid

    def _walk_distinct(self, uid0: int, r: np.ndarray, o: np.ndarray):
        """:meth:`union_walk` of many tails, each distinct tail walked once."""
        wt = self.tok.walk_table
        n = len(r)
        if n >= 2048:
            lens = wt.lengths[r] - o
            width = min(int(lens.max()), 24)
            if (lens <= width).all():
                cols = np.minimum(o[:, None] + np.arange(width)[None, :], wt.data.shape[1] - 1)
                key = np.zeros((n, width + 1), dtype=np.uint8)
                key[:, :width] = np.where(np.arange(width)[None, :] < lens[:, None], wt.data[r[:, None], cols], 0)
                key[:, width] = lens  # tails that differ only by trailing zero bytes stay apart
                kv = np.ascontiguousarray(key).view(np.dtype((np.void, width + 1))).ravel()
                _, first, inv = np.unique(kv, return_index=True, return_inverse=True)
                if len(first) < n:
                    e, ap, au = self.union_walk(uid0, r[first], o[first])
                    rel = np.where(ap >= 0, ap - o[first], -1)[inv]
                    return e[inv], np.where(rel >= 0, rel + o, -1).astype(np.int32), au[inv]
        return self.union_walk(uid0, r, o)

    def first_ok(self, uid: int) -> np.ndarray:
        """bool[256]: the bytes some terminal of ``uid`` can take."""
        ok = self._first_ok.get(uid)
        if ok is None:
            ok = self._first_ok[uid] = self.first_row(uid) >= 0
        return ok

    def walk_index(self, g: ExitGroup) -> tuple:
        """(walk-table rows, empty tail, first tail byte, partition) of ``g``'s tokens, kept on
        the group: a group is lexed from many fresh states, and finding a big group's few
        survivors by gathering every first tail byte cost more than walking them. The partition
        (big groups only) is (the non-empty rows sorted by first tail byte, where each byte's
        run starts): the survivors from a start state are then a few slices."""
        got = g.walk
        if got is None:
            wt = self.tok.walk_table
            rows = wt.row_of[g.ids]
            empty = g.offs >= wt.lengths[rows]
            first = wt.data[rows, np.minimum(g.offs, wt.data.shape[1] - 1)]
            part = None
            if len(rows) - int(empty.sum()) >= 512:  # big: its rows by first tail byte
                nz = np.flatnonzero(~empty)
                order = nz[np.argsort(first[nz], kind="stable")]
                part = (order, np.searchsorted(first[order], np.arange(257)).tolist())
            got = g.walk = (rows, empty, first, part)
        return got

    def first_row(self, uid: int) -> np.ndarray:
        """int64[256]: the union state after each byte from ``uid`` (-1: every terminal dies)."""
        row = self._first_rows.get(uid)
        if row is None:
            row = self._first_rows[uid] = self._first_row(uid)
        return row

    def _first_row(self, uid: int) -> np.ndarray:
        """:meth:`first_row` built from the members' transition rows at once: only the distinct
        byte columns (which members survive, in which states) are interned, a few per state
        instead of 256 Python steps (a fresh union state of a big schema has dozens of members)."""
        members = self.unions[uid]
        row = np.full(256, -1, dtype=np.int64)
        if not members:
            return row
        ts = [t for t, _ in members]
        nxt = np.stack([self.dfas[t].trans[s] for t, s in members]).astype(np.int64)  # (M, 256)
        # columns grouped by a random linear hash, checked exactly (np.unique(axis=0) is ~100x slower)
        h = (nxt + 1).T @ _col_weights(len(ts))
        _, first, inv = np.unique(h, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        if not np.array_equal(nxt[:, first[inv]], nxt):  # a collision: never seen, but stay exact
            first, inv = np.arange(256), np.arange(256)
        for j, col in enumerate(nxt[:, first].T.tolist()):
            got = [(t, n) for t, n in zip(ts, col) if n >= 0]
            row[inv == j] = self.intern(tuple(got)) if got else -1
        return row

    def tail_info(self, group: ExitGroup, fresh_uid: int) -> TailInfo:
        """Lex the tails of ``group``'s tokens from the fresh union state ``fresh_uid``."""
        ti = self.tails.get((id(group), fresh_uid))
        if ti is None:
            self.prefetch_tails([(group, fresh_uid)])
            ti = self.tails[(id(group), fresh_uid)]
        return ti

    def prefetch_tails(self, pairs) -> None:
        """Compute the missing :meth:`tail_info` of several (group, fresh state) pairs with one
        vectorised walk per fresh state (small groups are dominated by per-walk overhead)."""
        need: dict[int, dict[int, ExitGroup]] = {}
        shared = self.store.tails
        for g, f in pairs:
            if (id(g), f) not in self.tails:
                skey = self._tail_key(g, f)
                got = shared.get(skey) if skey is not None else None
                if got is not None:  # the same tails, lexed for another grammar: renumber them
                    shared.move_to_end(skey)
                    src, src_canon = got
                    self._keep_tail(g, f, _renumbered_tail(src, _renumbering(src_canon, self._canons[f][1])))
                    continue
                need.setdefault(f, {})[id(g)] = g
        for f, gd in need.items():
            gs = list(gd.values())
            parts = [self.walk_index(g) for g in gs]
            part = None
            if len(gs) > 1:
                ids = np.concatenate([g.ids for g in gs])
                offs = np.concatenate([g.offs for g in gs])
                rows, empty, first = (np.concatenate([p[j] for p in parts]) for j in range(3))
            else:
                ids, offs, (rows, empty, first, part) = gs[0].ids, gs[0].offs, parts[0]
            # a token that ended exactly with the lexeme has nothing left to lex
            end = np.full(len(ids), -1, dtype=np.int64)
            acc_pos = np.full(len(ids), -1, dtype=np.int32)
            acc_uid = np.full(len(ids), -1, dtype=np.int64)
            walk = ~empty
            if part is not None:  # the partition holds the non-empty rows only
                end, acc_pos, acc_uid = self.walk_tails(f, rows, offs, part=part)
            elif walk.all():
                end, acc_pos, acc_uid = self.walk_tails(f, rows, offs, first)
            elif walk.any():
                e, ap, au = self.walk_tails(f, rows[walk], offs[walk], first[walk])
                end[walk], acc_pos[walk], acc_uid[walk] = e, ap, au
            start = 0
            for g in gs:
                sl = slice(start, start + len(g.ids))
                start += len(g.ids)
                ti = self._keep_tail(g, f, self._tail_finish(ids[sl], rows[sl], offs[sl], empty[sl], end[sl],
                                                             acc_pos[sl], acc_uid[sl]))
                skey = self._tail_key(g, f)
                if skey is not None:
                    for i, e in enumerate(ti.exits):
                        if e.ckey is None:  # an interned group keeps the content key it has
                            e.ckey = (skey, i)
                    shared[skey] = (ti, self._canons[f][1])
                    if len(shared) > SHARED_TAILS:
                        shared.popitem(last=False)

    def _keep_tail(self, g: ExitGroup, f: int, ti: TailInfo) -> TailInfo:
        """Cache ``ti`` as the tails of ``g`` from fresh state ``f``, its exits interned."""
        ti.exits = [self.intern_group(e) for e in ti.exits]
        ti._group = g  # type: ignore[attr-defined]  # keeps id(g) valid while cached
        self.tails[(id(g), f)] = ti
        return ti

    def _tail_key(self, g: ExitGroup, f: int) -> tuple | None:
        """Content key of the tails of ``g`` lexed from fresh state ``f`` (None: not shareable).

        A tail analysis depends on the group's tokens and offsets (fixed by ``g.ckey``) and on
        the fresh state's content (its canonical key), so grammars share it like analyses."""
        if g.ckey is None:
            return None
        c = self._canon(f)
        return None if c is None else (g.ckey, c[0])

    def _tail_finish(self, ids, rows, offs, empty, end, acc_pos, acc_uid) -> TailInfo:
        """Group walked tails into a :class:`TailInfo`: tokens with no tail, tokens alive in
        each terminal at their end, and exit groups by (terminals accepting at the last accept,
        the value bytes when a value terminal is among them)."""
        if len(ids) <= SMALL_TAILS:
            return self._tail_finish_small(ids, rows, offs, empty, end, acc_pos, acc_uid)
        wt = self.tok.walk_table
        empty_bits = SparseBits(ids[empty]) if empty.any() else None
        if empty_bits is not None:
            keep = ~empty
            ids, rows, offs, end, acc_pos, acc_uid = (x[keep] for x in (ids, rows, offs, end, acc_pos, acc_uid))
        # a tail that ends in a complete state of a value terminal ends that lexeme too: an exit
        live = end >= 0
        done = np.zeros(len(ids), dtype=bool)
        if live.any():
            ud = self.union_done
            done[live] = [ud[u] for u in end[live].tolist()]
        live &= ~done
        alive: dict[int, list] = {}
        if live.any():
            lk = np.flatnonzero(live)
            uu, inv = np.unique(end[lk], return_inverse=True)
            for j, u in enumerate(uu.tolist()):
                sel = lk[inv == j]
                for t, _ in self.unions[u]:
                    alive.setdefault(t, []).append(sel)
        alive_sets = []
        if live.any():
            for j, u in enumerate(uu.tolist()):
                alive_sets.append((tuple(t for t, _ in self.unions[u]), SparseBits(ids[lk[inv == j]])))
        alive_ks = {t: (v[0] if len(v) == 1 else np.concatenate(v)) for t, v in alive.items()}
        alive_bits = {t: SparseBits(ids[k]) for t, k in alive_ks.items()}
        exits: list[ExitGroup] = []
        dead = (end < 0) & (acc_pos > offs)
        if done.any():
            acc_pos = acc_pos.copy()
            acc_uid = acc_uid.copy()
            acc_pos[done] = wt.lengths[rows[done]]
            acc_uid[done] = end[done]
            dead |= done
        if dead.any():
            dk = np.flatnonzero(dead)
            uu, inv = np.unique(acc_uid[dk], return_inverse=True)
            plain: dict[tuple, list] = {}
            valued: dict[tuple, list[int]] = {}
            tb = self.tok.token_bytes
            for j, u in enumerate(uu.tolist()):
                terms = self.union_accepting[u]
                sel = dk[inv == j]
                if any(t in self.value_terminals for t in terms):
                    for k in sel.tolist():
                        valued.setdefault((terms, tb[int(ids[k])][int(offs[k]) : int(acc_pos[k])]), []).append(k)
                else:
                    plain.setdefault(terms, []).append(sel)
            for terms, parts in plain.items():
                ks = parts[0] if len(parts) == 1 else np.concatenate(parts)
                exits.append(ExitGroup(terms, ids[ks], acc_pos[ks].astype(np.int32), None))
            for (terms, value), ks in valued.items():
                ks = np.asarray(ks)
                exits.append(ExitGroup(terms, ids[ks], acc_pos[ks].astype(np.int32), value))
        return TailInfo(alive_bits, exits, empty_bits,
                        {t: (ids[k], offs[k]) for t, k in alive_ks.items() if self.terminals[t].max_chars is not None},
                        alive_sets=alive_sets)

    def _tail_finish_small(self, ids, rows, offs, empty, end, acc_pos, acc_uid) -> TailInfo:
        """:meth:`_tail_finish` for a few tokens (most tail groups), in plain Python: the same
        groups in the same order, without a dozen numpy calls per group."""
        lengths = self.tok.walk_table.lengths[rows].tolist()
        ids_l, offs_l, end_l, ap_l, au_l = ids.tolist(), offs.tolist(), end.tolist(), acc_pos.tolist(), acc_uid.tolist()
        empty_l = empty.tolist()
        ud, unions, accepting, tb = self.union_done, self.unions, self.union_accepting, self.tok.token_bytes
        empty_ids = [i for i, e in zip(ids_l, empty_l) if e]
        by_end: dict[int, list[int]] = {}  # live end state -> positions
        by_acc: dict[int, list[int]] = {}  # last accept state -> positions (dead, or done at the end)
        for k in range(len(ids_l)):
            if empty_l[k]:
                continue
            e = end_l[k]
            if e >= 0 and not ud[e]:
                by_end.setdefault(e, []).append(k)
            elif e >= 0:  # ends in a complete state of a value terminal: an exit at the token end
                ap_l[k], au_l[k] = lengths[k], e
                by_acc.setdefault(e, []).append(k)
            elif ap_l[k] > offs_l[k]:
                by_acc.setdefault(au_l[k], []).append(k)
        alive: dict[int, list[int]] = {}
        alive_sets = []
        for u in sorted(by_end):
            ks = by_end[u]
            for t, _ in unions[u]:
                alive.setdefault(t, []).extend(ks)
            alive_sets.append((tuple(t for t, _ in unions[u]), SparseBits(np.asarray([ids_l[k] for k in ks]))))
        plain: dict[tuple, list[int]] = {}
        valued: dict[tuple, list[int]] = {}
        for u in sorted(by_acc):
            terms = accepting[u]
            if any(t in self.value_terminals for t in terms):
                for k in by_acc[u]:
                    valued.setdefault((terms, tb[ids_l[k]][offs_l[k]:ap_l[k]]), []).append(k)
            else:
                plain.setdefault(terms, []).extend(by_acc[u])
        exits = [ExitGroup(terms, np.asarray([ids_l[k] for k in ks], dtype=np.int32),
                           np.asarray([ap_l[k] for k in ks], dtype=np.int32), None) for terms, ks in plain.items()]
        exits += [ExitGroup(terms, np.asarray([ids_l[k] for k in ks], dtype=np.int32),
                            np.asarray([ap_l[k] for k in ks], dtype=np.int32), value)
                  for (terms, value), ks in valued.items()]
        opens = {t: (ids[np.asarray(ks)], offs[np.asarray(ks)]) for t, ks in alive.items()
                 if self.terminals[t].max_chars is not None}
        return TailInfo({t: SparseBits(np.asarray([ids_l[k] for k in ks])) for t, ks in alive.items()}, exits,
                        SparseBits(np.asarray(empty_ids)) if empty_ids else None, opens, alive_sets=alive_sets)

    def nbytes(self) -> int:
        """Bytes held by this grammar's analyses (arrays shared with the store counted once, there)."""
        shared = {id(e.alive) for e in self.store.entries.values()}
        seen: set[int] = set()
        n = 0

        def add(a) -> None:
            nonlocal n
            if id(a) not in seen and id(a) not in shared:
                seen.add(id(a))
                n += a.nbytes

        for info in self.infos.values():
            for a in (*info.alive.values(), info.any_alive, info.rest):
                add(a)
            n += sum(g.ids.nbytes * 2 for g in info.exits)
        for ti in self.tails.values():
            for a in ti.alive.values():
                add(a)
            n += sum(g.ids.nbytes * 2 for g in ti.exits)
        return n
