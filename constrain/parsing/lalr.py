"""An incremental LALR(1) parser over lark's parse table.

The stack is a persistent linked list of interned nodes, so a parser state is
one object, hashing is by identity, ``copy`` is free and rollback is keeping
the old node. Feeding a terminal simulates the reductions on the real stack,
so LALR's delayed errors (a "reduce" on a terminal that fails after the
reductions) are caught exactly. Results are memoised per (node, terminal).

Memory: the interning table and the memo tables are keyed by the node objects
themselves (not ``id()``), so clearing them is always safe, and each is cleared
when it passes ``base.CACHE_LIMIT`` entries (``base.bounded_put``). A long
session (hundreds of source files in one process) then stays bounded instead
of growing without limit (python, stdlib files: RSS flat near 1.3 GB after 20
files; it used to reach 10 GB). After a clear, equal stacks may be distinct
objects, which costs only cache misses (masks are keyed by stack *contents*,
see ``signature``).
"""
from __future__ import annotations

from typing import Sequence

from .base import bounded_put

END = "$END"
#: cells whose states each node keeps at hand for signatures (most reads stay within them)
TOP_CELLS = 12


class Node:
    """One stack cell: an LR state on top of its parent. Interned: equal stacks are the same object."""

    __slots__ = ("state", "parent", "depth", "top", "__weakref__")

    def __init__(self, state: int, parent: "Node | None"):
        self.state = state
        self.parent = parent
        self.depth = 0 if parent is None else parent.depth + 1
        #: the states of the top TOP_CELLS cells, this one first (cache keys read them)
        self.top = (state,) if parent is None else (state,) + parent.top[: TOP_CELLS - 1]

    def __repr__(self) -> str:
        out, n = [], self
        while n is not None:
            out.append(n.state)
            n = n.parent
        return f"Node({out[::-1]})"


class LALRParser:
    """Parser protocol implementation (see :mod:`constrain.parsing.base`)."""

    def __init__(self, parse_table, terminal_index: dict[str, int], start: str = "start",
                 max_depth: int = 100_000):
        self.term_index = terminal_index
        self.names = {i: n for n, i in terminal_index.items()}
        n_states = max(parse_table.states) + 1
        # action[state] : terminal index -> (is_shift, target state | (rule size, origin name))
        self.action: list[dict[int, tuple]] = [dict() for _ in range(n_states)]
        self.goto: list[dict[str, int]] = [dict() for _ in range(n_states)]
        self.end_action: list[tuple | None] = [None] * n_states
        for s, acts in parse_table.states.items():
            for sym, (act, arg) in acts.items():
                sym = str(sym)  # lark uses str subclasses; plain str keeps pickles free of lark
                shift = act.name == "Shift"
                entry = (True, arg) if shift else (False, (len(arg.expansion), str(arg.origin.name)))
                if sym == END:
                    self.end_action[s] = entry
                elif sym in terminal_index:
                    self.action[s][terminal_index[sym]] = entry
                else:
                    self.goto[s][sym] = arg
        self.term_index = {str(k): v for k, v in terminal_index.items()}
        self.names = {i: n for n, i in self.term_index.items()}
        self.start_state = parse_table.start_states[start]
        self.end_state = parse_table.end_states[start]
        self.value_terminals: frozenset[int] = frozenset()
        self.max_depth = max_depth
        self._cands = [frozenset(a) for a in self.action]
        self.safe = self._safe_table()
        self._reset_caches()

    def _safe_table(self) -> list[frozenset[int]]:
        """``safe[s]``: the terminals that every stack with top state ``s`` takes (shifts after
        its reductions), whatever lies below.

        LALR merges lookaheads, so a reduce on ``t`` may fail after the reductions (``)`` after an
        atom inside ``[...]``): feeding ``t`` then reads the stack down to where it is shifted.
        Where the reduction leads to a state that takes ``t`` from *every* state that can lie
        below (an LR(0) state's predecessors at distance n are those its stack can hold n cells
        down), ``t`` is known to be taken without reading further. :meth:`can_feed` stops there,
        so a feedability check reads fewer cells and the masks keyed by what they read are
        shared by more stacks. Least fixpoint (a reduction cycle stays unsafe); cost: one pass
        per reduction-chain length at compile time, about 0.1 s for the python grammar."""
        n = len(self.action)
        rev: list[set[int]] = [set() for _ in range(n)]
        for q in range(n):
            for sh, arg in self.action[q].values():
                if sh:
                    rev[arg].add(q)
            for target in self.goto[q].values():
                rev[target].add(q)
        preds: dict[tuple[int, int], frozenset[int]] = {}

        def pred(s: int, k: int) -> frozenset[int]:
            got = preds.get((s, k))
            if got is None:
                cur = {s}
                for _ in range(k):
                    cur = {q for c in cur for q in rev[c]}
                got = preds[(s, k)] = frozenset(cur)
            return got

        safe = [{t for t, (sh, _) in self.action[s].items() if sh} for s in range(n)]
        # (state, terminal, targets of the reduction) for every reduce entry
        pending = []
        for s in range(n):
            for t, (sh, arg) in self.action[s].items():
                if not sh:
                    size, origin = arg
                    targets = [self.goto[q].get(origin) for q in pred(s, size)]
                    if targets and None not in targets:
                        pending.append((s, t, targets))
        changed = True
        while changed:
            changed = False
            rest = []
            for s, t, targets in pending:
                if all(t in safe[g] for g in targets):
                    safe[s].add(t)
                    changed = True
                else:
                    rest.append((s, t, targets))
            pending = rest
        return [frozenset(x) for x in safe]

    # ---------------------------------------------------------------- read tracking
    # The engine caches masks by the *top k cells* of the stack that the mask's
    # computation actually read, so two stacks that differ only below those
    # cells share the mask exactly. ``_low`` is the lowest depth read so far.

    def track_push(self) -> None:
        self._frames.append(self._low)
        self._low = 1 << 60

    def track_pop(self, node: Node) -> int:
        """End a tracked computation on ``node``: how many top cells it read (>= 1)."""
        low = self._low
        outer = self._frames.pop()
        self._low = min(outer, low)
        return max(1, node.depth - low + 1) if low <= node.depth else 1

    def track_note(self, node: Node, k: int) -> None:
        """Record that the top ``k`` cells of ``node`` were relied on (a cache hit)."""
        d = node.depth - k + 1
        if d < self._low:
            self._low = d

    def signature(self, node: Node, k: int) -> tuple:
        if k <= TOP_CELLS:
            return node.top[:k]
        out = []
        n = node
        for _ in range(k):
            if n is None:
                break
            out.append(n.state)
            n = n.parent
        return tuple(out)

    def _reset_caches(self) -> None:
        # keyed by the nodes themselves: an entry keeps its node alive, so keys never go stale
        self._nodes: dict[tuple[int, Node], Node] = {}
        self._root = Node(self.start_state, None)
        self._feed_cache: dict[tuple[Node, int], tuple[Node | None, int]] = {}
        self._can_cache: dict[tuple[Node, int], tuple[bool, int]] = {}
        self._phases: dict[tuple[tuple, int], tuple] = {}  # (states above a real cell, terminal)
        self._end_cache: dict[Node, tuple[bool, int]] = {}
        self._low = 1 << 60
        self._frames: list[int] = []

    def __getstate__(self):
        d = {k: v for k, v in self.__dict__.items() if k not in ("_nodes", "_root", "_feed_cache", "_can_cache", "_phases", "_end_cache", "_low", "_frames")}
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._reset_caches()

    def _push(self, state: int, parent: Node) -> Node:
        key = (state, parent)
        n = self._nodes.get(key)
        if n is None:
            n = bounded_put(self._nodes, key, Node(state, parent))
        return n

    # ---------------------------------------------------------------- protocol
    def start(self) -> Node:
        return self._root

    def candidates(self, node: Node) -> frozenset[int]:
        if node.depth < self._low:
            self._low = node.depth
        return self._cands[node.state]

    def feed(self, node: Node, terms: Sequence[int], lexeme: bytes | None = None) -> Node | None:
        key = (node, terms[0])
        got = self._feed_cache.get(key)
        if got is None:
            got = bounded_put(self._feed_cache, key, self._feed(node, terms[0]))
        if got[1] < self._low:
            self._low = got[1]
        return got[0]

    def can_feed(self, node: Node, term: int) -> bool:
        """``feed(node, (term,)) is not None``, reading the stack only down to where ``term`` is
        known to be taken (:meth:`_safe_table`) and building no nodes."""
        if term in self.safe[node.state]:  # the top cell decides
            if node.depth < self._low:
                self._low = node.depth
            return True
        key = (node, term)
        got = self._can_cache.get(key)
        if got is None:
            got = bounded_put(self._can_cache, key, self._can_feed(node, term))
        if got[1] < self._low:
            self._low = got[1]
        return got[0]

    def _can_feed(self, node: Node, term: int) -> tuple[bool, int]:
        """(taken?, lowest depth read)."""
        if node.depth >= self.max_depth - 256:  # near the depth bound: the exact feed decides
            got = self._feed(node, term)
            return got[0] is not None, got[1]
        ph = self._top_step(node, term)
        if ph[0] != "pop":
            return ph[0] != "error", node.depth
        base, virt, low = ph[1], ph[2], ph[3]
        phases, phase, goto = self._phases, self._phase, self.goto
        while True:
            ph = phases.get((virt, term)) or phase(virt, term)
            if ph[1]:  # a state on the way takes the terminal whatever lies below
                return True, low
            if ph[0] != "pop":
                return ph[0] == "shift", low
            for _ in range(ph[2]):
                base = base.parent
            if base.depth < low:
                low = base.depth
            virt = (goto[base.state][ph[3]],)

    def _feed(self, node: Node, term: int) -> tuple[Node | None, int]:
        """(new top, lowest depth read). The reductions run on the states above a real cell
        (:meth:`_phase`); only the cells of the result are interned."""
        ph = self._top_step(node, term, feeding=True)
        if ph[0] == "error":
            return None, node.depth
        if ph[0] == "shift":
            return (None if node.depth >= self.max_depth else self._push(ph[1], node)), node.depth
        base, virt, low = ph[1], ph[2], ph[3]
        phases, phase, goto = self._phases, self._phase, self.goto
        while True:
            ph = phases.get((virt, term)) or phase(virt, term)
            if ph[0] == "error":
                return None, low
            if ph[0] == "shift":
                states = ph[2]
                if base.depth + len(states) >= self.max_depth:
                    return None, low
                for st in states:
                    base = self._push(st, base)
                return self._push(ph[3], base), low
            for _ in range(ph[2]):
                base = base.parent
            if base.depth < low:
                low = base.depth
            virt = (goto[base.state][ph[3]],)

    def _top_step(self, node: Node, term: int, feeding: bool = False) -> tuple:
        """The action on ``term`` of the real top cell: ("error",) | ("shift", target) |
        ("safe",) (not when ``feeding``) | ("pop", real cell below, states above it, lowest
        depth read)."""
        s = node.state
        if not feeding and term in self.safe[s]:
            return ("safe",)
        entry = self.action[s].get(term)
        if entry is None:
            return ("error",)
        if entry[0]:
            return ("shift", entry[1])
        size, origin = entry[1]
        if size == 0:
            return ("pop", node, (self.goto[s][origin],), node.depth)
        base = node
        for _ in range(size):
            base = base.parent
        return ("pop", base, (self.goto[base.state][origin],), min(node.depth, base.depth))

    def _phase(self, virt: tuple, term: int) -> tuple:
        """The reductions on ``virt`` (states above a real cell) that read no real cell, memoised
        by states alone, so every stack shares them: ("error", safe seen) | ("shift", safe seen,
        the states above the real cell, target) | ("pop", safe seen, real cells to pop, the rule
        origin whose goto reads the cell then on top). A chain of unit reductions over one base
        is then one step per distinct base."""
        v = list(virt)
        safe_seen = False
        safe, action, goto = self.safe, self.action, self.goto
        while True:
            s = v[-1]
            if term in safe[s]:
                safe_seen = True
            entry = action[s].get(term)
            if entry is None:
                got = ("error", safe_seen)
                break
            if entry[0]:
                got = ("shift", safe_seen, tuple(v), entry[1])
                break
            size, origin = entry[1]
            if size >= len(v):
                got = ("pop", safe_seen, size - len(v), origin)
                break
            if size:
                del v[len(v) - size:]
            v.append(goto[v[-1]][origin])
        return bounded_put(self._phases, (virt, term), got, 1 << 18)

    def _reduce(self, node: Node, rule: tuple[int, str]) -> Node:
        size, origin = rule
        for _ in range(size):
            node = node.parent
        return self._push(self.goto[node.state][origin], node)

    def accepts_end(self, node: Node) -> bool:
        got = self._end_cache.get(node)
        if got is None:
            got = bounded_put(self._end_cache, node, self._accepts_end(node))
        if got[1] < self._low:
            self._low = got[1]
        return got[0]

    def _accepts_end(self, node: Node) -> tuple[bool, int]:
        low = node.depth
        while True:
            entry = self.end_action[node.state]
            if entry is None or entry[0]:
                return False, low
            node = self._reduce(node, entry[1])
            if node.parent is not None and node.parent.depth < low:
                low = node.parent.depth
            if node.state == self.end_state:
                return True, low
