"""The schema-specific pushdown parser (implements :class:`constrain.parsing.base.Parser`).

A parser state is an interned set of *configurations*; a configuration is an
interned stack of frames (a persistent linked list):

* ``('V', typed)``: a value of a typed node is expected;
* ``('O', typed, phase, seen, count, last, req, key)``: inside an object
  (phase 0 after ``{``, 1 after ``,``, 2 after a key, 3 value pending,
  4 after a value);
* ``('A', typed, phase, index, counts, uniq, capture)``: inside an array;
* ``('G', group)`` / ``('B', i)``: a combinator group and the branch a
  configuration belongs to; branches are decided together when the value ends;
* ``('ROOT',)`` / ``('END', k)``: the document.

Nondeterminism (overlapping ``anyOf``, ``oneOf``, ``not``, ``if``) is the set of
configurations: every configuration sees the same lexemes, and since JSON
fixes where a value ends, all branches of a group finish on the same lexeme.
"""
from __future__ import annotations

import functools
import json
import re
from decimal import Decimal, InvalidOperation

from ...errors import CompileBudgetError
from ...parsing.base import CACHE_LIMIT, bounded_put
from .ir import ANY, FALSE, Group, Lazy, Typed, Union, canon_number, deref

class _Additional:
    """Stands for the name of an additional property in positive contexts (see ``marker_ok``)."""

    __slots__ = ()

    def __repr__(self):
        return "<additional>"


ADDITIONAL = _Additional()
_UNSET = object()

# fixed terminal indices
LBRACE, RBRACE, LBRACK, RBRACK, COMMA, COLON, TRUE, FALSE_T, NULL, WS = range(10)
N_FIXED = 10
STRUCT_TOK = {LBRACE: "{", RBRACE: "}", LBRACK: "[", RBRACK: "]"}


def _negative(group_kind: str, branch: int) -> bool:
    """Is a group's branch a *negative* context (its failure can make the group succeed)?"""
    return (group_kind == "oneOf" or (group_kind == "not" and branch == 1)
            or (group_kind == "if" and branch == 0) or (group_kind == "contains" and branch >= 1))


_NO_READ = 1 << 60


class Cfg:
    __slots__ = ("frame", "parent", "depth", "cands", "lcands", "groups", "neg", "capt", "fdepth", "answers",
                 "__weakref__")

    def __init__(self, frame, parent):
        self.frame, self.parent = frame, parent
        self.depth = 0 if parent is None else parent.depth + 1
        # the lowest depth whose frame shapes this configuration's inherited fields (groups,
        # neg, and the guarded test of marker_ok): a branch's group frame; _NO_READ if none
        # (see SchemaParser.signature)
        self.fdepth = _NO_READ if parent is None else parent.fdepth
        self.cands = None
        self.lcands = None
        self.answers = None  # an object frame's answers (SchemaParser.answers), when asked
        # the combinator groups this configuration belongs to: ((group cfg, branch index), ...)
        self.groups = () if parent is None else parent.groups
        # under a negative context generation-only restrictions (schema property order) must not
        # apply: a branch refusing a valid value would make oneOf/not/if decide wrongly
        self.neg = parent is not None and parent.neg
        # this frame or one below records item values for uniqueItems (see SchemaParser.cap)
        self.capt = (frame[0] == "A" and frame[2] == 3 and frame[5] is not None) or \
            (parent is not None and parent.capt)
        # (a capturing array frame is not among them: what it records is read only where an
        # item ends, a pop to it, or by used_item; signatures carry the inherited capt flag)
        if frame[0] == "B":
            self.groups = self.groups + ((parent, frame[1]),)
            self.neg = self.neg or _negative(parent.frame[1].kind, frame[1])
            self.fdepth = min(self.fdepth, parent.depth)

    def __repr__(self):
        out, c = [], self
        while c is not None:
            f = c.frame
            out.append(f[0] + (str(f[2]) if f[0] in "OA" else ""))
            c = c.parent
        return "Cfg(" + ">".join(reversed(out)) + ")"


class PState:
    __slots__ = ("cfgs", "start", "cands", "lex_cands", "accept", "grouped", "takes", "vkinds", "capt",
                 "top", "height", "sigs", "fed", "__weakref__")

    def __init__(self, cfgs, start):
        self.cfgs, self.start = cfgs, start
        # the lowest depth any question about this state alone reads: every configuration's
        # top frame and what shapes its inherited fields (see SchemaParser.signature)
        # (states with very many configurations are keyed whole: a signature would cost more)
        self.top = min((min(c.depth, c.fdepth) for c in cfgs), default=0) if len(cfgs) <= 256 else 0
        self.height = max((c.depth for c in cfgs), default=0)  # the deepest configuration's top
        self.sigs: dict = {}
        self.vkinds: dict | None = None  # terms -> value dependence (see SchemaParser.feed_values_prefix)
        self.cands = None
        self.lex_cands = None
        self.grouped = any(c.groups for c in cfgs)
        self.capt = any(c.capt for c in cfgs)  # some value here is recorded for uniqueItems
        self.takes: dict = {}  # terms -> could they be taken (feed with lexeme=None), for grouped states
        self.fed: dict | None = None  # (terms, lexeme) -> (state after it, lowest depth read); see feed
        self.accept = any(c.frame[0] == "END" for c in cfgs)

    def __repr__(self):
        return f"PState({len(self.cfgs)} cfgs{', start' if self.start else ''})"


def _feasible(kind: str, n_branches: int, live: set) -> bool:
    """Can a group still be satisfied when only the branches in ``live`` have configurations?"""
    if kind == "all":
        return len(live) == n_branches
    if kind in ("not", "contains"):  # branch 0 carries the value
        return 0 in live
    if kind == "if":  # (if and then) or else
        return (0 in live and 1 in live) or 2 in live
    return bool(live)  # oneOf: decided when the value ends


def prune(cfgs):
    """Drop the configurations of groups that can no longer be satisfied (an ``allOf`` branch
    died, a ``not``'s value branch died, ...), to a fixpoint: a group's death can kill the
    branch of an enclosing group. Without this, one surviving branch would keep allowing
    tokens that its group must reject when the value ends."""
    if not any(c.groups for c in cfgs):
        return cfgs
    cfgs = set(cfgs)
    while True:
        live: dict = {}
        for c in cfgs:
            for g, i in c.groups:
                live.setdefault(g, set()).add(i)
        dead = {g for g, br in live.items()
                if not _feasible(g.frame[1].kind, len(g.frame[1].branches), br)}
        if not dead:
            return cfgs
        cfgs = {c for c in cfgs if not any(g in dead for g, _ in c.groups)}


_NEEDS_JSON = re.compile(rb'[\x00-\x1f\\]')


@functools.lru_cache(maxsize=8192)
def _decode_string(lexeme: bytes) -> str | None:
    if len(lexeme) >= 2 and lexeme[:1] == b'"' and lexeme[-1:] == b'"' and not _NEEDS_JSON.search(lexeme, 1, len(lexeme) - 1):
        try:  # no escapes, no control characters: the JSON string is its UTF-8 body
            return lexeme[1:-1].decode("utf-8")
        except UnicodeDecodeError:
            return None
    try:
        v = json.loads(lexeme)
    except (ValueError, UnicodeDecodeError):
        return None
    return v if isinstance(v, str) else None


def _num_key(lexeme: bytes):
    try:
        d = Decimal(lexeme.decode())
    except (InvalidOperation, UnicodeDecodeError):
        return None
    return ("n", canon_number(d))


class SchemaParser:
    """Parser over the terminals built by :mod:`.compile`."""

    def __init__(self, root, info, value_terminals, order: str = "schema", max_configs: int = 20000,
                 capture: bool = False):
        self.root = root
        self.info = info  # the Compiler (node infos, key dispatch)
        self.value_terminals = frozenset(value_terminals)
        self.order = order
        self.max_configs = max_configs
        self.capture = capture
        self._cfgs: dict = {}
        self._states: dict = {}
        self._expand_memo: dict = {}
        self._mok: dict = {}
        self._capped: dict = {}  # (cfg, token) -> cap(cfg, token), within one feed
        self._dup = False
        self._blind = False
        self._low = _NO_READ  # read tracking (see signature)
        self._bk = 0  # bit d: the object bookkeeping at depth d was read (see answers)
        self._ans: dict = {}
        self._frames: list[int] = []
        bottom = self.mk(("ROOT",), None)
        self._start = self.state(frozenset(prune(self.expand(root, bottom))), True)

    # ------------------------------------------------------------ interning
    def mk(self, frame, parent) -> Cfg:
        key = (frame, parent)
        c = self._cfgs.get(key)
        if c is None:
            c = self._cfgs[key] = Cfg(frame, parent)
        return c

    def state(self, cfgs: frozenset, start: bool = False) -> PState:
        key = (cfgs, start)
        s = self._states.get(key)
        if s is None:
            if len(cfgs) > self.max_configs:
                raise CompileBudgetError(f"JSON schema parser state has more than {self.max_configs} alternatives")
            s = self._states[key] = PState(cfgs, start)
        return s

    def expand(self, node, parent) -> list:
        key = (id(node), parent)
        got = self._expand_memo.get(key)
        if got is not None:
            return got[0]
        out: list = []
        self._expand(node, parent, out, 0)
        self._expand_memo[key] = (out, node)
        return out

    def _expand(self, node, parent, out, depth):
        if depth > 200:
            raise CompileBudgetError("combinators nested more than 200 deep")
        node = deref(node)
        if node is FALSE or not self.info.nonempty(node):
            return
        if isinstance(node, Typed):
            out.append(self.mk(("V", node), parent))
        elif isinstance(node, Union):
            for b in node.branches:
                self._expand(b, parent, out, depth + 1)
        elif isinstance(node, Group):
            g = self.mk(("G", node), parent)
            for i, b in enumerate(node.branches):
                self._expand(b, self.mk(("B", i), g), out, depth + 1)
        if len(out) > self.max_configs:
            raise CompileBudgetError(f"JSON schema expands to more than {self.max_configs} alternatives")

    # ------------------------------------------------------------ read tracking
    # The engine caches masks and tails by the part of the parser state their computation
    # read (see CompiledGrammar.mask), as for the LALR parser. Reads are depths in the
    # configuration stacks: any question about a state reads down to ``state.top`` (each
    # configuration's top frame and the frames that shape its inherited fields); a feed that
    # pops reads the frame it pops to. ``k`` counts the cells read from ``state.top`` down.
    # A value inside an array item, or a nested object, then shares its masks with every
    # other item and every other place its schema occurs at the same local context, instead
    # of recomputing them for each new stack below (an array frame's index differs per item).

    def track_push(self) -> None:
        self._frames.append((self._low, self._bk))
        self._low, self._bk = _NO_READ, 0

    def track_pop(self, state) -> tuple:
        """End a tracked computation on ``state``: ``(k, b)``, the cells it read (from
        ``state.top`` down) and a bit mask of the depths whose object bookkeeping it read (bit
        i: depth boundary + i, up to ``state.height``: a configuration's frames above ``top``
        are in the signature too; see :meth:`signature`)."""
        low = min(self._low, state.top)
        k = state.top - low + 1
        # every frame from the boundary up to the highest configuration's top is in the signature
        b = (self._bk >> low) & ((1 << (state.height - low + 1)) - 1)
        outer_low, outer_bk = self._frames.pop()
        self._low, self._bk = min(outer_low, low), outer_bk | self._bk
        return (k, b)

    def track_note(self, state, k) -> None:
        """Record that the top cells of ``state`` were relied on as ``k`` says (a cache hit)."""
        k, b = k if type(k) is tuple else (k, -1)
        d = state.top - k + 1
        if d < self._low:
            self._low = d
        self._bk |= (b & ((1 << (state.height - d + 1)) - 1)) << d

    def _read(self, state) -> None:
        if state.top < self._low:
            self._low = state.top

    def _keyed(self, cfg) -> None:
        """A key fed to (or a name checked by) an object frame reads its bookkeeping."""
        self._bk |= 1 << cfg.depth

    def _asked(self, state, terms) -> None:
        """Asking whether ``terms`` are taken reads the bookkeeping of an object frame that a
        key may come to, unless they are all terminals it lexes (its answers hold those)."""
        for c in state.cfgs:
            f = c.frame
            if f[0] == "O" and f[2] in (0, 1):
                lc = self.cfg_lex_cands(c)
                if any(t not in lc for t in terms):
                    self._bk |= 1 << c.depth

    def signature(self, state, k):
        """What a computation that read ``k = (cells, bookkeeping bits)`` of ``state`` can depend
        on: the frames at depths >= ``state.top - cells + 1`` (the boundary), arranged as in the
        state, each object frame whose bookkeeping it did not read replaced by its answers
        (:meth:`answers`). A plain int ``k`` is ``k`` cells read whole.

        Every inherited field of those frames comes from frames at or above the boundary (that
        is what ``top`` ensures), and nothing here depends on absolute depths. With several
        configurations, the chains are grouped by their boundary object: which ones share a
        cell decides which share a combinator group. The whole state is its own signature
        when the read reaches the bottom and every bookkeeping was read."""
        got = state.sigs.get(k)
        if got is not None:
            return got
        cells, b = k if type(k) is tuple else (k, -1)
        bound = state.top - cells + 1
        if bound <= 0 and b == -1:
            return state
        bound = max(bound, 0)

        cfgs = state.cfgs
        if len(cfgs) > self.ANSWERED_CFGS:
            b = -1

        def frame(c):
            f = c.frame
            if f[0] != "O" or (b >> (c.depth - bound)) & 1:
                return f
            return self.answers(c)

        if len(cfgs) == 1:
            (c,) = cfgs
            out = []
            while c is not None and c.depth >= bound:
                out.append(frame(c))
                c = c.parent
            got = (state.start, c is not None and c.capt, tuple(out))  # capt: whether a frame below records items
        else:
            by: dict = {}
            for c in cfgs:
                out = []
                while c.depth > bound:
                    out.append(frame(c))
                    c = c.parent
                by.setdefault(c, []).append(tuple(out))
            elems: dict = {}
            for c, chains in by.items():
                e = (frame(c), c.capt, frozenset(chains))
                elems[e] = elems.get(e, 0) + 1
            got = (state.start, frozenset(elems.items()))
        state.sigs[k] = got
        return got

    def answers(self, cfg) -> tuple:
        """What a computation that reads no bookkeeping of the object frame ``cfg`` can learn
        of it, by phase (a key fed, or a candidate asked outside what the frame lexes, is such
        a read: see ``_keyed`` and ``_asked``):

        * 0, 1 (a key may come): which of the terminals it lexes it takes (``cfg_cands``
          within ``cfg_lex_cands``), and those it lexes;
        * 4 (after a value): its candidates (``}``, ``,``), and the answers of the phase-1
          frame that ``,`` leads to, which carries the same bookkeeping;
        * 3 (under a value): the answers of the phase-4 frame the value's end leads to;
        * 2 (after a key): the key's child schema, and the answers of the phase-3 frame the
          colon leads to.

        Every other step copies the bookkeeping into the next frame (see ``step``, ``drain``),
        so these answers are all the frame shows. With them as its signature, the tails after
        a value or a key are shared across the names seen before whenever the object still
        takes the same terminals: in an object with additional properties, all of them."""
        got = cfg.answers
        if got is None:
            got = cfg.answers = self._answers(cfg.frame, self.order_of(cfg))
        return got

    def _answers(self, f, order) -> tuple:
        """:meth:`answers` of an object frame under property order ``order`` (memoised by frame)."""
        key = (f, order)
        got = self._ans.get(key)
        if got is None:
            node, phase = f[1], f[2]
            oi = self.info.tinfo(node).obj
            if phase in (0, 1):
                c = self._obj_cands(oi, f, order)
                lc = self._obj_lex_cands(oi, f, order, c)
                got = ("O", node, phase, c & lc, lc)
            elif phase in (3, 4):  # "," leads to phase 1; under a value, its end leads to 4
                got = ("O", node, phase, self._obj_cands(oi, ("O", node, 4) + f[3:], order),
                       self._answers(("O", node, 1) + f[3:], order))
            else:
                got = ("O", node, 2, oi.child(f[7]), self._answers(self._after_colon(oi, f), order))
            bounded_put(self._ans, key, got)
        return got

    # ------------------------------------------------------------ protocol
    def start(self):
        return self._start

    def accepts_end(self, state) -> bool:
        self._read(state)
        return state.accept

    def exact_candidates(self, state) -> frozenset:
        """The terminals some configuration can take next (value checks aside)."""
        self._read(state)
        c = state.cands
        if c is None:
            acc = set()
            for cfg in state.cfgs:
                acc |= self.cfg_cands(cfg)
            if state.start and state.cfgs:
                acc.add(WS)
            c = state.cands = frozenset(acc)
        return c

    def candidates(self, state) -> frozenset:
        """The lexer's candidates (see :meth:`cfg_lex_cands`); ``feed`` with ``lexeme=None``
        answers from the exact ones (:meth:`exact_candidates`)."""
        self._read(state)
        c = state.lex_cands
        if c is None:
            acc: set = set()
            for cfg in state.cfgs:
                acc |= self.cfg_lex_cands(cfg)
            if state.start and state.cfgs:
                acc.add(WS)
            c = state.lex_cands = frozenset(acc)
        return c

    def cfg_lex_cands(self, cfg) -> frozenset:
        """A configuration's lexer candidates: its exact candidates, except where a key may come.

        All keys are quoted strings that end at the first unescaped quote, so which key
        terminals are candidates cuts no lexeme differently; what differs is how much lexer
        state is shared. Where any additional name may come and the additional-key terminal
        is the any-string (no propertyNames/patterns), it alone is the candidate: a known key
        is lexed by it too and dispatched by name, so every key position of every object
        shares one lexer state. Otherwise every key terminal of the object is a candidate,
        taken or not (``feed`` refuses a taken one), so the lexer state is at least the same
        at every position of the object, not one per set of keys seen."""
        c = cfg.lcands
        if c is None:
            c = self.cfg_cands(cfg)
            f = cfg.frame
            if f[0] == "O" and f[2] in (0, 1):
                c = self._obj_lex_cands(self.info.tinfo(f[1]).obj, f, self.order_of(cfg), c)
            cfg.lcands = c
        return c

    @staticmethod
    def _obj_lex_cands(oi, f, order, c) -> frozenset:
        """``cfg_lex_cands`` of an object frame in phase 0 or 1 whose exact candidates are ``c``."""
        keys = oi.key_cands(f, order)
        if keys:
            if oi.generic_any and oi.generic_term in keys:
                return (c - oi.all_key_terms) | {oi.generic_term}
            return c | oi.all_key_terms
        return c

    @staticmethod
    def _obj_cands(oi, f, order) -> frozenset:
        """``cfg_cands`` of an object frame (given the configuration's property order)."""
        phase = f[2]
        acc = set()
        if phase in (0, 1):
            acc |= oi.key_cands(f, order)
            if phase == 0 and oi.can_close(f):
                acc.add(RBRACE)
        elif phase == 2:
            acc.add(COLON)
        elif phase == 4:
            if oi.can_close(f):
                acc.add(RBRACE)
            if oi.key_cands(f, order):
                acc.add(COMMA)
        return frozenset(acc)

    def _trim(self) -> None:
        """Clear the interning and expansion tables once they pass ``CACHE_LIMIT`` entries (between
        feeds, never inside one). Clearing costs only misses: equal configurations made
        afterwards are distinct objects, which every cache here treats as different keys, and
        a set holding both behaves as the set holding one."""
        if len(self._cfgs) > CACHE_LIMIT or len(self._expand_memo) > CACHE_LIMIT or len(self._states) > CACHE_LIMIT:
            self._cfgs.clear()
            self._states.clear()
            self._expand_memo.clear()

    #: the coarsest read (see track_pop): the top cell, no object bookkeeping
    LEAST_K = (1, 0)

    #: states with more configurations keep their object frames whole in signatures (their
    #: answers would cost more to compute than they share; see answers)
    ANSWERED_CFGS = 16

    #: lexemes remembered per state (see feed); past this the state's memo starts over
    FED_LIMIT = 512

    def feed(self, state, terms, lexeme):
        self._trim()
        self._read(state)
        if state.start and terms[0] == WS:
            return self.state(state.cfgs, False)
        if lexeme is None:
            return self._can_take(state, terms)
        # Memoised per state: one lexeme is fed many times (a mask's exits, their tails, the
        # advance that follows), and a feed's outcome depends only on the state, the terminals
        # and the lexeme. The depth the feed read (its pops) is kept and replayed on a hit, so
        # read tracking sees the same reads. On the MaskBench sample two feeds in three repeat.
        memo = state.fed
        if memo is None:
            memo = state.fed = {}
        key = (terms, lexeme)
        got = memo.get(key)
        if got is not None:
            if got[1] < self._low:
                self._low = got[1]
            self._bk |= got[2]
            return got[0]
        outer, outer_bk, self._low, self._bk = self._low, self._bk, _NO_READ, 0
        try:
            res = self._feed(state, terms, lexeme)
        finally:
            low, bk = self._low, self._bk
            self._low, self._bk = min(outer, low), outer_bk | bk
        if len(memo) >= self.FED_LIMIT:
            memo.clear()
        memo[key] = (res, low, bk)
        return res

    def _can_take(self, state, terms):
        """``feed`` with lexeme None: could one of ``terms`` be taken here, value unknown?"""
        # "could this terminal be taken here, value unknown": the candidates are exact
        # up to value checks, which are decided when the lexeme is complete; the
        # configurations that can take it must leave every group satisfiable.
        self._asked(state, terms)
        cands = self.exact_candidates(state)
        if not any(t in cands for t in terms):
            return None
        if not state.grouped and not state.capt:
            return state
        key = terms
        got = state.takes.get(key)
        if got is None:
            got = state.takes[key] = bool(self.takers(state, terms))
        return state if got else None

    def _feed(self, state, terms, lexeme):
        self._capped.clear()
        out: set = set()
        pending: list = []
        if LBRACE in terms:
            self._blind = self._blind_object(state)
        for cfg in state.cfgs:
            self.step(cfg, terms, lexeme, out, pending)
        if self._dup:  # a repeated key under oneOf/not/if/contains (see marker_ok)
            self._dup = False
            return None
        comps: dict = {}
        self.drain(pending, out, comps)
        while comps:
            g = max(comps, key=lambda c: c.depth)
            done = comps.pop(g)
            res = self.info.resolve(g.frame[1], done)
            if res is not None:
                pending.append((g.parent, res[0]))
                self.drain(pending, out, comps)
        out = prune(out)
        if not out:
            return None
        return self.state(frozenset(out), False)

    def feed_values(self, state, terms, values: list) -> list:
        """``feed`` for many lexeme values of the same terminals.

        Each value gets a signature: per configuration, what its outcome can depend on (a
        scalar check's pass/fail; for a key, its name if special, else whether it is
        allowed, since ordinary additional names lead to the same state, see ``marker_ok``).
        Values with the same signature give the same state, so ``feed`` runs once per
        signature: a key or string position with hundreds of closing tokens costs a few feeds."""
        self._read(state)
        if self._values_apart(state, terms):
            return [self.feed(state, terms, v) for v in values]
        kinds = []
        for cfg in state.cfgs:
            f = cfg.frame
            if f[0] == "V":
                checks = self._checks(f, terms)
                if any(c is None for c in checks):
                    kinds.append(("const", True))
                elif not checks:
                    kinds.append(("const", False))
                else:
                    kinds.append(("V", checks))
            elif f[0] == "O" and f[2] in (0, 1):
                oi = self.info.tinfo(f[1]).obj
                self._keyed(cfg)
                if not any(t in oi.key_terms for t in terms):
                    kinds.append(("const", False))
                elif self.marker_ok(cfg):
                    kinds.append(("O", oi.key_sig, oi.ordinary_ok(f, self.order_of(cfg))))
                else:  # every name is remembered: each one its own outcome
                    kinds.append(("N",))
            else:  # frames that take no value terminal
                kinds.append(("const", None))
        memo: dict = {}
        out: list = []
        if len(kinds) == 1 and kinds[0][0] == "O":  # the common case: one object frame
            sig_of, ordinary = kinds[0][1], kinds[0][2]
            for v in values:
                key = sig_of(v, ordinary)
                r = memo.get(key, _UNSET)
                if r is _UNSET:
                    r = memo[key] = self.feed(state, terms, v)
                out.append(r)
            return out
        for v in values:
            sig = []
            for k in kinds:
                if k[0] == "const":
                    sig.append(k[1])
                elif k[0] == "V":
                    sig.append(any(c(v)[0] for c in k[1]))
                elif k[0] == "O":  # an ordinary additional name: only propertyNames can tell them apart
                    sig.append(k[1](v, k[2]))
                else:
                    sig.append(("lexeme", v))
            key = tuple(sig)
            r = memo.get(key, _UNSET)
            if r is _UNSET:
                r = memo[key] = self.feed(state, terms, v)
            out.append(r)
        return out

    def feed_values_prefix(self, state, terms, prefix: bytes, ve):
        """``feed_values`` for the lexemes ``prefix + ve.suffixes[i]``, answered as
        ``(default, {i: state})``: the state the values lead to but the listed exceptions
        (``default`` None when every value is an exception, or when it is rejected).

        Only where a value's outcome can differ just by being a special name of an object
        without propertyNames (see ``ObjInfo.key_sig``), or not at all: the exceptions are
        then the values that may be special (``ObjInfo.special_positions``: known names by
        bisection, patterns by DFA state), each fed on its own. Otherwise None (ask
        ``feed_values``)."""
        self._read(state)
        kinds = state.vkinds.get(terms, _UNSET) if state.vkinds is not None else _UNSET
        if kinds is _UNSET:
            kinds = self._value_kinds(state, terms)
            if state.vkinds is None:
                state.vkinds = {}
            state.vkinds[terms] = kinds
        if kinds is None:
            return None
        exc_pos: set = set()
        for oi in kinds:
            got = oi.special_positions(prefix, ve)
            if got is None:
                return None
            exc_pos |= got
        sufs = ve.suffixes
        default = None
        if len(exc_pos) < len(sufs):
            rep = next(i for i in range(len(sufs)) if i not in exc_pos)
            default = self.feed(state, terms, prefix + sufs[rep])
        exc = {}
        for i in exc_pos:
            p2 = self.feed(state, terms, prefix + sufs[i])
            if p2 is not default:
                exc[i] = p2
        return default, exc

    @staticmethod
    def _values_apart(state, terms) -> bool:
        """Must every value be fed on its own here (recorded for uniqueItems, or a lexeme that
        opens a container or is the leading whitespace)?"""
        return state.capt or state.start and terms[0] == WS or LBRACE in terms or LBRACK in terms

    def _checks(self, f, terms) -> list:
        """The scalar checks of a value frame for the terminals of ``terms`` it takes (None: none)."""
        ti = self.info.tinfo(f[1])
        return [ti.scalars.get(t) for t in terms if t in ti.cands]

    def _value_kinds(self, state, terms):
        """For ``feed_values_prefix``: the plain objects whose special names set values apart
        (a tuple of ObjInfo; empty: no value matters), or None when values must be told apart
        one by one (scalar checks, remembered names, propertyNames, capture)."""
        if self._values_apart(state, terms):
            return None
        objs = []
        for cfg in state.cfgs:
            f = cfg.frame
            if f[0] == "V":
                checks = self._checks(f, terms)
                if checks and all(c is not None for c in checks):
                    return None
            elif f[0] == "O" and f[2] in (0, 1):
                oi = self.info.tinfo(f[1]).obj
                self._keyed(cfg)
                if not any(t in oi.key_terms for t in terms):
                    continue
                if not self.marker_ok(cfg) or oi.names_nodes:
                    return None
                if oi not in objs:
                    objs.append(oi)
        return tuple(objs)

    def len_only(self, state, terms) -> bool:
        """Do lexemes of ``terms`` (terminals with ``len_bounds``) matter here only through their
        length checks? True unless a value is recorded (uniqueItems capture) or an object frame
        takes one of them as a key; a value frame sees them only through its checks, which for
        such terminals are the length checks (compile keys these terminals by their bounds).
        The engine then keys masks by character count instead of lexeme (see
        ``CompiledGrammar._mask_tag``). Not a read: the answer only picks a cache key."""
        key = ("len",) + tuple(terms)
        got = state.vkinds.get(key) if state.vkinds is not None else None
        if got is None:
            got = self._len_only(state, terms)
            if state.vkinds is None:
                state.vkinds = {}
            state.vkinds[key] = got
        return got

    def _len_only(self, state, terms) -> bool:
        if state.capt:
            return False
        for cfg in state.cfgs:
            f = cfg.frame
            if f[0] == "V":
                if any(c is not None and getattr(c, "len_bounds", None) is None for c in self._checks(f, terms)):
                    return False
            elif f[0] == "O" and f[2] in (0, 1):
                if any(t in self.info.tinfo(f[1]).obj.key_terms for t in terms):
                    return False
        return True

    def joint(self, state) -> bool:
        """Must the engine ask :meth:`feasible` about whole sets of live terminals here?"""
        self._read(state)
        return state.grouped

    def feasible(self, state, terms) -> bool:
        """Could a lexeme that keeps exactly ``terms`` alive be taken, with every combinator
        group still satisfiable? The configurations that can take some terminal of ``terms``
        are the takers (different branches may take the same lexeme by different terminals:
        one's key literal, another's additional-key string); groups left without their
        value-carrying branch die (:func:`prune`)."""
        self._read(state)
        self._asked(state, terms)
        key = ("joint", terms)
        got = state.takes.get(key)
        if got is None:
            got = state.takes[key] = bool(prune(self.takers(state, terms)))
        return got

    def takers(self, state, terms) -> list:
        """The configurations that can take some terminal of ``terms`` (value unknown)."""
        return [c for c in state.cfgs if any(t in self.cfg_cands(c) and not self.used_item(c, t) for t in terms)]

    def used_item(self, cfg, t: int) -> bool:
        """Under uniqueItems: is ``t`` a literal whose value is already an item of the array
        this configuration's value belongs to? (Then it cannot be taken: exact, not at the end.)"""
        if not self.capture or cfg.frame[0] != "V" or cfg.parent is None:
            return False
        f = cfg.parent.frame
        if f[0] != "A" or f[2] != 3 or f[5] is None:
            return False
        if cfg.parent.depth < self._low:  # reads the array frame's recorded items
            self._low = cfg.parent.depth
        lit = self.info.terminals[t].literal
        return lit is not None and self.info.scalar_token(t, lit) in f[5]

    def order_of(self, cfg) -> str:
        """The property order for an object configuration: "any" under a negative context."""
        return "any" if cfg.neg else self.order

    def marker_ok(self, cfg) -> bool:
        """May additional names in this object frame be replaced by :data:`ADDITIONAL`?

        Then they are not remembered, so a repeated additional key is not caught. That is
        harmless where every constraint is positive: the parsed object keeps the last value,
        which was validated like the others, and required names, dependencies and patterns
        are "special" names that stay tracked. Not done with minProperties (a repeat would be
        counted twice) or uniqueItems capture.

        Under oneOf/not/if/contains, whose branches could decide differently on the repeated
        and the parsed object, names are remembered and a repeat rejects the lexeme for every
        configuration (:meth:`dup_rejects`), except in an object where no frame under such a
        group has a keyword that can see an ordinary name (any value, no propertyNames, no
        property counts; decided for all frames at its ``{``, the frame's last field): a
        repeat there changes no verdict, and remembering every name would make each key its
        own parser state (one mask computation per name)."""
        ok, guarded = self._marker(cfg)
        return ok and (not guarded or cfg.frame[8])

    def dup_rejects(self, cfg) -> bool:
        """Does a repeated remembered name in this frame reject the lexeme for every
        configuration (not just this one)? Under oneOf/not/if/contains: a branch dying alone
        could flip its group's verdict."""
        return self._marker(cfg)[1]

    def _marker(self, cfg) -> tuple:
        """(marker allowed outside negative groups, under a oneOf/not/if/contains group)."""
        node, parent = cfg.frame[1], cfg.parent
        key = (id(node), parent)
        got = self._mok.get(key)
        if got is None:
            guarded = False
            c = parent
            while c is not None:
                g = c.frame
                if g[0] == "G" and g[1].kind in ("oneOf", "not", "if", "contains"):
                    guarded = True
                    break
                c = c.parent
            got = (not cfg.capt and self.info.tinfo(node).obj.min == 0, guarded, node)
            bounded_put(self._mok, key, got)
        return got[:2]

    def _blind_object(self, state) -> bool:
        """At a ``{``: can no guarded frame of the new object see an ordinary name?"""
        for cfg in state.cfgs:
            f = cfg.frame
            if f[0] != "V":
                continue
            ti = self.info.tinfo(f[1])
            if LBRACE not in ti.cands or not self._marker(cfg)[1]:  # _marker needs an object node
                continue
            oi = ti.obj
            if cfg.capt or oi.min or oi.max is not None or oi.names_nodes or oi.generic_child() is not ANY:
                return False
        return True

    # ------------------------------------------------------------ candidates
    def cfg_cands(self, cfg) -> frozenset:
        c = cfg.cands
        if c is not None:
            return c
        f = cfg.frame
        k = f[0]
        info = self.info
        if k == "V":
            ti = info.tinfo(f[1])
            c = ti.cands
        elif k == "O":
            c = self._obj_cands(info.tinfo(f[1]).obj, f, self.order_of(cfg))
        elif k == "A":
            ai = info.tinfo(f[1]).arr
            acc = set()
            if ai.can_close(f):
                acc.add(RBRACK)
            if f[2] == 4 and ai.can_more(f[3]):
                vals = ai.finite_values(f[3]) if f[5] is not None else None
                if vals is None or not vals <= f[5]:  # uniqueItems: some literal is left
                    acc.add(COMMA)
            c = frozenset(acc)
        elif k == "END":
            c = frozenset({WS}) if f[1] == 0 and info.ws_trailing else frozenset()
        else:
            c = frozenset()
        cfg.cands = c
        return c

    # ------------------------------------------------------------ stepping
    def cap(self, cfg, tok):
        """Append a value token to every array frame (below) that records items for uniqueItems.

        Memoised per feed (``_capped``, cleared by ``_feed``): the configurations of a state
        share their lower cells, and each shared chain is rebuilt once, not once per
        configuration (an object under anyOf and dependencies can have hundreds)."""
        if cfg is None or not cfg.capt:
            return cfg
        key = (cfg, tok)
        got = self._capped.get(key)
        if got is not None:
            return got
        parent = self.cap(cfg.parent, tok)
        f = cfg.frame
        if f[0] == "A" and f[2] == 3 and f[5] is not None:
            got = self.mk(f[:6] + (f[6] + (tok,),), parent)
        elif parent is cfg.parent:
            got = cfg
        else:
            got = self.mk(f, parent)
        self._capped[key] = got
        return got

    def step(self, cfg, terms, lexeme, out, pending):
        f = cfg.frame
        k = f[0]
        info = self.info
        if k == "V":
            node = f[1]
            ti = info.tinfo(node)
            for t in terms:
                if t not in ti.cands:
                    continue
                if t == LBRACE:
                    parent = self.cap(cfg.parent, "{")
                    oi = ti.obj
                    out.add(self.mk(("O", node, 0, frozenset(), 0, -1, oi.required, None, self._blind), parent))
                    return
                if t == LBRACK:
                    parent = self.cap(cfg.parent, "[")
                    ai = ti.arr
                    a0 = ("A", node, 0, 0, ai.zero_counts, ai.uniq0, ())
                    here = self.mk(a0, parent)
                    if ai.can_close(a0):
                        out.add(here)
                    if ai.can_more(0):
                        out.update(self.expand(ai.item(0), self.mk(("A", node, 3, 0, ai.zero_counts, ai.uniq0, ()), parent)))
                    return
                chk = ti.scalars.get(t)
                tok = None
                if chk is not None:
                    ok, tok = chk(lexeme)
                    if not ok:
                        continue
                if self.capture and tok is None:
                    tok = info.scalar_token(t, lexeme)
                pending.append((self.cap(cfg.parent, tok), None))
                return
            return
        if k == "O":
            node, phase = f[1], f[2]
            oi = info.tinfo(node).obj
            if phase in (0, 1):
                for t in terms:
                    if t == RBRACE and phase == 0:
                        if oi.can_close(f):
                            pending.append((self.cap(cfg.parent, "}"), None))
                        return
                    if t in oi.key_terms:
                        self._keyed(cfg)
                        name = _decode_string(lexeme)
                        if name is None:
                            continue
                        if name in f[3] and self.dup_rejects(cfg):
                            self._dup = True
                            return
                        if not oi.key_ok(f, name, self.order_of(cfg)):
                            continue
                        if not oi.special(name) and self.marker_ok(cfg):
                            name = ADDITIONAL
                        out.add(self.mk(("O", node, 2, f[3], f[4], f[5], f[6], name, f[8]), self.cap(cfg.parent, ("k", name))))
                        return
                return
            if phase == 2:
                if COLON in terms:
                    out.update(self.expand(oi.child(f[7]), self.mk(self._after_colon(oi, f), cfg.parent)))
                return
            if phase == 4:
                t = terms[0]
                if RBRACE in terms and oi.can_close(f):
                    pending.append((self.cap(cfg.parent, "}"), None))
                elif COMMA in terms and oi.key_cands(f, self.order_of(cfg)):
                    out.add(self.mk(("O",) + (node, 1) + f[3:], cfg.parent))
                return
            return
        if k == "A":
            node, phase, idx = f[1], f[2], f[3]
            ai = info.tinfo(node).arr
            if RBRACK in terms and ai.can_close(f):
                pending.append((self.cap(cfg.parent, "]"), None))
                return
            if phase == 4 and COMMA in terms and ai.can_more(idx):
                out.update(self.expand(ai.item(idx), self.mk(("A", node, 3, idx, f[4], f[5], ()), cfg.parent)))
            return
        if k == "END":
            if f[1] == 0 and WS in terms:
                out.add(self.mk(("END", 1), None))
            return

    @staticmethod
    def _after_colon(oi, f) -> tuple:
        """The frame under a key's value: the key is counted, its name seen (unless additional)."""
        name = f[7]
        seen = f[3] if name is ADDITIONAL else f[3] | {name}
        return ("O", f[1], 3, seen, min(f[4] + 1, oi.sat), oi.new_last(f[5], name), oi.new_req(f[6], f[3], name),
                None, f[8])

    def drain(self, pending, out, comps):
        while pending:
            parent, tag = pending.pop()
            if parent.depth < self._low:  # a pop reads the frame below
                self._low = parent.depth
            f = parent.frame
            k = f[0]
            if k == "O":
                out.add(self.mk(("O", f[1], 4) + f[3:], parent.parent))
            elif k == "A":
                ai = self.info.tinfo(f[1]).arr
                nf = ai.item_done(f, tag)
                if nf is not None:
                    out.add(self.mk(nf, parent.parent))
            elif k == "B":
                comps.setdefault(parent.parent, {}).setdefault(f[1], tag)
            elif k == "ROOT":
                out.add(self.mk(("END", 0), None))
