"""A compiled grammar: lexer analyses + parser = exact token masks.

A matcher state is the tuple ``(pstate, uid, started, acc, pending, lexeme)``:

* ``pstate``: the parser state (hashable, interned);
* ``uid``: the lexer's union state (live terminal DFA states);
* ``started``: whether the current lexeme has consumed any byte;
* ``acc``/``pending``: the terminals that accepted last in this lexeme, and
  the bytes read since (longest match backs up to there when the lexeme dies);
* ``lexeme``: the lexeme's bytes, kept only while a value terminal is live.

How a token t is decided from state S (the same rules in ``advance`` and in
the mask, so they cannot disagree):

1. t keeps some terminal T alive to its end: allowed iff the parser could
   take T here (an exact stack simulation).
2. t kills every terminal after an accepting position p inside t: the
   lexeme ends at p (longest match); the parser takes it (exact), and
   ``t[p:]`` is decided by the same rules from the new state. Tokens spanning
   several lexemes (``"},``, ``):\\n``) are handled by this recursion.
3. t kills every terminal with no accepting position: the lexeme ended
   before t (at the last accept, re-lexing the bytes read since); t is
   decided from there.

The masks of (1)-(3) come from per-union-state analyses (see
:mod:`constrain.lexer`), so a mask costs a few numpy ORs plus parser checks
per exit group, and is then cached by state.

A token that keeps alive only terminals the parser cannot take (LALR's merged
lookaheads put them among the candidates, e.g. ``>>=`` where only ``>`` fits)
is still valid if the lexer can later back up to an earlier accepting
position, as lark's does; such tokens are decided one by one (advance plus the
resulting state's mask). Documented bound: when more than
``CompileOptions.max_backup_tokens`` (4096) tokens are in that situation at
one state they stay blocked. The shipped grammars never reach it.

The matcher's ``advance`` checks the mask bit (cached, usually just filled),
so an allowed token is never rejected and a blocked one never accepted.
"""
from __future__ import annotations

import hashlib
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Hashable

import numpy as np

from .budget import time_limit
from .errors import CompileBudgetError, GrammarError
from .fsm.bytedfa import ByteDFA, literal_to_dfa, literals_to_dfa, regex_to_dfa
from .lexer import ExitGroup, Lexer
from .parsing.base import GrammarSpec, bounded_put
from .store.charbounds import CharBounds, count_chars, string_state
from .store.maskstore import SparseBits, or_into
from .tokenizer import TokenizerInfo

State = tuple  # (pstate, uid, started, acc, pending, lexeme)
_UNSET = object()
TERMINATED = ("<terminated>",)


class _Tracker:
    """Read tracking for stack-suffix mask caching (see :meth:`CompiledGrammar.mask`).

    A parser opts in with ``signature(state, k)``, ``track_push()``,
    ``track_pop(state) -> k`` and ``track_note(state, k)`` (the LALR parser
    does); a wrapper whose states are tuples ``(inner_state, *extras)`` around
    such a parser (``.inner``) is handled here, its extras kept whole in the key.

    A parser whose ``k`` is not a plain count sets ``LEAST_K``, its coarsest read (the JSON
    Schema parser's ``(1, 0)``: the top cell, no object bookkeeping), so that the index of read
    depths is keyed by the coarsest signature.

    A wrapper that also tracks reads of its extras (``extras_push``, ``extras_pop(state) -> ext``,
    ``extras_note``, ``extras_signature(state, ext)``: the Python indenter) is keyed by what was
    read of them; "k" is then the pair (k, ext).
    """

    def __init__(self, parser):
        self.ext = None
        if hasattr(parser, "signature"):
            self.base, self.unwrap = parser, False
        elif hasattr(getattr(parser, "inner", None), "signature"):
            self.base, self.unwrap = parser.inner, True
            if hasattr(parser, "extras_signature"):
                self.ext = parser
        else:
            raise TypeError("parser does not support read tracking")
        least = getattr(self.base, "LEAST_K", 1)
        self.least = least if self.ext is None else (least, self.ext.EXTRAS_NONE)

    def signature(self, state, k):
        if self.ext is not None:
            return (self.base.signature(state[0], k[0]), self.ext.extras_signature(state, k[1]))
        if self.unwrap:
            return (self.base.signature(state[0], k), state[1:])
        return self.base.signature(state, k)

    def push(self) -> None:
        self.base.track_push()
        if self.ext is not None:
            self.ext.extras_push()

    def pop(self, state):
        if self.ext is not None:
            return (self.base.track_pop(state[0]), self.ext.extras_pop(state))
        return self.base.track_pop(state[0] if self.unwrap else state)

    def note(self, state, k) -> None:
        if self.ext is not None:
            self.base.track_note(state[0], k[0])
            self.ext.extras_note(state, k[1])
            return
        self.base.track_note(state[0] if self.unwrap else state, k)


class _ValuedExits:
    """The exit groups of one union state that end the same value terminals, by value ending.

    ``suffixes[i]`` is group i's value ending (the token bytes that close the lexeme),
    ``index`` maps an ending to its positions, ``escaped`` lists the positions whose ending
    holds a backslash (a JSON escape: decoded, it may spell any name); ``memo`` is for the
    parser's results about these endings (e.g. which ones a pattern accepts)."""

    __slots__ = ("terms", "groups", "suffixes", "index", "escaped", "memo", "_merged", "_tokens")

    def __init__(self, terms: tuple[int, ...], groups: list[ExitGroup]):
        self.terms, self.groups = terms, groups
        self.suffixes = [g.value for g in groups]
        self.index: dict[bytes, list[int]] = {}
        for i, v in enumerate(self.suffixes):
            self.index.setdefault(v, []).append(i)
        self.escaped = [i for i, v in enumerate(self.suffixes) if b"\\" in v]
        self.memo: dict = {}  # the parser's own per-exit-set results (bounded by the parser)
        self._merged: dict = {}
        self._tokens: dict = {}

    def tokens_of(self, positions: frozenset) -> SparseBits:
        """The tokens of the groups at ``positions`` (cached)."""
        got = self._tokens.get(positions)
        if got is None:
            got = SparseBits(np.concatenate([self.groups[i].ids for i in positions]))
            bounded_put(self._tokens, positions, got, 256)
        return got

    def merged_except(self, excluded: frozenset, lexer) -> ExitGroup:
        """One group with the tokens of every group but those at ``excluded`` (cached)."""
        got = self._merged.get(excluded)
        if got is None:
            keep = [g for i, g in enumerate(self.groups) if i not in excluded]
            got = keep[0] if len(keep) == 1 else lexer.merged(keep)
            bounded_put(self._merged, excluded, got, 256)
        return got


def _or_tails(m: np.ndarray, bits, drop, words: int) -> None:
    """OR tail results ``bits`` into ``m``, less the tokens of ``drop`` (None: none)."""
    if drop is None:
        or_into(m, bits)
        return
    part = np.zeros(words, dtype=np.uint32)
    or_into(part, bits)
    drop.clear_in(part)
    m |= part


@dataclass
class CompileOptions:
    max_compile_seconds: float = 30.0
    max_dfa_states: int = 20000
    mask_cache_size: int = 4096
    tail_cache_size: int = 65536
    max_backup_tokens: int = 4096


def build_grammar(spec: GrammarSpec, tok: TokenizerInfo, options: CompileOptions | None = None,
                  dfa_cache: dict | None = None) -> "CompiledGrammar":
    """Lower a front end's :class:`GrammarSpec` to byte DFAs and wrap it for matching."""
    opts = options or CompileOptions()
    deadline = time.monotonic() + opts.max_compile_seconds
    with time_limit(opts.max_compile_seconds, f"compiling {spec.name}"):
        dfas: list[ByteDFA | None] = []
        for t in spec.terminals:
            if time.monotonic() > deadline:
                raise CompileBudgetError(f"compiling {spec.name} took longer than {opts.max_compile_seconds}s")
            if t.regex is None:
                dfas.append(None)
                continue
            key = t.literal if t.literal is not None else (t.regex, t.also, t.minus) if t.also or t.minus else t.regex
            got = dfa_cache.get(key) if dfa_cache is not None else None
            if got is None:
                if t.literal is not None:
                    if not t.literal:
                        raise GrammarError(f"terminal {t.name} is empty", t.name)
                    got = literal_to_dfa(t.literal)
                elif t.alternatives is not None:
                    got = literals_to_dfa(t.alternatives, opts.max_dfa_states, f"terminal {t.name}")
                else:
                    got = regex_to_dfa(t.regex, opts.max_dfa_states, t.name, also=t.also, minus=t.minus)
                    if got.accept[0]:
                        raise GrammarError(f"terminal {t.name} matches the empty string", _where(t))
                if dfa_cache is not None:
                    dfa_cache[key] = got
            dfas.append(got)
    return CompiledGrammar(spec, tok, dfas, opts)


def _where(t) -> str:
    return f"{t.name}, line {t.line}" if t.line else t.name


class CompiledGrammar:
    """A grammar compiled for one tokenizer. Thread-compatible; create matchers with :meth:`matcher`."""

    def __init__(self, spec: GrammarSpec, tok: TokenizerInfo, dfas: list[ByteDFA | None], options: CompileOptions):
        self.spec = spec
        self.tok = tok
        self.parser = spec.parser
        self.options = options
        self.ignore = spec.ignore
        self.value_terminals = frozenset(getattr(self.parser, "value_terminals", frozenset()))
        # bounded strings need their lexeme tracked, like the terminals the parser inspects
        self._max_chars = [t.max_chars for t in spec.terminals]
        self._len_bounds = [t.len_bounds for t in spec.terminals]
        self._len_only = getattr(self.parser, "len_only", None) if any(self._len_bounds) else None
        self._len_uids: dict[int, Any] = {}
        self.value_terminals |= {i for i, c in enumerate(self._max_chars) if c is not None}
        self._all_tokens = np.full(tok.mask_words, 0xFFFFFFFF, dtype=np.uint32)
        self.lexer = Lexer(spec.terminals, dfas, spec.ignore, self.value_terminals, tok)
        self.track_value = bool(self.value_terminals)
        self.words = tok.mask_words
        self.stop_ids = tuple(tok.stop_token_ids)
        self.stop_bits = np.zeros(self.words, dtype=np.uint32)
        for s in self.stop_ids:
            self.stop_bits[s >> 5] |= np.uint32(1 << (s & 31))
        self._masks: OrderedDict = OrderedDict()
        self._stopped: dict = {}  # id(mask) -> (mask, mask with the stop tokens)
        self._mask_pool: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self._ks: dict = {}
        self._tail_cache: OrderedDict = OrderedDict()
        self._tail_ks: dict = {}
        self._answers: dict = {}  # tail results by the parser's answers (see _tails_now)
        self._backup_depth = 0
        # nondeterministic parsers may ask for whole sets of live terminals (see _jointly_ok)
        self._joint = getattr(self.parser, "joint", None)
        self._fvp = getattr(self.parser, "feed_values_prefix", None)
        self._feed_plans: dict = {}  # terms -> how feed_lexeme hands them to the parser
        self._alive_in: dict = {}  # (union state, within) -> its live terminals with rest tokens
        self._can = getattr(self.parser, "can_feed", None)  # feedability without building states
        self._canon = getattr(self.parser, "canonical_lexeme", None)
        self._dead: dict = {}
        self._plans: dict = {}
        self._fresh: dict = {}
        self._accepting: dict = {}
        try:
            self._tracker: _Tracker | None = _Tracker(self.parser)
        except TypeError:
            self._tracker = None
        # the stop bit apart from the cached mask (see _with_stop): reads counted in cells
        self._stop_apart = self._tracker is not None and isinstance(getattr(self._tracker.base, "LEAST_K", 1), int)
        self.stats = {"mask_hits": 0, "mask_misses": 0}
        self.warm_stats: dict | None = None  # what the compile-time warm-up did (see constrain.warm)
        self.relaxed: list = list(spec.extra.get("relaxed", []))

    # ---------------------------------------------------------------- API
    def matcher(self) -> "Any":
        from .matcher import Matcher

        return Matcher(self)

    @property
    def name(self) -> str:
        return self.spec.name

    def memory_bytes(self) -> int:
        """Bytes held by mask caches for this grammar (the shared store is counted separately)."""
        tails = sum((v[0] if isinstance(v, tuple) else v).nbytes for v in self._tail_cache.values())
        masks = (len({id(m) for m in self._masks.values()}) + len(self._stopped)) * self.words * 4
        return self.lexer.nbytes() + masks + tails

    # ---------------------------------------------------------------- states
    def initial_state(self) -> State:
        p = self.parser.start()
        return (p, self.fresh_uid(p), False, None, b"", b"")

    def fresh_uid(self, p: Hashable) -> int:
        uid = self._fresh.get(p)
        if uid is None:  # keyed by parser state: bounded like the parser's own tables
            uid = bounded_put(self._fresh, p, self.lexer.fresh(frozenset(self.parser.candidates(p))))
        return uid

    def feedable(self, p: Hashable, t: int) -> bool:
        """Could the parser take terminal t here (its value still unknown)?"""
        if t in self.ignore:
            return True
        # not cached here: the parser's own caches record what they read (see mask())
        if self._can is not None:
            return self._can(p, t)
        return self.parser.feed(p, (t,), None) is not None

    def feed_lexeme(self, p: Hashable, terms: tuple[int, ...], value: bytes) -> Hashable | None:
        plan = self._feed_plans.get(terms)
        if plan is None:  # (ignored?, the terms the parser gets, is a value among them?)
            kept = tuple(t for t in terms if t not in self.ignore)
            plan = self._feed_plans[terms] = (terms[0] in self.ignore, kept,
                                              any(t in self.value_terminals for t in kept))
        if plan[0]:
            return p
        return self.parser.feed(p, plan[1], value if plan[2] else b"")

    def advance_bytes(self, state: State, data: bytes) -> State | None:
        """The state after ``data``, or None if it is a lexical or syntax error."""
        p, uid, started, acc, pending, lex = state
        lexer = self.lexer
        step, accepting, track = lexer.step, lexer.union_accepting, self.track_value
        i, n = 0, len(data)
        while i < n:
            b = data[i]
            nu = step(uid, b)
            if nu >= 0:
                uid = nu
                started = True
                i += 1
                if track:  # keep the lexeme only while a value terminal is live
                    lex = lex + data[i - 1 : i] if lexer.union_has_value[nu] else b""
                a = accepting[nu]
                if a:
                    acc, pending = a, b""
                elif acc is not None:
                    pending += data[i - 1 : i]
                continue
            if not started or acc is None:
                return None
            value = lex[: len(lex) - len(pending)] if track else b""
            p = self.feed_lexeme(p, acc, value)
            if p is None:
                return None
            data = pending + data[i:]
            i, n = 0, len(data)
            uid, started, acc, pending, lex = self.fresh_uid(p), False, None, b"", b""
        if lex and self._canon is not None and b"\n" not in pending:
            c = self._canon(lex)
            if len(c) >= len(pending):
                lex = c
        return (p, uid, started, acc, pending, lex)

    def viable(self, state: State) -> bool:
        """Fast sufficient check after a token: a live terminal the parser can take.
        (The matcher decides by the mask bit; this is used where no mask is at hand.)"""
        p, uid, started = state[0], state[1], state[2]
        if not started:
            return True
        return any(self.feedable(p, t) for t, _ in self.lexer.unions[uid])

    def backup(self, state: State) -> State | None:
        """End the current lexeme at its last accepting position; re-lex the bytes read since."""
        p, uid, started, acc, pending, lex = state
        if not started:
            return None
        terms = self.lexer.union_accepting[uid] or acc
        if not terms:
            return None
        if self.lexer.union_accepting[uid]:
            pending = b""
        value = lex[: len(lex) - len(pending)] if self.track_value else b""
        p2 = self.feed_lexeme(p, terms, value)
        if p2 is None:
            return None
        s = (p2, self.fresh_uid(p2), False, None, b"", b"")
        return self.advance_bytes(s, pending) if pending else s

    def is_accepting(self, state: State) -> bool:
        if state is TERMINATED:
            return True
        got = self._accepting.get(state)
        if got is None:
            got = self._accepting[state] = self._accepting_now(state)
            if len(self._accepting) > 100_000:
                self._accepting.clear()
        return got

    def _accepting_now(self, state: State) -> bool:
        if not state[2]:
            return bool(self.parser.accepts_end(state[0]))
        b = self.backup(state)
        return b is not None and self._accepting_now(b)

    # ---------------------------------------------------------------- masks
    def mask(self, state: State) -> np.ndarray:
        """Packed mask of the tokens allowed after ``state`` (stop tokens included when accepting).

        The returned array is shared with the cache: copy it before writing.

        Caching: a mask depends on the parser stack only through the cells its
        computation read. With a tracking parser we record how many top cells
        ``k`` were read and key the mask by (lexer state, top-k cells), so
        stacks that differ deeper down share it exactly; JSON and code revisit
        the same local contexts at many nesting depths. The lexer part of the key
        is the state without the parser state, except inside length-checked
        strings (:meth:`_mask_tag`). The LRU holds ``mask_cache_size`` (4096)
        entries, each distinct mask stored once (:meth:`_pooled`): at most 64 MB for a 128k
        vocabulary, in practice a third of that, and at most 32 MB of stop-bit copies
        (:meth:`_with_stop`).
        """
        if state is TERMINATED:
            return self.stop_bits
        if state[4]:
            state = self._without_dead_fallback(state)
        cache, tr = self._masks, self._tracker
        tag = self._mask_tag(state)
        if tr is None:
            key = (state[0], tag)
            m = cache.get(key)
            if m is not None:
                self.stats["mask_hits"] += 1
                cache.move_to_end(key)
            else:
                self.stats["mask_misses"] += 1
                m = self._token_mask(state)
                self._remember(key, m)
        elif self._stop_apart:
            m = self._by_reads(self._masks, self._ks, tag, state[0],
                               lambda: self._token_mask(state), self.options.mask_cache_size, count=True)
        else:
            return self._by_reads(self._masks, self._ks, tag, state[0],
                                  lambda: self._full_mask(state), self.options.mask_cache_size, count=True)
        return self._with_stop(m) if self.is_accepting(state) else m

    def _full_mask(self, state: State) -> np.ndarray:
        m = self._token_mask(state)
        return m | self.stop_bits if self._accepting_now(state) else m

    def _with_stop(self, m: np.ndarray) -> np.ndarray:
        """``m`` with the stop tokens allowed, one copy per distinct cached mask.

        With a parser whose reads are counted in stack cells (LALR) the stop bit is decided
        apart from the tokens (:meth:`is_accepting`, memoised per state) and is not part of
        the cached mask: whether the input may end here reads the whole stack (every open
        block is closed, down to the start symbol), so a mask keyed with it would be keyed by
        every cell, and each new nesting of the same local context would miss. Python: a mask
        after a name at statement level read all 13-31 cells of its stack, the token part 2-8.
        The JSON Schema parser answers the end from its top frame, and a check per new state
        would cost more than it saves (MaskBench TBM p50 6.7 -> 7.0 us): it keeps the bit in
        the mask."""
        got = self._stopped.get(id(m))
        if got is None or got[0] is not m:  # the entry holds m, so its id stays its own
            # bounded apart from the mask LRU: 1,024 entries hold at most 32 MB for 128k tokens
            # (a copy, and a mask the LRU may have dropped); a clear costs one OR per mask
            got = bounded_put(self._stopped, id(m), (m, m | self.stop_bits), 1024)
        return got[1]

    def _without_dead_fallback(self, state: State) -> State:
        """``state`` without its fallback accept when backing up to it is already a dead end.

        A lexeme keeps its last accept and the bytes read since (``pending``) to back up to if
        it dies. When the pending bytes cannot be lexed after that accept (a triple-quoted
        docstring whose first two quotes were an accept), every continuation that needs the fallback fails,
        as with no fallback: the state then has the same masks as ``acc=None, pending=b""``,
        and is keyed so. Without this every token of a docstring keyed a mask of its own.
        Cost: one re-lex of the pending bytes per new state (memoised)."""
        got = self._dead.get(state)
        if got is None:
            dead = state[3] is not None and not self.lexer.union_accepting[state[1]] and self.backup(state) is None
            got = (state[0], state[1], state[2], None, b"", state[5]) if dead else state
            bounded_put(self._dead, state, got, 4096)
        return got

    def _mask_tag(self, state: State) -> tuple:
        """The lexer part of a mask's cache key: ``state[1:]``, except inside an open string whose
        value matters only through its length (``Terminal.len_bounds``, and the parser's
        ``len_only`` says nothing else reads it here). The lexeme is then replaced by its
        character-count class (:meth:`CharBounds.length_class`), so a ``maxLength`` string
        costs one mask per class, shared across strings, instead of one per lexeme."""
        lex = state[5]
        if not lex or self._len_only is None or state[3] is not None:
            return state[1:]
        uid = state[1]
        got = self._len_uids.get(uid, _UNSET)
        if got is _UNSET:
            got = bounded_put(self._len_uids, uid, self._len_union(uid), 65536)
        if got is None or not self._len_only(state[0], got[0]):
            return state[1:]
        n, esc = string_state(lex[1:])
        if esc >= 2:
            return state[1:]
        cb = CharBounds.for_tokenizer(self.tok)
        return (uid, state[2], None, state[4], ("len", esc) + tuple(cb.length_class(n, lo, hi) for lo, hi in got[1]))

    def _len_union(self, uid: int):
        """(value terminals, their distinct length bounds) of an open-string union state whose
        every value terminal has ``len_bounds``; None otherwise."""
        if self.lexer.union_accepting[uid]:
            return None
        vt = tuple(t for t, _ in self.lexer.unions[uid] if t in self.value_terminals)
        if not vt or any(self._len_bounds[t] is None for t in vt):
            return None
        return vt, tuple(sorted({self._len_bounds[t] for t in vt}, key=repr))

    def _by_reads(self, cache: OrderedDict, index: dict, tag, p, compute, limit: int, count: bool = False):
        """Look up or compute a result that depends on ``tag`` and the stack cells of ``p`` it reads.

        ``index`` maps (tag, top cell) to the read depths k seen so far; ``cache`` maps
        (tag, k, top-k cells) to results, LRU-bounded by ``limit``."""
        tr = self._tracker
        head = (tag, tr.signature(p, tr.least))
        ks = index.get(head)
        if ks:
            for k in ks:
                key = (tag, k, tr.signature(p, k))
                m = cache.get(key)
                if m is not None:
                    if count:
                        self.stats["mask_hits"] += 1
                    cache.move_to_end(key)
                    tr.note(p, k)
                    return m
        if count:
            self.stats["mask_misses"] += 1
        tr.push()
        try:
            m = compute()
        finally:
            k = tr.pop(p)
        if cache is self._masks:
            m = self._pooled(m)
        cache[(tag, k, tr.signature(p, k))] = m
        if len(cache) > limit:
            cache.popitem(last=False)
        if not ks or k not in ks:
            if len(index) >= 16 * limit:  # an index of read depths only: clearing costs misses
                index.clear()
                ks = None
            index[head] = tuple(sorted((ks or ()) + (k,)))
        return m

    def _pooled(self, m: np.ndarray) -> np.ndarray:
        """``m``, or an equal mask already cached: many states share a mask (a string's inside
        at different depths whose exits agree), so the cache holds each distinct mask once.
        Cost: a 128-bit digest per computed mask (~10 us for a 128k vocabulary)."""
        d = hashlib.blake2b(m, digest_size=16).digest()
        got = self._mask_pool.get(d)
        if got is not None and np.array_equal(got, m):
            return got
        self._mask_pool[d] = m
        return m

    def _remember(self, key, m: np.ndarray) -> None:
        cache = self._masks
        m = self._pooled(m)
        cache[key] = m
        if len(cache) > self.options.mask_cache_size:
            cache.popitem(last=False)

    def _token_mask(self, state: State, within: int | None = None) -> np.ndarray:
        """The tokens allowed after ``state`` (no stop tokens). ``within``: a union state whose
        ``rest`` tokens are the only ones wanted; exit groups with none of them are skipped
        (the result may then hold other tokens too: the caller ANDs with that ``rest``)."""
        p, uid, started, acc, pending, lex = state
        info = self.lexer.info(uid)
        m = np.zeros(self.words, dtype=np.uint32)
        blocked = None  # tokens keeping only terminals the parser cannot take alive
        caps = self._max_chars
        for t, bits in (info.alive.items() if within is None else self._alive_within(uid, within)):
            if self.feedable(p, t):
                if caps[t] is not None:
                    bits = bits & self._open_string_cap(caps[t], lex, started)
                m |= bits
            elif blocked is None:
                blocked = bits.copy()
            else:
                blocked |= bits
        if self._joint is not None and self._joint(p):
            m &= self._jointly_ok(p, self.lexer.alive_sets(uid))
        if blocked is not None:
            # such a lexeme can still die before completing, and the lexer then backs up
            # to the last accepting position (lark does): decide these tokens one by one.
            # With no accept so far and only prefix-free members (literals, quoted strings),
            # the only positions to back up to are accepts inside the token (info.alive_acc).
            cand = blocked & ~m
            if within is not None:
                cand &= self.lexer.info(within).rest
            if acc is None and self.lexer.union_prefix_free[uid]:
                if info.alive_acc is None:
                    cand = None
                else:
                    cand &= info.alive_acc
            if cand is not None:
                self._backup_tokens(state, cand, m)
        exits = info.exits if within is None else self.lexer.exits_within(uid, within)
        self._exit_masks(p, lex, exits, m)
        if info.rest_any and started:
            b = self.backup(state)
            if b is not None:
                m |= self._rest_mask(b, uid)
        return m

    def _alive_within(self, uid: int, within: int) -> list:
        """The live terminals of ``uid`` with some of ``within``'s ``rest`` tokens (cached).

        After a name, the rest mask wants tokens that end it, so none that a name or a keyword
        keeps alive: asking the parser about those (``else``, ``in``: reads down the whole
        expression) would only make the mask's key deeper, and its tokens are ANDed away."""
        key = (uid, within)
        got = self._alive_in.get(key)
        if got is None:
            rest = self.lexer.info(within).rest
            got = [(t, bits) for t, bits in self.lexer.info(uid).alive.items() if (bits & rest).any()]
            bounded_put(self._alive_in, key, got, 65536)
        return got

    def _rest_mask(self, b: State, uid: int) -> np.ndarray:
        """Tokens allowed after the backed-up state ``b`` among ``rest`` of union state ``uid``
        (those that kill the lexeme with no accepting position inside them).

        Only these tokens are wanted, so exit groups without any are not decided: after an
        identifier that is every group whose tokens start with an identifier byte. Cached like
        masks, under ``b``'s lexer state and ``uid``."""
        rest = self.lexer.info(uid).rest
        if self._tracker is None:
            return self._token_mask(b, uid) & rest
        return self._by_reads(self._masks, self._ks, (b[1:], uid), b[0],
                              lambda: self._token_mask(b, uid) & rest, self.options.mask_cache_size)

    def _open_string_cap(self, limit: int, lex: bytes, started: bool) -> np.ndarray:
        """Tokens that keep a string of at most ``limit`` characters within it (see store.charbounds)."""
        cb = CharBounds.for_tokenizer(self.tok)
        if not started:  # the token opens the string: its first byte is the quote
            return cb.at_most(limit + 1)
        n, esc = string_state(lex[1:])
        if esc >= 2:  # inside \uXXXX (never generated here): no cap
            return self._all_tokens
        return cb.at_most(limit - n, esc == 1)

    def _capped_tails(self, ti, t: int, limit: int) -> SparseBits:
        """Tokens of a tail group that open a bounded string and stay within ``limit`` characters."""
        got = ti.capped.get((t, limit))
        if got is None:
            ids, offs = ti.open_strings[t]
            tb = self.tok.token_bytes
            keep = [k for k in range(len(ids)) if count_chars(tb[int(ids[k])][int(offs[k]) + 1 :]) <= limit]
            got = ti.capped[(t, limit)] = SparseBits(ids[keep])
        return got

    def _backup_tokens(self, state: State, cand: np.ndarray, m: np.ndarray) -> None:
        """Allow each token of ``cand`` whose resulting state can still continue (by backup).

        Bound: above ``max_backup_tokens`` candidates they stay blocked (documented)."""
        if self._backup_depth >= 2 or not cand.any():
            return
        ids = self.tok.bitmask_to_ids(cand)
        if len(ids) > self.options.max_backup_tokens:
            return
        tb = self.tok.token_bytes
        self._backup_depth += 1
        try:
            for t in ids.tolist():
                s2 = self.advance_bytes(state, tb[t])
                if s2 is not None and self._viable_by_backup(s2):
                    m[t >> 5] |= np.uint32(1 << (t & 31))
        finally:
            self._backup_depth -= 1

    def _viable_by_backup(self, s2: State) -> bool:
        """``s2`` keeps only terminals the parser cannot take alive: it continues only by ending
        the input or by a token that kills them without a new accept (then the lexer backs up)."""
        if self._accepting_now(s2):
            return True
        b = self.backup(s2)
        if b is None:
            return False
        return bool(self._rest_mask(b, s2[1]).any())

    def _tails(self, p: Hashable, g: ExitGroup):
        """Tokens of ``g`` whose tails are valid from parser state ``p`` (fresh lexeme), as a
        packed mask or :class:`SparseBits`.

        Cached like masks: by the group and the top-k stack cells the computation read,
        so the same tails after the same local context are decided once."""
        if self._tracker is None:  # keyed by the whole (interned) parser state
            key = (p, id(g))
            got = self._tail_cache.get(key)
            if got is None:  # the entry holds g, so its id stays its own
                got = self._tail_cache[key] = (self._tails_now(p, g), g)
                if len(self._tail_cache) > self.options.tail_cache_size:
                    self._tail_cache.popitem(last=False)
            else:
                self._tail_cache.move_to_end(key)
            return got[0]
        # the entry holds g (merged groups can be evicted), so its id stays its own
        return self._by_reads(self._tail_cache, self._tail_ks, id(g), p,
                              lambda: (self._tails_now(p, g), g),
                              self.options.tail_cache_size)[0]

    def _tails_now(self, p: Hashable, g: ExitGroup):
        """:meth:`_tails` computed: the parser's answers first, then the tokens they allow.

        The answers are all this result depends on: which live terminals the parser takes,
        which exits it takes and the (cached) tails of those. The result is memoised by them
        (``_answers``), so when a stack unseen below its top cells asks the same questions
        and gets the same answers, as most do (a ``;`` or a newline after ``)`` reads down to
        the statement's start, and the answer is the same at nearly every statement), the
        tokens are not OR-ed together again. Cost of a repeated set of answers: the parser
        questions and one dict lookup."""
        ti = self.lexer.tail_info(g, self.fresh_uid(p))
        ok = tuple(t for t in ti.alive if self.feedable(p, t))
        joint = self._joint is not None and self._joint(p)
        jk = self._jointly_ok_answers(p, ti.alive_sets) if joint else None
        todo = self._exit_todo(p, b"", ti.exits)
        subs = [self._tails(p2, g2) for p2, g2, _ in todo]
        key = (id(ti), ok, jk, tuple((id(g2), id(sb), id(d)) for (_, g2, d), sb in zip(todo, subs)))
        got = self._answers.get(key)
        if got is not None:
            return got[0]
        m = np.zeros(self.words, dtype=np.uint32)
        if ti.empty is not None:  # the parser took the lexeme and the token ends with it
            ti.empty.or_into(m)
        caps = self._max_chars
        a = np.zeros(self.words, dtype=np.uint32) if joint else m
        for t in ok:
            bits = ti.alive[t]
            if caps[t] is not None:
                bits = self._capped_tails(ti, t, caps[t])
            or_into(a, bits)
        if joint:
            ok_sets = np.zeros(self.words, dtype=np.uint32)
            for (_, bits), yes in zip(ti.alive_sets, jk):
                if yes:
                    or_into(ok_sets, bits)
            m |= a & ok_sets
        for (_, _, drop), sb in zip(todo, subs):
            _or_tails(m, sb, drop, self.words)
        got = SparseBits.compact(m)
        # the entry holds what the key's ids name, so they stay their own
        bounded_put(self._answers, key, (got, ti, todo and [(g2, d) for _, g2, d in todo], subs), 65536)
        return got

    def _jointly_ok_answers(self, p: Hashable, alive_sets) -> tuple[bool, ...]:
        """``feasible`` for each live set of ``alive_sets`` (see :meth:`_jointly_ok`)."""
        feasible = self.parser.feasible
        return tuple(bool(feasible(p, terms)) for terms, _ in alive_sets)

    def _jointly_ok(self, p: Hashable, alive_sets) -> np.ndarray:
        """Tokens whose set of live terminals the parser could take together (``feasible``).

        A nondeterministic parser (JSON Schema combinators) may need several terminals to be
        taken by different configurations at once (an ``allOf`` whose branches lex the same key
        as a literal and as an additional-key string): asking about one terminal at a time is
        then either too strict or too loose, so it asks about each token's whole live set."""
        ok = np.zeros(self.words, dtype=np.uint32)
        feasible = self.parser.feasible
        for terms, bits in alive_sets:
            if feasible(p, terms):
                or_into(ok, bits)
        return ok

    def _exit_masks(self, p: Hashable, lex: bytes, exits: list[ExitGroup], m: np.ndarray) -> None:
        """OR into ``m`` the tokens of ``exits`` whose lexeme the parser takes and whose tail is valid.

        Groups that differ only in the lexeme's value (one group per distinct value) are fed
        together; those that lead to the same parser state share one tail computation over
        their merged tokens. A parser with ``feed_values_prefix`` is told the lexeme's bytes so
        far and the groups' value endings once (:class:`_ValuedExits`), and answers with the
        state most values lead to plus the few exceptions (the known keys starting with the
        key typed so far): a string or key position with hundreds of closing tokens then
        costs a few parser feeds, no Python work per token or per value, and one cached tail.
        The tails still unknown are then walked together, one walk per next lexer state.

        The state most values lead to (the *major* one) is asked about the tails of every
        group's tokens, and the tokens of the other values are then cleared from its answer
        (a token's tail is judged on its own, so the answer for a subset is the answer for
        the whole set restricted to it). The group of all tokens is the same at every lexeme
        of a lexer state, so its tails are lexed and judged once per major state instead of
        once per set of exceptions: inside a key, every prefix has its own exceptions (the
        known names starting with it); inside a ``maxLength`` string, the values that still
        fit change with each character."""
        for p2, g, drop in self._exit_todo(p, lex, exits):
            _or_tails(m, self._tails(p2, g), drop, self.words)

    def _exit_todo(self, p: Hashable, lex: bytes, exits: list[ExitGroup]) -> list:
        """The exits of :meth:`_exit_masks` the parser takes: (next parser state, group whose
        tails to decide from it, tokens to leave out of the answer or None)."""
        plain, valued = self._exit_plan(exits)
        todo: list[tuple[Hashable, ExitGroup, SparseBits | None]] = []
        for g in plain:
            p2 = self.feed_lexeme(p, g.terms, b"")
            if p2 is not None:
                todo.append((p2, g, None))
        for ve in valued:
            todo.extend(self._valued_todo(p, lex, ve))
        if len(todo) > 1:
            self.lexer.prefetch_tails([(g, self.fresh_uid(p2)) for p2, g, _ in todo])
        return todo

    def _valued_todo(self, p: Hashable, lex: bytes, ve: "_ValuedExits") -> list:
        """:meth:`_exit_todo` for the groups of one value terminal (see :meth:`_exit_masks`)."""
        terms, gs = ve.terms, ve.groups
        if len(gs) == 1:
            p2 = self.feed_lexeme(p, terms, lex + gs[0].value)
            return [] if p2 is None else [(p2, gs[0], None)]
        got = self._prefixed(p, terms, lex, ve)
        if got is not None:
            major, minor = got
        else:
            p2s = self.feed_values(p, terms, [lex + g.value for g in gs])
            by: dict[Hashable, list[int]] = {}
            for i, p2 in enumerate(p2s):
                by.setdefault(p2, []).append(i)
            major = max((s2 for s2 in by if s2 is not None), key=lambda s2: len(by[s2]), default=None)
            minor = {i: s2 for s2, idx in by.items() if s2 is not major for i in idx}
        todo = []
        if major is not None:
            # the tokens of every group, decided from the state most values lead to, minus
            # the other values' tokens (see the docstring)
            todo.append((major, ve.merged_except(frozenset(), self.lexer),
                         ve.tokens_of(frozenset(minor)) if minor else None))
        same: dict[Hashable, list[ExitGroup]] = {}
        for i, p2 in minor.items():
            if p2 is not None:
                same.setdefault(p2, []).append(gs[i])
        for p2, members in same.items():
            todo.append((p2, members[0] if len(members) == 1 else self.lexer.merged(members), None))
        return todo

    def _exit_plan(self, exits: list[ExitGroup]) -> tuple:
        """``exits`` split into groups without a value and :class:`_ValuedExits` per terminals (cached)."""
        key = id(exits)
        got = self._plans.get(key)
        if got is None:
            plain: list[ExitGroup] = []
            by_terms: dict[tuple, list[ExitGroup]] = {}
            for g in exits:
                if g.value is None:
                    plain.append(g)
                else:
                    by_terms.setdefault(g.terms, []).append(g)
            got = (plain, [_ValuedExits(t, gs) for t, gs in by_terms.items()], exits)
            bounded_put(self._plans, key, got, 65536)  # the entry holds ``exits``: its id stays its own
        return got[0], got[1]

    def _prefixed(self, p: Hashable, terms: tuple[int, ...], lex: bytes, ve: "_ValuedExits"):
        """The parser's ``feed_values_prefix`` for value terminals (None: not applicable)."""
        fvp = self._fvp
        if fvp is None or terms[0] in self.ignore or not any(t in self.value_terminals for t in terms):
            return None
        if any(t in self.ignore for t in terms):
            return None
        return fvp(p, terms, lex, ve)

    def feed_values(self, p: Hashable, terms: tuple[int, ...], values: list[bytes]) -> list:
        """``feed_lexeme`` for several values of the same terminals (the parser may batch them)."""
        if terms[0] in self.ignore or not any(t in self.value_terminals for t in terms):
            return [self.feed_lexeme(p, terms, b"")] * len(values)
        if any(t in self.ignore for t in terms):
            terms = tuple(t for t in terms if t not in self.ignore)
        batch = getattr(self.parser, "feed_values", None)
        if batch is not None:
            return batch(p, terms, values)
        return [self.parser.feed(p, terms, v) for v in values]
