"""Lower the IR to terminals + per-node tables for :class:`.parser.SchemaParser`."""
from __future__ import annotations

import bisect
import json
import re
import time
from decimal import Decimal

from ...errors import CompileBudgetError, RegexError, SchemaError, UnsupportedSchemaError
from ...fsm import ecma_regex as er
from ...fsm.formats import CHECKED_FORMATS, FORMATS
from ...fsm.numeric import literal_regex, number_regex
from ...parsing.base import Terminal, bounded_put
from .ir import ANY, FALSE, ArrC, Ctx, Group, Lazy, Node, Typed, Union, EXACT, and_nodes, canon_number, deref, is_multiple, jkey
from .parser import ADDITIONAL, COLON, COMMA, FALSE_T, LBRACE, LBRACK, NULL, RBRACE, RBRACK, TRUE, WS, _decode_string, _num_key

LEN_REGEX_LIMIT = 32  # longer maxLength is checked when the string ends (see package docs)
ENUM_RANGE_LIMIT = 256  # bounded ranges with multipleOf are enumerated up to this many values


_LIT_TABLE = {ord(c): "\\" + c for c in er._SPECIAL}
_LIT_TABLE.update({i: f"\\x{i:02x}" for i in range(0x20)})
MAX_ENUM_VALUES = 5000  # string enums above this (or MAX_ENUM_CHARS of regex) raise CompileBudgetError
MAX_ENUM_CHARS = 200_000
LITERAL_ENUM_LIMIT = 64  # string enums up to this size become one literal terminal per value


def _lit_rx(s: str) -> str:
    return s.translate(_LIT_TABLE)


class _Fsm:
    """Decoded-string membership for an ECMA pattern, by interegular DFA (no backtracking).

    ``get`` returns the DFA flattened for :func:`_fsm_accepts`: a plain char -> symbol dict
    and per-state rows (interegular's ``Alphabet.__getitem__`` costs ~10x more per char)."""

    cache: dict = {}

    @classmethod
    def get(cls, pattern: str):
        f = cls.cache.get(pattern)
        if f is None:
            import interegular
            from interegular.fsm import anything_else

            main, musts, nots = er.search_parts(pattern)
            try:
                fsm = interegular.parse_pattern(er.to_python(main)).to_fsm()
                for x in musts:  # lookaheads: an intersection (see ecma_regex.search_parts)
                    fsm = fsm.intersection(interegular.parse_pattern(er.to_python(x)).to_fsm())
                for x in nots:
                    fsm = fsm.difference(interegular.parse_pattern(er.to_python(x)).to_fsm())
            except Exception as e:  # noqa: BLE001
                raise RegexError(f"cannot compile pattern {pattern!r}: {e}") from e
            sm = {c: i for c, i in fsm.alphabet._symbol_mapping.items() if c is not anything_else}
            other = fsm.alphabet._symbol_mapping.get(anything_else, -1)
            f = cls.cache[pattern] = (sm, other, {s: dict(row) for s, row in fsm.map.items()},
                                      fsm.initial, frozenset(fsm.finals))
        return f


def _fsm_accepts(fsm, s: str) -> bool:
    return _fsm_walk(fsm, fsm[3], s) in fsm[4]


def _fsm_walk(fsm, state, s: str):
    """The state after ``s`` from ``state``, or None if the DFA dies."""
    sm, other, rows = fsm[0], fsm[1], fsm[2]
    get = sm.get
    for ch in s:
        row = rows.get(state)
        if row is None:
            return None
        state = row.get(get(ch, other))
        if state is None:
            return None
    return state


def _pattern_hits(ve, fsm, state, opens: bool) -> set:
    """Positions of ``ve`` (``grammar._ValuedExits``) whose ending (``opens``: also the opening
    quote) takes the pattern DFA ``fsm`` from ``state`` to an accepting state. Endings that do
    not decode on their own count as hits (they are then decided one by one). Cached in
    ``ve.memo``; the entry holds ``fsm``, so its id stays its own."""
    key = ("pattern", id(fsm), state, opens)
    got = ve.memo.get(key)
    if got is None:
        hits = set()
        finals = fsm[4]
        for i, v in enumerate(ve.suffixes):
            try:
                text = v[1 if opens else 0 : -1].decode("utf-8")
            except UnicodeDecodeError:
                hits.add(i)
                continue
            if _fsm_walk(fsm, state, text) in finals:
                hits.add(i)
        got = bounded_put(ve.memo, key, (hits, fsm), 1024)
    return got[0]


def pattern_body(pattern: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(JSON string body of ``pattern``'s search language, whole-terminal regexes it must also
    match, ones it must not): its leading lookaheads as ``Terminal.also`` / ``minus``."""
    main, musts, nots = er.search_parts(pattern)
    return (er.to_json_body(main), tuple(f'"(?:{er.to_json_body(x)})"' for x in musts),
            tuple(f'"(?:{er.to_json_body(x)})"' for x in nots))


def pattern_matches(pattern: str, s: str) -> bool:
    return _fsm_accepts(_Fsm.get(pattern), s)


class TInfo:
    __slots__ = ("cands", "scalars", "obj", "arr", "str_ok", "num_ok")

    def __init__(self):
        self.cands = frozenset()
        self.scalars = {}
        self.obj = None
        self.arr = None


class ObjInfo:
    def __init__(self, comp, t: Typed):
        self.comp = comp
        o = t.o
        self.t = t
        self.required = o.required
        self.min, self.max = o.min_props, o.max_props
        self.sat = max(self.min, self.max or 0)  # property counts past the bounds behave alike
        self.deps = {}
        for k, names in o.dep_required:
            self.deps[k] = self.deps.get(k, frozenset()) | names
        order: list = []
        for p in o.parts:
            for k in p.props:
                if k not in order:
                    order.append(k)
        self.names_nodes = o.names
        # known names -> merged node
        self.known = {}
        for k in order:
            if not self.name_ok(k):
                continue
            node = ANY
            for p in o.parts:
                node = and_nodes(comp.ctx, node, self.part_node(p, k))
            self.known[k] = node
        self.order = [k for k in order if k in self.known]
        self.idx = {k: i for i, k in enumerate(self.order)}
        self.generic = all(not (p.additional is FALSE and not p.patterns) for p in o.parts)
        self.key_terms = set()
        self.lit = {}
        for k in self.order:
            tid = comp.literal(json.dumps(k, ensure_ascii=False))
            self.lit[k] = tid
            self.key_terms.add(tid)
            comp.value_terms.add(tid)
        self.generic_term = None
        self.generic_any = False  # the additional-key terminal accepts any string
        if self.generic:
            rx, also, minus = self.generic_regex()
            self.generic_any = rx == f'"(?:{er.json_char_regex(er.ANY)}*)"' and not also and not minus
            self.generic_term = comp.regex(rx, value=True, also=also, minus=minus)
            self.key_terms.add(self.generic_term)
        self.all_key_terms = frozenset(self.key_terms)
        self._gen_memo = {}
        self._cands = {}
        self._ordinary: dict = {}
        self.has_patterns = any(p.patterns for p in o.parts)
        self._special_names = set(self.known) | set(self.required) | set(self.deps)
        for names in self.deps.values():  # required once their key is present
            self._special_names |= names
        # special names by their escape-free key lexeme (see key_sig)
        self._special_lex = {json.dumps(k, ensure_ascii=False).encode(): k for k in self._special_names}
        self.plain_keys = not self.has_patterns and not self.names_nodes
        self._pattern_fsms = None
        self._special_sorted = sorted(self._special_lex)
        self._generic_child = None

    def special(self, name) -> bool:
        """Does this name behave differently from an ordinary additional property?"""
        if name in self._special_names:
            return True
        return self.has_patterns and any(pattern_matches(pat, name) for p in self.t.o.parts for pat, _ in p.patterns)

    def key_sig(self, lexeme: bytes, ordinary: bool):
        """What the outcome of taking key ``lexeme`` can depend on (see ``SchemaParser.feed_values``):
        ``("name", name)`` for a special name, else ``ordinary`` (``ordinary_ok`` of the frame),
        refined by ``propertyNames``; False for a lexeme that is no JSON string.

        Without patterns or propertyNames an escape-free lexeme is special iff it is one of the
        special names' ``json.dumps`` forms, a dict lookup; the lexeme matched a key terminal,
        whose language holds only valid JSON strings, so an ordinary one decodes."""
        if self.plain_keys and b"\\" not in lexeme:
            name = self._special_lex.get(lexeme)
            return ordinary if name is None else ("name", name)
        name = _decode_string(lexeme)
        if name is None:
            return False
        if self.special(name):
            return ("name", name)
        return ordinary and (not self.names_nodes or self.name_ok(name))

    def special_positions(self, prefix: bytes, ve) -> set | None:
        """Positions i of ``ve`` (see ``grammar._ValuedExits``) whose key ``prefix + ve.suffixes[i]``
        may be special here; every other one is an ordinary name. None: not decidable this way
        (propertyNames, an escape or a split character in ``prefix``).

        Known names by bisection over their key lexemes; patterns by their DFA state after
        ``prefix``, with each state's matching endings computed once per ``ve`` and cached."""
        if self.names_nodes or b"\\" in prefix:
            return None
        out: set = set()
        n = len(prefix)
        for lx in self.specials_with_prefix(prefix):
            out.update(ve.index.get(lx[n:], ()))
        sufs = ve.suffixes
        for i in ve.escaped:  # decoded, an escape may spell a special name
            if type(self.key_sig(prefix + sufs[i], True)) is tuple:
                out.add(i)
        if self.has_patterns:
            try:
                head = prefix[1:].decode("utf-8") if prefix else ""
            except UnicodeDecodeError:
                return None
            fsms = self._pattern_fsms
            if fsms is None:
                fsms = self._pattern_fsms = list({id(f): f for f in (_Fsm.get(pat) for p in self.t.o.parts
                                                                     for pat, _ in p.patterns)}.values())
            for f in fsms:
                st = _fsm_walk(f, f[3], head)
                if st is not None:
                    out |= _pattern_hits(ve, f, st, not prefix)
        return out

    def specials_with_prefix(self, prefix: bytes) -> list[bytes]:
        """The special names' key lexemes (``json.dumps`` form) that start with ``prefix``."""
        ss = self._special_sorted
        i = bisect.bisect_left(ss, prefix)
        out = []
        while i < len(ss) and ss[i].startswith(prefix):
            out.append(ss[i])
            i += 1
        return out

    def generic_child(self):
        """The schema of an additional property that matches no pattern."""
        got = self._generic_child
        if got is None:
            nodes = [ANY if p.additional is None else p.additional for p in self.t.o.parts]
            nodes = [n for n in nodes if n is not ANY]
            if any(n is FALSE for n in nodes):
                got = FALSE
            elif not nodes:
                got = ANY
            else:
                got = nodes[0] if len(nodes) == 1 else Group("all", nodes)
            self._generic_child = got
        return got

    def part_node(self, p, k, runtime=False):
        if k in p.props:
            node = p.props[k]
            for pat, pn in p.patterns:
                if pattern_matches(pat, k):
                    node = and_nodes(self.comp.ctx, node, pn)
            return node
        matched = [pn for pat, pn in p.patterns if pattern_matches(pat, k)]
        if matched:
            if runtime:  # no new terminals after compile: intersect in parallel
                return matched[0] if len(matched) == 1 else Group("all", matched)
            node = matched[0]
            for x in matched[1:]:
                node = and_nodes(self.comp.ctx, node, x)
            return node
        return ANY if p.additional is None else p.additional

    def name_ok(self, k) -> bool:
        return all(self.comp.py_valid(n, k) for n in self.names_nodes)

    def generic_regex(self) -> tuple[str, tuple, tuple]:
        """(regex, also, minus) of the additional-key terminal (see ``Compiler.regex``): the key
        language is propertyNames' string language if simple, else any string; with
        additionalProperties false in every part, the union of the part's patterns (one
        pattern may have leading lookaheads: an intersection)."""
        body, also, minus = None, (), ()
        if len(self.names_nodes) == 1:
            n = deref(self.names_nodes[0])
            if isinstance(n, Typed) and "string" in n.types and n.enum is None:
                body, _, also, minus = self.comp.string_body(n)
        if body is None:
            pats = None
            if len(self.t.o.parts) == 1 and self.t.o.parts[0].additional is FALSE:
                pats = [pat for pat, _ in self.t.o.parts[0].patterns]
            if pats and len(pats) == 1:
                body, also, minus = pattern_body(pats[0])
            elif pats:
                body = "|".join(f"(?:{er.to_json_body(er.search_language(p))})" for p in pats)
            else:
                body = f"{er.json_char_regex(er.ANY)}*"
        return f'"(?:{body})"', also, minus

    def child(self, name):
        if name in self.known:
            return self.known[name]
        if name is ADDITIONAL or not self.has_patterns:
            return self.generic_child()
        got = self._gen_memo.get(name)
        if got is None:
            nodes = [self.part_node(p, name, True) for p in self.t.o.parts]
            nodes = [n for n in nodes if n is not ANY]
            if any(n is FALSE for n in nodes):
                got = FALSE
            elif not nodes:
                got = ANY
            elif len(nodes) == 1:
                got = nodes[0]
            else:
                got = Group("all", nodes)
            if len(self._gen_memo) < 4096:
                self._gen_memo[name] = got
        return got

    def new_last(self, last, name):
        i = self.idx.get(name)
        return last if i is None else i  # additional keys do not move the schema-order position

    def new_req(self, req, seen, name):
        r = req - {name}
        d = self.deps.get(name)
        if d:
            r = r | (d - seen - {name})
        return r

    def can_close(self, f) -> bool:
        return not f[6] and f[4] >= self.min

    def key_ok(self, f, name, order) -> bool:
        seen, count, last, req = f[3], f[4], f[5], f[6]
        if name in seen:
            return False
        i = self.idx.get(name)
        if i is None:
            if not self.generic or not self.name_ok(name):
                return False
            # schema order: additional keys come after the required known ones
            if order == "schema" and any(r in self.idx for r in self.new_req(req, seen, name)):
                return False
        elif order == "schema":
            if i <= last:
                return False
            if any(r in self.idx and last < self.idx[r] < i for r in req):
                return False
        if self.max is not None:
            r2 = self.new_req(req, seen, name)
            if count + 1 + len(r2) > self.max:
                return False
        if order == "schema":
            r2 = self.new_req(req, seen, name)
            if i is not None and any(r in self.idx and self.idx[r] < i for r in r2):
                return False
        return self.comp.nonempty(self.child(name))

    def ordinary_ok(self, f, order) -> bool:
        """``key_ok`` for an ordinary additional name (not special: no dependency, not
        required, no pattern), before its ``propertyNames`` check: the same for all of them."""
        key = (f[3], f[4], f[6], order)
        got = self._ordinary.get(key)
        if got is None:
            req = f[6]
            got = self.generic and not (order == "schema" and any(r in self.idx for r in req)) \
                and (self.max is None or f[4] + 1 + len(req) <= self.max) \
                and self.comp.nonempty(self.generic_child())
            self._ordinary[key] = got
        return got

    def key_cands(self, f, order) -> frozenset:
        key = (f[3], f[4], f[5], f[6], order)
        got = self._cands.get(key)
        if got is None:
            acc = set()
            seen, count, last, req = key[:4]
            for k in self.order:
                if self.key_ok(f, k, order):
                    acc.add(self.lit[k])
            if self.generic_term is not None:
                ok = self.max is None or count + 1 + len(req) <= self.max
                if order == "schema" and any(r in self.idx for r in req):
                    ok = False  # no additional key before the required known ones (see key_ok)
                if ok:
                    acc.add(self.generic_term)
            got = self._cands[key] = frozenset(acc)
        return got


class ArrInfo:
    def __init__(self, comp, t: Typed):
        a: ArrC = t.a
        self.comp = comp
        self.a = a
        self.prefix = [x if x is not None else ANY for x in a.prefix]
        self.items = ANY if a.items is None else a.items
        self.min, self.max = a.min_items, a.max_items
        self.contains = a.contains
        self.zero_counts = tuple(0 for _ in a.contains)
        self.uniq0 = frozenset() if a.unique else None
        self._items = {}
        # item indices past every bound behave alike: counting stops there, so array frames
        # (and the masks cached by them) are the same for every later item
        self.sat = max(len(self.prefix), self.min, self.max or 0)

    def base(self, i):
        return self.prefix[i] if i < len(self.prefix) else self.items

    def item(self, i):
        key = min(i, len(self.prefix))
        got = self._items.get(key)
        if got is None:
            b = self.base(i)
            got = Group("contains", [b] + [c for c, _, _ in self.contains]) if self.contains else b
            self._items[key] = got
        return got

    def can_more(self, i) -> bool:
        if self.max is not None and i >= self.max:
            return False
        return self.comp.nonempty(self.base(i))

    def finite_values(self, i):
        """The values item ``i`` can take, if each is one literal terminal (a string, boolean or
        null enum), as item values (``Compiler.scalar_token``); else None. With uniqueItems they
        make the array exact: a used literal is not a candidate, and a comma needs one left."""
        key = ("finite", min(i, len(self.prefix)))
        got = self._items.get(key, False)
        if got is False:
            got = None
            node = deref(self.base(i))
            if isinstance(node, Typed):
                ti = self.comp.tinfo(node)
                lits = [(t, self.comp.terminals[t].literal) for t in ti.cands]
                if lits and all(lit is not None and ti.scalars.get(t) is None for t, lit in lits):
                    got = frozenset(self.comp.scalar_token(t, lit) for t, lit in lits)
            self._items[key] = got
        return got

    def can_close(self, f) -> bool:
        if f[3] < self.min:
            return False
        return all(n >= mn for n, (_, mn, _) in zip(f[4], self.contains))

    def item_done(self, f, tag):
        counts = f[4]
        if self.contains:
            tag = tag or frozenset()
            counts = tuple(n + (1 if (j + 1) in tag else 0) for j, n in enumerate(counts))
            for n, (_, _, mx) in zip(counts, self.contains):
                if mx is not None and n > mx:
                    return None
        uniq = f[5]
        if uniq is not None:
            v = _build_value(f[6])
            if v in uniq:
                return None
            uniq = uniq | {v}
        return ("A", f[1], 4, min(f[3] + 1, self.sat), counts, uniq, ())


def _build_value(toks):
    it = iter(toks)

    def val(t):
        if t == "{":
            d = []
            for x in it:
                if x == "}":
                    return ("o", frozenset(d))
                d.append((x[1], val(next(it))))
        if t == "[":
            items = []
            for x in it:
                if x == "]":
                    return ("a", tuple(items))
                items.append(val(x))
        return t

    return val(next(it))


class Compiler:
    """Builds terminals and per-node tables; the parser asks it for them."""

    def __init__(self, ctx: Ctx, whitespace: str = "flexible", max_ws: int = 20, separators=None,
                 deadline: float | None = None, max_terminals: int = 20000):
        self.ctx = ctx
        self.deadline = deadline
        self.terminals: list[Terminal] = []
        self.by_key: dict = {}
        self.value_terms: set = set()
        self.max_terminals = max_terminals
        if whitespace == "compact":
            ws = None
        elif whitespace == "flexible":
            # what pretty printers write: a few blanks, at most one line break, indentation
            # (no runs of blank lines: small models otherwise loop on newlines)
            ws = f"[ \\t]{{0,4}}(?:\\r?\\n[ \\t]{{0,{max_ws}}})?"
        else:
            er.check_regex(whitespace)
            ws = f"(?:{whitespace})?"
        self.ws = ws
        item_sep, key_sep = separators if separators else (None, None)

        def struct(ch, lead, trail, sep=None):
            if sep is not None:
                return Terminal(repr(sep), _lit_rx(sep), literal=sep.encode())
            if ws is None:
                return Terminal(repr(ch), _lit_rx(ch), literal=ch.encode())
            return Terminal(repr(ch), (ws if lead else "") + _lit_rx(ch) + (ws if trail else ""))

        fixed = [
            struct("{", False, True), struct("}", True, False), struct("[", False, True), struct("]", True, False),
            struct(",", True, True, item_sep), struct(":", True, True, key_sep),
            Terminal("true", "true", literal=b"true"), Terminal("false", "false", literal=b"false"),
            Terminal("null", "null", literal=b"null"),
            Terminal("WS", f"(?:[ \\t]{{1,4}}(?:\\r?\\n[ \\t]{{0,{max_ws}}})?|\\r?\\n[ \\t]{{0,{max_ws}}})"
                     if ws is not None and whitespace == "flexible" else
                     (whitespace if ws is not None else "[ ]")),
        ]
        for t in fixed:
            self.by_key[("f", t.name)] = len(self.terminals)
            self.terminals.append(t)
        self.ws_trailing = ws is not None
        self._tinfo: dict = {}
        self._ne: dict = {}
        self._num_rx_memo: dict = {}
        self.frozen = False

    # ------------------------------------------------------------ terminals
    def literal(self, text: str) -> int:
        key = ("l", text)
        i = self.by_key.get(key)
        if i is None:
            i = self._add(Terminal(f"L{len(self.terminals)}", _lit_rx(text), literal=text.encode()), key)
        return i

    def regex(self, rx: str, value: bool = False, max_chars: int | None = None,
              len_bounds: tuple[int, int | None] | None = None, also: tuple[str, ...] = (),
              minus: tuple[str, ...] = ()) -> int:
        key = ("r", rx, max_chars, len_bounds, also, minus)
        i = self.by_key.get(key)
        if i is None:
            i = self._add(Terminal(f"R{len(self.terminals)}", rx, max_chars=max_chars, len_bounds=len_bounds,
                                   also=also, minus=minus), key)
        if value:
            self.value_terms.add(i)
        return i

    def alternatives(self, texts: list[str], value: bool = False) -> int:
        """One terminal for many exact strings (a large enum), built as a byte trie."""
        words = tuple(sorted({x.encode() for x in texts}))
        key = ("alts", words)
        i = self.by_key.get(key)
        if i is None:
            i = self._add(Terminal(f"E{len(self.terminals)}", trie_regex(texts), alternatives=words), key)
        if value:
            self.value_terms.add(i)
        return i

    def _add(self, t: Terminal, key) -> int:
        if self.frozen:
            raise AssertionError("internal: a terminal was created after compilation")
        if len(self.terminals) >= self.max_terminals:
            raise CompileBudgetError(f"schema needs more than {self.max_terminals} terminals")
        self.by_key[key] = len(self.terminals)
        self.terminals.append(t)
        return len(self.terminals) - 1

    # ------------------------------------------------------------ walk
    def finalize(self, root):
        """Visit every reachable node, build its tables; then compute non-emptiness."""
        seen = set()
        stack = [root, ANY]
        order = []
        while stack:
            n = stack.pop()
            if self.deadline is not None and time.monotonic() > self.deadline:
                raise CompileBudgetError("schema compilation exceeded max_compile_seconds")
            n = deref(n)
            if id(n) in seen:
                continue
            seen.add(id(n))
            order.append(n)
            self.ctx.tick()
            if isinstance(n, Typed):
                ti = self.tinfo(n)
                if ti.obj is not None:
                    stack.extend(ti.obj.known.values())
                    for p in n.o.parts:
                        stack.extend(x for _, x in p.patterns)
                        if p.additional is not None:
                            stack.append(p.additional)
                if ti.arr is not None:
                    stack.extend(ti.arr.prefix)
                    stack.append(ti.arr.items)
                    stack.extend(c for c, _, _ in ti.arr.contains)
            elif isinstance(n, (Union, Group)):
                stack.extend(n.branches)
        self._fixpoint(order)
        self.frozen = True

    def tinfo_if_built(self, t: Typed) -> TInfo | None:
        """``t``'s TInfo if compiling built it; None otherwise (never creates terminals)."""
        got = self._tinfo.get(id(t))
        return None if got is None else got[0]

    def tinfo(self, t: Typed) -> TInfo:
        ti = self._tinfo.get(id(t))
        if ti is not None:
            return ti[0]
        ti = TInfo()
        self._tinfo[id(t)] = (ti, t)
        cands = set()
        types = t.types
        enum = t.enum
        if "null" in types and (enum is None or any(v is None for v in enum)):
            cands.add(NULL)
        if "boolean" in types:
            for v, term in ((True, TRUE), (False, FALSE_T)):
                if enum is None or any(x is v for x in enum):
                    cands.add(term)
        if "string" in types:
            for term, chk in self.string_term(t) or ():
                cands.add(term)
                ti.scalars[term] = chk
        if "number" in types:
            got = self.number_term(t)
            if got is not None:
                term, chk = got
                cands.add(term)
                ti.scalars[term] = chk
        if "object" in types and enum is None:
            ti.obj = ObjInfo(self, t)
            cands.add(LBRACE)
        if "array" in types and enum is None:
            ti.arr = ArrInfo(self, t)
            cands.add(LBRACK)
        ti.cands = frozenset(cands)
        return ti

    # ------------------------------------------------------------ strings
    def string_body(self, t: Typed):
        """(regex body between the quotes, runtime check or None, bodies it must also match,
        bodies it must not match) for a non-enum string node. The last two come from the
        lookaheads of the pattern lowered into the body (``ecma_regex.search_parts``)."""
        s = t.s
        pats = list(s.patterns) + [FORMATS[f] for f in s.formats if f in FORMATS]
        fchecks = tuple(CHECKED_FORMATS[f] for f in s.formats if f in CHECKED_FORMATS)
        lo, hi = s.min_len, s.max_len
        if hi is not None and lo > hi:
            return None, None, (), ()  # minLength > maxLength: no string (MaskBench Handwritten---length)
        checks_pats: list = []
        length_runtime = False
        body = None
        also: tuple = ()
        minus: tuple = ()
        for i, p in enumerate(pats):
            rep = er.simple_repeat(p)
            if rep is not None and body is None:
                chars, a, b = rep
                a2 = max(a, lo)
                b2 = b if hi is None else (hi if b is None else min(b, hi))
                if b2 is not None and a2 > b2:
                    return None, None, (), ()
                if (b2 or 0) <= LEN_REGEX_LIMIT and a2 <= LEN_REGEX_LIMIT:
                    body = self._rep(er.json_char_regex(chars), a2, b2)
                    continue
            checks_pats.append(p)
        if body is None:
            if checks_pats:
                p0 = checks_pats.pop(0)
                body, also, minus = pattern_body(p0)
                length_runtime = lo > 0 or hi is not None
            else:
                e = er.json_char_regex(er.ANY)
                if hi is not None and hi <= LEN_REGEX_LIMIT:
                    body = self._rep(e, lo, hi)
                elif lo <= LEN_REGEX_LIMIT:
                    body = self._rep(e, lo, None)
                    length_runtime = hi is not None
                else:
                    body = f"{e}*"
                    length_runtime = True
        for p in checks_pats:
            _Fsm.get(p)
        notv = s.not_values
        if not checks_pats and not length_runtime and not notv and not fchecks:
            return body, None, also, minus

        def check(v: str, lo=lo, hi=hi, pats=tuple(checks_pats), notv=notv, lr=length_runtime, fc=fchecks) -> bool:
            if lr and (len(v) < lo or (hi is not None and len(v) > hi)):
                return False
            if v in notv:
                return False
            return all(pattern_matches(p, v) for p in pats) and all(f(v) for f in fc)

        if length_runtime and not checks_pats and not notv and not fchecks:
            check.len_bounds = (lo, hi)  # the value matters only through its length
        return body, check, also, minus

    @staticmethod
    def _rep(e: str, a: int, b: int | None) -> str:
        if b is None:
            return f"(?:{e}){{{a},}}" if a else f"(?:{e})*"
        if (a, b) == (0, 0):
            return ""
        return f"(?:{e}){{{a},{b}}}" if a != b else f"(?:{e}){{{a}}}"

    def string_ok(self, t: Typed, v: str) -> bool:
        s = t.s
        if len(v) < s.min_len or (s.max_len is not None and len(v) > s.max_len) or v in s.not_values:
            return False
        return all(pattern_matches(p, v) for p in s.patterns) and \
            all(pattern_matches(FORMATS[f], v) if f in FORMATS else CHECKED_FORMATS[f](v) for f in s.formats)

    def string_term(self, t: Typed):
        if t.enum is not None:
            n_str = sum(1 for v in t.enum if isinstance(v, str))
            if n_str > MAX_ENUM_VALUES or sum(len(v) for v in t.enum if isinstance(v, str)) > MAX_ENUM_CHARS:
                raise CompileBudgetError(f"string enum with {n_str} values is over the limit "
                                         f"({MAX_ENUM_VALUES} values / {MAX_ENUM_CHARS} characters)")
            vals = [v for v in t.enum if isinstance(v, str) and self.string_ok(t, v)]
            if not vals:
                return None
            texts = [json.dumps(v, ensure_ascii=False) for v in vals]
            if len(vals) <= LITERAL_ENUM_LIMIT:
                # one literal terminal per value: no regex->DFA build, shared across schemas
                return [(self.literal(x), None) for x in texts]
            return [(self.alternatives(texts, value=self._capture), None)]
        body, chk, also, minus = self.string_body(t)
        if body is None:
            return None
        # a maxLength checked at the end also caps open strings (exact: see store.charbounds)
        cap = t.s.max_len if chk is not None else None
        lb = getattr(chk, "len_bounds", None)
        term = self.regex(f'"(?:{body})"', value=chk is not None or self._capture, max_chars=cap, len_bounds=lb,
                          also=also, minus=minus)
        if chk is None:
            return [(term, None)]

        def run(lexeme: bytes, chk=chk):
            v = _decode_string(lexeme)
            if v is None or not chk(v):
                return False, None
            return True, ("s", v)

        if lb is not None:
            run.len_bounds = lb
        return [(term, run)]

    _capture = False

    # ------------------------------------------------------------ numbers
    def number_ok(self, t: Typed, d: Decimal) -> bool:
        n = t.n
        if n.lo is not None and (d < n.lo or (n.lo_excl and d == n.lo)):
            return False
        if n.hi is not None and (d > n.hi or (n.hi_excl and d == n.hi)):
            return False
        if n.integer and d != d.to_integral_value():
            return False
        if not all(is_multiple(d, m) for m in n.multiples):
            return False
        return jkey(d) not in n.not_values

    def number_term(self, t: Typed):
        n = t.n
        if t.enum is not None:
            vals = [v for v in t.enum if not isinstance(v, (bool, str)) and v is not None
                    and self.number_ok(t, Decimal(str(v)))]
            if not vals:
                return None
            return self.regex("|".join(f"(?:{literal_regex(v)})" for v in vals), value=self._capture), None
        frac = (-1 if n.lexical_int else 0) if n.integer else None
        runtime_mult = []
        for m in n.multiples:
            m = canon_number(m)
            exp = m.as_tuple().exponent
            d = max(0, -exp)
            frac = d if frac is None else min(frac, d)
            if m != Decimal(1).scaleb(-d):
                runtime_mult.append(m)
        rx = None
        if runtime_mult and n.lo is not None and n.hi is not None:
            vals = self._enumerate(n, runtime_mult)
            if vals is not None:
                if not vals:
                    return None
                rx = "|".join(f"(?:{literal_regex(v)})" for v in vals)
                runtime_mult = []
        if rx is None:
            rx = number_regex(n.lo, n.lo_excl, n.hi, n.hi_excl, frac, allow_exp=True)
        if rx is None:
            return None
        need = bool(runtime_mult) or bool(n.not_values)
        term = self.regex(rx, value=need or self._capture)
        if not need:
            return term, None

        def run(lexeme: bytes, mult=tuple(runtime_mult), notv=n.not_values):
            k = _num_key(lexeme)
            if k is None:
                return False, None
            d = k[1]
            if not all(is_multiple(d, m) for m in mult) or k in notv:
                return False, None
            return True, k

        return term, run

    def _enumerate(self, n, mults):
        step = mults[0]
        lo, hi = n.lo, n.hi
        if (hi - lo) / step > ENUM_RANGE_LIMIT:
            return None
        import math
        from fractions import Fraction

        k = math.ceil(Fraction(lo) / Fraction(step))  # exact: Decimal division rounds
        out = []
        while (v := EXACT.multiply(Decimal(k), step)) <= hi:
            if all(is_multiple(v, m) for m in mults) and not (n.lo_excl and v == lo) and not (n.hi_excl and v == hi) \
                    and (not n.integer or v == v.to_integral_value()):
                out.append(v)
            k += 1
        return out

    def scalar_token(self, t: int, lexeme: bytes):
        if t == TRUE:
            return ("b", True)
        if t == FALSE_T:
            return ("b", False)
        if t == NULL:
            return ("z",)
        if lexeme[:1] == b'"':
            return ("s", _decode_string(lexeme))
        return _num_key(lexeme)

    # ------------------------------------------------------------ python-side validation (scalars)
    def py_valid(self, node, v) -> bool:
        node = deref(node)
        if node is FALSE:
            return False
        if isinstance(node, Typed):
            if not isinstance(v, str):
                raise UnsupportedSchemaError("only string values are checked here", "")
            if "string" not in node.types:
                return False
            if node.enum is not None and v not in [x for x in node.enum if isinstance(x, str)]:
                return False
            return self.string_ok(node, v)
        if isinstance(node, Union):
            return any(self.py_valid(b, v) for b in node.branches)
        if isinstance(node, Group):
            done = {i: None for i, b in enumerate(node.branches) if self.py_valid(b, v)}
            return self.resolve(node, done) is not None
        return True

    # ------------------------------------------------------------ groups
    def resolve(self, g: Group, done: dict):
        k = g.kind
        if k == "oneOf":
            return (None,) if len(done) == 1 else None
        if k == "not":
            return (None,) if 0 in done and 1 not in done else None
        if k == "if":
            ok = (0 in done and 1 in done) or (0 not in done and 2 in done)
            return (None,) if ok else None
        if k == "all":
            return (None,) if len(done) == len(g.branches) else None
        if k == "contains":
            return (frozenset(i for i in done if i),) if 0 in done else None
        raise AssertionError(k)

    # ------------------------------------------------------------ non-emptiness
    def nonempty(self, n) -> bool:
        n = deref(n)
        if n is FALSE:
            return False
        got = self._ne.get(id(n))
        if got is None:
            # not yet analysed (runtime-created group): decide from its branches
            if isinstance(n, Group):
                return self._ne_node(n)
            return True
        return got

    def _fixpoint(self, order):
        for n in order:
            self._ne[id(n)] = False
        self._keep = order
        changed = True
        while changed:
            changed = False
            for n in order:
                if self._ne[id(n)]:
                    continue
                if self._ne_node(n):
                    self._ne[id(n)] = True
                    changed = True

    def _ne_node(self, n) -> bool:
        if n is FALSE:
            return False
        if isinstance(n, Typed):
            ti = self.tinfo(n)
            if ti.cands - {LBRACE, LBRACK}:
                return True
            if ti.obj is not None and self._ne_obj(ti.obj):
                return True
            if ti.arr is not None and self._ne_arr(ti.arr):
                return True
            return False
        if isinstance(n, Union):
            return any(self.nonempty(b) for b in n.branches)
        if isinstance(n, Group):
            b = n.branches
            if n.kind == "oneOf":
                return any(self.nonempty(x) for x in b)
            if n.kind in ("not", "contains"):
                return self.nonempty(b[0])
            if n.kind == "if":
                return self.nonempty(b[1]) or self.nonempty(b[2])
            return all(self.nonempty(x) for x in b)
        return True

    def _ne_obj(self, oi: ObjInfo) -> bool:
        req = oi.required
        for r in req:
            if r not in oi.known and not oi.generic:
                return False
            if not self.nonempty(oi.child(r)):
                return False
        if oi.max is not None and len(req) > oi.max:
            return False
        if oi.min > len(req):
            avail = sum(1 for k in oi.order if k not in req and self.nonempty(oi.known[k]))
            if not oi.generic and len(req) + avail < oi.min:
                return False
        return True

    def _ne_arr(self, ai: ArrInfo) -> bool:
        if ai.max is not None and ai.min > ai.max:
            return False
        if ai.uniq0 is not None and not ai.prefix and ai.min:
            vals = ai.finite_values(0)
            if vals is not None and len(vals) < ai.min:  # not enough distinct values for minItems
                return False
        for i in range(ai.min):
            if not self.nonempty(ai.base(i)):
                return False
        for c, mn, mx in ai.contains:
            if mn > 0 and (not self.nonempty(c) or (ai.max is not None and mn > ai.max)):
                return False
            if mx is not None and mn > mx:
                return False
        return True


def trie_regex(words: list[str]) -> str:
    """An alternation of literal strings, factored by common prefixes (much cheaper for interegular)."""
    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node) -> str:
        end = "" in node
        alts = []
        for ch in sorted(k for k in node if k):
            alts.append(_lit_rx(ch) + emit(node[ch]))
        if not alts:
            return ""
        if len(alts) == 1 and not end:
            return alts[0]
        # single characters without continuation merge into a class
        body = "|".join(alts)
        return f"(?:{body})?" if end else f"(?:{body})"

    return emit(trie)
