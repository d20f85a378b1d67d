"""Regex -> byte-level DFA.

interegular builds a character DFA; tokens are bytes, so we lower it: ASCII
characters become single-byte transitions, and every other character range
becomes UTF-8 byte paths through small intermediate states. Ranges are split
at the characters the regex mentions explicitly, so ``[^"\\\\]`` costs a
handful of intermediate states rather than one per code point. Identical
intermediate states are shared (hash-consed).

Only *live* states are kept (those that can still reach an accepting state);
a transition to anything else is ``-1``. So "the walk is still alive" means
"the bytes so far are a prefix of some match".
"""
from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field

import numpy as np

from ..errors import CompileBudgetError, RegexError
from . import crawl as _crawl

_crawl.install()  # interegular's product constructions in linear time (see constrain.fsm.crawl)

DEAD = -1
_MAX_CP = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
# UTF-8 sequence length -> (first code point, last code point, lead-byte base)
_LENGTHS = ((2, 0x80, 0x7FF), (3, 0x800, 0xFFFF), (4, 0x10000, _MAX_CP))


@dataclass(eq=False)
class ByteDFA:
    """A DFA over bytes. ``trans[s, b]`` is the next state or -1; ``start`` is 0."""

    trans: np.ndarray  # int32 [n_states, 256]
    accept: np.ndarray  # bool [n_states]
    key: str  # content hash: identifies the DFA across grammars and processes
    rows: list = field(default_factory=list, repr=False)  # trans as python lists, for per-byte stepping
    literal: bytes | None = None  # set for exact-literal DFAs (state i = the first i bytes matched)

    @classmethod
    def keyed(cls, trans: np.ndarray, accept: np.ndarray, literal: bytes | None = None) -> "ByteDFA":
        """The DFA of this table, with its content key (the hash of the table)."""
        key = hashlib.sha256(trans.tobytes() + accept.tobytes()).hexdigest()[:24]
        return cls(trans, accept, key, literal=literal)

    def __post_init__(self) -> None:
        if not self.rows:
            self.rows = self.trans.tolist()
        self.accept_list = self.accept.tolist()
        self._complete = None

    @property
    def complete(self) -> np.ndarray:
        """bool[n_states]: accepting states that no byte continues (the lexeme is over)."""
        if self._complete is None:
            self._complete = self.accept & (self.trans < 0).all(axis=1)
        return self._complete

    def shortest_accepted(self, prefer: bytes = b"", max_states: int = 4096) -> bytes | None:
        """A shortest byte string the DFA accepts (breadth first, trying the bytes of ``prefer``
        first, then the others in order), or None if there is none within ``max_states``
        visited states."""
        order = list(dict.fromkeys(list(prefer) + list(range(256))))
        rows, accept = self.rows, self.accept_list
        if accept[0]:
            return b""
        back = {0: None}
        frontier = [0]
        while frontier and len(back) <= max_states:
            nxt = []
            for s in frontier:
                row = rows[s]
                for b in order:
                    t = row[b]
                    if t >= 0 and t not in back:
                        back[t] = (s, b)
                        if accept[t]:
                            out = bytearray()
                            while back[t] is not None:
                                t, c = back[t]
                                out.append(c)
                            return bytes(reversed(out))
                        nxt.append(t)
            frontier = nxt
        return None

    @property
    def n_states(self) -> int:
        return len(self.accept)

    def step(self, state: int, data: bytes) -> int:
        """Walk ``data`` from ``state``; -1 if it dies."""
        rows = self.rows
        for b in data:
            state = rows[state][b]
            if state < 0:
                return DEAD
        return state

    def matches(self, data: bytes) -> bool:
        s = self.step(0, data)
        return s >= 0 and self.accept_list[s]

    def __getstate__(self):
        return {"trans": self.trans, "accept": self.accept, "key": self.key, "literal": self.literal}

    def __setstate__(self, d):
        self.trans, self.accept, self.key = d["trans"], d["accept"], d["key"]
        self.literal = d.get("literal")
        self.rows = self.trans.tolist()
        self.accept_list = self.accept.tolist()
        self._complete = None


def regex_to_dfa(regex: str, max_states: int = 20000, name: str | None = None,
                 also: tuple[str, ...] = (), minus: tuple[str, ...] = ()) -> ByteDFA:
    """Compile a regex (interegular syntax) to a live-pruned byte DFA.

    ``also`` / ``minus``: regexes whose languages the result is intersected with / has taken
    away (character-level products, before the UTF-8 lowering): a pattern's leading ECMA
    lookaheads become one exact automaton with it (``ecma_regex.search_parts``).

    Raises :class:`RegexError` for unsupported syntax and
    :class:`CompileBudgetError` when the DFA would exceed ``max_states``.
    """
    what = f"terminal {name}" if name else "regex"
    fsm = _char_fsm(regex, what, name, max_states)
    for rx in also:
        fsm = _checked(fsm.intersection(_char_fsm(rx, what, name, max_states)), regex, what, max_states)
    for rx in minus:
        fsm = _checked(fsm.difference(_char_fsm(rx, what, name, max_states)), regex, what, max_states)
    return _lower_fsm(fsm, regex, max_states, what)


def _char_fsm(regex: str, what: str, name: str | None, max_states: int):
    """interegular's character DFA of ``regex``, with this module's errors."""
    import interegular

    _reject_context(regex, what, name)
    try:
        fsm = interegular.parse_pattern(regex).to_fsm()
    except CompileBudgetError:  # a time limit fired inside interegular (see constrain.budget)
        raise
    except Exception as e:  # interegular raises several exception types
        raise RegexError(f"cannot compile {what} /{regex}/ to a DFA: {type(e).__name__}: {e}", name) from e
    return _checked(fsm, regex, what, max_states)


def _checked(fsm, regex: str, what: str, max_states: int):
    if len(fsm.states) > max_states:
        raise CompileBudgetError(f"{what} /{regex[:80]}/ needs {len(fsm.states)} DFA states (limit {max_states})")
    return fsm


def _reject_context(regex: str, what: str, name: str | None) -> None:
    """Lookarounds, anchors, word boundaries and backreferences depend on context a
    terminal DFA cannot see; interegular would silently change their meaning
    (``a(?=b)`` would consume the ``b``), so they are errors here."""
    try:
        import re._parser as sre_parse  # Python >= 3.11
    except ImportError:  # pragma: no cover
        import sre_parse  # type: ignore
    try:
        tree = sre_parse.parse(regex)
    except Exception as e:
        raise RegexError(f"invalid {what} /{regex[:80]}/: {e}", name) from e
    banned = {"ASSERT": "lookaround", "ASSERT_NOT": "lookaround", "GROUPREF": "backreference",
              "GROUPREF_EXISTS": "conditional group", "AT": "anchor or word boundary"}

    def walk(items) -> None:
        for op, av in items:
            kind = banned.get(str(op))
            if kind:
                raise RegexError(f"{what} /{regex[:80]}/ uses a {kind}, which a token mask cannot express", name)
            if isinstance(av, tuple) or isinstance(av, list):
                for x in av:
                    if isinstance(x, sre_parse.SubPattern):
                        walk(x)
                    elif isinstance(x, (list, tuple)):
                        for y in x:
                            if isinstance(y, sre_parse.SubPattern):
                                walk(y)
            elif isinstance(av, sre_parse.SubPattern):
                walk(av)

    walk(tree)


def _lower_fsm(fsm, regex: str, max_states: int, what: str) -> ByteDFA:
    alphabet = fsm.alphabet
    from interegular.fsm import anything_else

    explicit: dict[str, int] = {}
    other_sym = None
    for ch, sym in alphabet._symbol_mapping.items():
        if ch is anything_else:
            other_sym = sym
        else:
            explicit[ch] = sym
    # order FSM states: initial first
    states = [fsm.initial] + sorted((s for s in fsm.states if s != fsm.initial), key=repr)
    index = {s: i for i, s in enumerate(states)}
    n_fsm = len(states)
    rows: list[list[int]] = []
    accept: list[bool] = []
    for s in states:
        rows.append([DEAD] * 256)
        accept.append(s in fsm.finals)
    node_cache: dict[tuple, int] = {}

    def new_node(row: list[int]) -> int:
        key = tuple(row)
        got = node_cache.get(key)
        if got is not None:
            return got
        if len(rows) >= max_states:
            raise CompileBudgetError(f"{what} needs more than {max_states} byte-DFA states")
        rows.append(row)
        accept.append(False)
        node_cache[key] = len(rows) - 1
        return len(rows) - 1

    chain_cache: dict[tuple[int, int], int] = {}

    def chain(k: int, target: int) -> int:
        """A node reading k continuation bytes (any value) then reaching target."""
        if k == 0 or target == DEAD:
            return target
        key = (k, target)
        if key not in chain_cache:
            nxt = chain(k - 1, target)
            row = [DEAD] * 256
            for b in range(0x80, 0xC0):
                row[b] = nxt
            chain_cache[key] = new_node(row)
        return chain_cache[key]

    non_ascii = sorted(c for c in explicit if ord(c) >= 0x80)
    lead_memo: dict[tuple, list[int]] = {}
    for s in states:
        trans = fsm.map.get(s, {})
        other_t = index[trans[other_sym]] if other_sym is not None and other_sym in trans else DEAD
        row = rows[index[s]]
        for b in range(128):
            ch = chr(b)
            sym = explicit.get(ch, other_sym)
            if sym is not None and sym in trans:
                row[b] = index[trans[sym]]
        # non-ASCII code points as sorted, disjoint intervals with their targets
        bounds: list[int] = []  # interval starts
        targets: list[int] = []
        prev = 0x80
        for ch in non_ascii:
            cp = ord(ch)
            sym = explicit[ch]
            t = index[trans[sym]] if sym in trans else DEAD
            if cp > prev:
                bounds.append(prev)
                targets.append(other_t)
            bounds.append(cp)
            targets.append(t)
            prev = cp + 1
        if prev <= _MAX_CP:
            bounds.append(prev)
            targets.append(other_t)
        if not bounds:
            continue
        # states with the same non-ASCII targets share their lead-byte subtrees (bounds are
        # the same for every state): lower each distinct pattern once
        tkey = tuple(targets)
        got = lead_memo.get(tkey)
        if got is not None:
            row[0xC0:0xF8] = got
            continue

        def target_set(lo: int, hi: int) -> set[int]:
            """Targets of the code points in [lo, hi] (surrogates are dead)."""
            out = set()
            if lo <= _SURROGATES[1] and hi >= _SURROGATES[0]:
                out.add(DEAD)
                if lo >= _SURROGATES[0] and hi <= _SURROGATES[1]:
                    return out
            i = bisect.bisect_right(bounds, lo) - 1
            while i < len(bounds) and bounds[i] <= hi:
                out.add(targets[i])
                i += 1
            return out

        def node_for(lo: int, k: int, vmin: int, vmax: int) -> int:
            """Node reading k continuation bytes for code points [lo, lo + 64**k)."""
            hi = lo + 64**k - 1
            if hi < vmin or lo > vmax:
                return DEAD
            if lo >= vmin and hi <= vmax:
                ts = target_set(lo, hi)
                if len(ts) == 1:
                    return chain(k, ts.pop())
            if k == 0:  # a single code point that is out of the valid range
                return DEAD
            step = 64 ** (k - 1)
            r = [DEAD] * 256
            for c in range(64):
                r[0x80 + c] = node_for(lo + c * step, k - 1, vmin, vmax)
            if all(x == DEAD for x in r):
                return DEAD
            return new_node(r)

        for nbytes, vmin, vmax in _LENGTHS:
            k = nbytes - 1
            lead_base = {2: 0xC0, 3: 0xE0, 4: 0xF0}[nbytes]
            span = 64**k
            for lead in range(lead_base, lead_base + (0x20 if nbytes == 2 else 0x10 if nbytes == 3 else 0x08)):
                lo = (lead - lead_base) * span
                row[lead] = node_for(lo, k, vmin, vmax)
        lead_memo[tkey] = row[0xC0:0xF8]
    return _finish(rows, accept, regex, n_fsm, what)


def _finish(rows: list[list[int]], accept: list[bool], regex: str, n_fsm: int, what: str) -> ByteDFA:
    trans = np.array(rows, dtype=np.int32)
    acc = np.array(accept, dtype=bool)
    live = _live_states(trans, acc)
    if not live[0]:
        raise RegexError(f"{what} /{regex[:80]}/ matches no string")
    # drop the edges into dead states; _canonical then keeps only what the start reaches
    t = np.where((trans >= 0) & live[np.maximum(trans, 0)], trans, DEAD).astype(np.int32)
    return ByteDFA.keyed(*_canonical(*_minimal(*_canonical(t, acc))))


#: Moore refinement gives up (keeps the DFA as it is) past this many state-rounds
MINIMIZE_WORK = 300_000


def _minimal(trans: np.ndarray, accept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equivalent states merged (Moore's partition refinement); the start stays state 0.

    interegular's automata and the UTF-8 lowering leave equivalent states (a hex string's
    byte-pair counter, the shared endings of an enum's trie, date-time digits): 8% of the
    states of a MaskBench sample's terminals, 45% of some. Each state is a mask-store entry
    (a walk of the whole vocabulary) and a distinct lexer state whose masks are computed
    apart, so merging them saves both. Cost: a few ``np.unique`` rounds over the states x
    distinct byte columns; a DFA needing more than ``MINIMIZE_WORK`` state-rounds (a very long
    chain) is kept unminimised, which is only slower."""
    n = len(accept)
    if n <= 2:
        return trans, accept
    cols = np.unique(trans, axis=1)  # the distinct byte columns decide equivalence alike
    cls = accept.astype(np.int64)
    k = len(np.unique(cls))
    rounds = 0
    while True:
        rounds += 1
        if rounds * n > MINIMIZE_WORK:
            return trans, accept
        succ = np.where(cols >= 0, cls[np.maximum(cols, 0)], -1)
        _, new = np.unique(np.concatenate([cls[:, None], succ], axis=1), axis=0, return_inverse=True)
        new = new.ravel()
        k2 = int(new.max()) + 1
        cls = new
        if k2 == k:
            break
        k = k2
    if k == n:
        return trans, accept
    # classes numbered by first member, so the start's class is 0
    first = np.full(k, n, dtype=np.int64)
    np.minimum.at(first, cls, np.arange(n))
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(first)] = np.arange(k)
    cls = rank[cls]
    rep = np.sort(first)
    t = trans[rep]
    t = np.where(t >= 0, cls[np.maximum(t, 0)], DEAD).astype(np.int32)
    return t, accept[rep]


def _canonical(trans: np.ndarray, accept: np.ndarray, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """States renumbered in breadth-first order from ``start`` (which becomes 0), bytes in
    ascending order.

    interegular numbers its states in an order that depends on Python's string hashing, so
    the same regex gave a differently numbered DFA, hence another content key, in every
    process, and the disk cache of mask-store entries never hit across processes. Isomorphic
    DFAs now get equal tables and keys. Cost: one pass over the states (microseconds for
    typical terminals)."""
    n = len(accept)
    new = np.full(n, -1, dtype=np.int64)
    new[start] = 0
    order = [start]
    i = 0
    while i < len(order):
        row = trans[order[i]]
        tg = row[row >= 0]
        if len(tg):
            u, first = np.unique(tg, return_index=True)
            for x in u[np.argsort(first)].tolist():
                if new[x] < 0:
                    new[x] = len(order)
                    order.append(x)
        i += 1
    old = np.asarray(order, dtype=np.int64)  # states the start cannot reach are dropped
    t = trans[old]
    t = np.where(t >= 0, new[np.maximum(t, 0)], DEAD).astype(np.int32)
    return t, accept[old]


def _live_states(trans: np.ndarray, accept: np.ndarray) -> np.ndarray:
    """States from which an accepting state is reachable."""
    live = accept.copy()
    while True:
        tgt = np.where(trans >= 0, trans, 0)
        reach = ((trans >= 0) & live[tgt]).any(axis=1) | live
        if (reach == live).all():
            return live
        live = reach


#: trie nodes (before merging) allowed per state of the final DFA's budget
TRIE_FACTOR = 16


def literals_to_dfa(words, max_states: int = 20000, what: str = "enum") -> ByteDFA:
    """The minimal DFA accepting exactly the given byte strings; no interegular round trip,
    which for thousands of alternatives costs seconds to minutes.

    A sparse trie is built first and its equal subtrees merged from the leaves up (children
    are numbered after their parents, so one pass from the last node keys each node by its
    acceptance and its (byte, merged child) edges); only the merged automaton is laid out as
    a table. ``max_states`` bounds that automaton (an enum's values share their endings: 2,442
    names of 57k characters make a 50k-node trie and a 16.5k-state DFA); the trie may have
    ``TRIE_FACTOR`` times as many nodes. Cost: linear in the characters."""
    words = sorted(set(words))
    if not words or any(not w for w in words):
        raise RegexError(f"{what}: alternatives must be non-empty byte strings")
    limit = TRIE_FACTOR * max_states
    kids: list[dict] = [{}]
    final = [False]
    for w in words:
        s = 0
        for byte in w:
            nxt = kids[s].get(byte)
            if nxt is None:
                if len(kids) > limit:
                    raise CompileBudgetError(f"{what} needs more than {max_states} byte-DFA states")
                nxt = kids[s][byte] = len(kids)
                kids.append({})
                final.append(False)
            s = nxt
        final[s] = True
    rep = [0] * len(kids)
    classes: dict = {}
    rows: list = []  # per class: (accepting, ((byte, class), ...))
    for s in range(len(kids) - 1, -1, -1):
        key = (final[s], tuple(sorted((byte, rep[c]) for byte, c in kids[s].items())))
        got = classes.get(key)
        if got is None:
            got = classes[key] = len(rows)
            rows.append(key)
        rep[s] = got
    if len(rows) > max_states:
        raise CompileBudgetError(f"{what} needs {len(rows)} byte-DFA states (limit {max_states})")
    n = len(rows)
    trans = np.full((n, 256), DEAD, dtype=np.int32)
    acc = np.zeros(n, dtype=bool)
    root = rep[0]
    for c, (fin, edges) in enumerate(rows):
        acc[c] = fin
        for byte, d in edges:
            trans[c, byte] = d
    # classes were numbered leaves first: number them breadth-first from the root
    return ByteDFA.keyed(*_canonical(trans, acc, start=root))


def literal_to_dfa(data: bytes) -> ByteDFA:
    """A DFA accepting exactly ``data`` (no interegular round trip)."""
    n = len(data)
    trans = np.full((n + 1, 256), DEAD, dtype=np.int32)
    for i, b in enumerate(data):
        trans[i, b] = i + 1
    acc = np.zeros(n + 1, dtype=bool)
    acc[n] = True
    return ByteDFA.keyed(trans, acc, literal=bytes(data))
