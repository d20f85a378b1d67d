"""ECMA-262 regular expressions -> interegular-compatible regexes.

JSON Schema ``pattern`` (and ``patternProperties``) are ECMA-262 regexes with
*search* semantics: ``"a"`` matches any string containing an ``a``. We parse
the pattern into a small AST over code points, then emit it for a given
"encoding" of characters:

* :func:`to_python` -- the decoded-character language (for ``re``-free checks
  and for interegular), and
* :func:`to_json_body` -- the body of a JSON string literal whose *decoded*
  value is in the language: every character class becomes the alternation of
  its JSON encodings (raw character or short escape; see json_char_regex).

Supported: literals, escapes (``\\d \\w \\s`` and negations, ``\\xHH``,
``\\uHHHH``, ``\\u{...}``, ``\\cX``, control escapes, identity escapes),
classes, ``.``, groups (capturing, ``(?:``, named), alternation, greedy and
lazy quantifiers, and ``^``/``$`` anywhere (interior anchors are split into
anchor-free languages, see _anchor_modes), and lookaheads right after a leading
``^`` (an intersection, see search_parts). Other lookaheads, lookbehind,
back-references, word boundaries and ``\\p{..}`` raise :class:`RegexError` (callers turn that into
an ``UnsupportedSchemaError``).
"""
from __future__ import annotations

import functools

from ..errors import RegexError

MAXCP = 0x10FFFF
CharSet = tuple  # sorted, merged tuple of (lo, hi) inclusive ranges

# ----------------------------------------------------------------------------- char sets


def cs(*ranges) -> CharSet:
    rs = sorted((lo, hi) for lo, hi in ranges if lo <= hi)
    out: list[list[int]] = []
    for lo, hi in rs:
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((a, b) for a, b in out)


def cs_union(*sets: CharSet) -> CharSet:
    return cs(*(r for s in sets for r in s))


def cs_negate(s: CharSet) -> CharSet:
    out, prev = [], 0
    for lo, hi in s:
        if lo > prev:
            out.append((prev, lo - 1))
        prev = hi + 1
    if prev <= MAXCP:
        out.append((prev, MAXCP))
    return tuple(out)


def cs_minus(a: CharSet, b: CharSet) -> CharSet:
    return cs_intersect(a, cs_negate(b))


def cs_intersect(a: CharSet, b: CharSet) -> CharSet:
    out, i, j = [], 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


def cs_size(s: CharSet) -> int:
    return sum(hi - lo + 1 for lo, hi in s)


def cs_has(s: CharSet, c: int) -> bool:
    return any(lo <= c <= hi for lo, hi in s)


ANY = ((0, MAXCP),)
DIGIT = cs((48, 57))
WORD = cs((48, 57), (65, 90), (95, 95), (97, 122))
SPACE = cs((9, 13), (32, 32), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
           (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF))
DOT = cs_negate(cs((10, 10), (13, 13), (0x2028, 0x2029)))

# ----------------------------------------------------------------------------- AST
# ('chars', CharSet) | ('cat', tuple) | ('alt', tuple) | ('rep', node, min, max|None) | ('bol',) | ('eol',)
EMPTY = ("cat", ())


def lit(s: str):
    return ("cat", tuple(("chars", ((ord(c), ord(c)),)) for c in s))


class _P:
    def __init__(self, src: str):
        self.s, self.i, self.groups = src, 0, 0

    def err(self, msg: str):
        raise RegexError(f"pattern {self.s!r}: {msg} (at offset {self.i})")

    def peek(self):
        return self.s[self.i] if self.i < len(self.s) else None

    def parse(self):
        node = self.alt()
        if self.i != len(self.s):
            self.err("unbalanced ')'")
        return node

    def alt(self):
        branches = [self.cat()]
        while self.peek() == "|":
            self.i += 1
            branches.append(self.cat())
        return branches[0] if len(branches) == 1 else ("alt", tuple(branches))

    def cat(self):
        items = []
        while True:
            c = self.peek()
            if c is None or c in "|)":
                break
            atom = self.atom()
            atom = self.quant(atom)
            items.append(atom)
        return items[0] if len(items) == 1 else ("cat", tuple(items))

    def quant(self, atom):
        while True:
            c = self.peek()
            if c in ("*", "+", "?"):
                self.i += 1
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            elif c == "{":
                j = self.s.find("}", self.i)
                body = self.s[self.i + 1:j] if j > 0 else ""
                import re as _re

                m = _re.fullmatch(r"(\d+)(,(\d*))?", body)
                if not m:
                    return atom  # Annex B: a literal '{'
                self.i = j + 1
                lo = int(m.group(1))
                hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                if hi is not None and hi < lo:
                    self.err("numbers out of order in {} quantifier")
            else:
                return atom
            if atom[0] in ("bol", "eol", "look"):
                self.err("quantified assertion")
            if self.peek() == "?":
                self.i += 1  # lazy: same language
            atom = ("rep", atom, lo, hi)

    def atom(self):
        c = self.s[self.i]
        self.i += 1
        if c == "(":
            if self.s.startswith("?:", self.i):
                self.i += 2
            elif self.s.startswith("?<", self.i) and self.s[self.i + 2:self.i + 3] not in ("=", "!"):
                j = self.s.find(">", self.i)
                if j < 0:
                    self.err("bad group name")
                self.i = j + 1
                self.groups += 1
            elif self.s.startswith("?=", self.i) or self.s.startswith("?!", self.i):
                positive = self.s[self.i + 1] == "="
                self.i += 2
                node = self.alt()
                if self.peek() != ")":
                    self.err("missing ')'")
                self.i += 1
                return ("look", positive, node)
            elif self.peek() == "?":
                self.err("lookbehind is not supported")
            else:
                self.groups += 1
            node = self.alt()
            if self.peek() != ")":
                self.err("missing ')'")
            self.i += 1
            return node
        if c == ")":
            self.err("unbalanced ')'")
        if c == "[":
            return ("chars", self.klass())
        if c == ".":
            return ("chars", DOT)
        if c == "^":
            return ("bol",)
        if c == "$":
            return ("eol",)
        if c == "\\":
            return self.escape(in_class=False)
        if c in "*+?":
            self.err("nothing to repeat")
        return ("chars", ((ord(c), ord(c)),))

    def hexn(self, n: int) -> int:
        h = self.s[self.i:self.i + n]
        if len(h) != n or any(ch not in "0123456789abcdefABCDEF" for ch in h):
            return -1
        self.i += n
        return int(h, 16)

    def escape(self, in_class: bool):
        if self.i >= len(self.s):
            self.err("trailing backslash")
        c = self.s[self.i]
        self.i += 1
        one = lambda cp: ("chars", ((cp, cp),))  # noqa: E731
        if c == "d":
            return ("chars", DIGIT)
        if c == "D":
            return ("chars", cs_negate(DIGIT))
        if c == "w":
            return ("chars", WORD)
        if c == "W":
            return ("chars", cs_negate(WORD))
        if c == "s":
            return ("chars", SPACE)
        if c == "S":
            return ("chars", cs_negate(SPACE))
        if c == "b":
            if in_class:
                return one(8)
            self.err("word boundary \\b is not supported")
        if c == "B":
            self.err("\\B is not supported")
        simple = {"n": 10, "r": 13, "t": 9, "v": 11, "f": 12}
        if c in simple:
            return one(simple[c])
        if c == "0" and not (self.peek() or "").isdigit():
            return one(0)
        if c.isdigit():
            if in_class:
                self.err("octal escapes are not supported")
            self.err("back-references are not supported")
        if c == "k" and not in_class:
            self.err("named back-references are not supported")
        if c in "pP":
            self.err("unicode property escapes are not supported")
        if c == "c":
            ch = self.peek()
            if ch is not None and ch.isascii() and ch.isalpha():
                self.i += 1
                return one(ord(ch) % 32)
            self.i -= 1
            return one(ord("\\"))
        if c == "x":
            v = self.hexn(2)
            return one(v if v >= 0 else ord("x"))
        if c == "u":
            if self.peek() == "{":
                j = self.s.find("}", self.i)
                try:
                    v = int(self.s[self.i + 1:j], 16)
                except ValueError:
                    self.err("bad \\u{...} escape")
                self.i = j + 1
                return one(v)
            v = self.hexn(4)
            if v < 0:
                return one(ord("u"))
            if 0xD800 <= v <= 0xDBFF and self.s.startswith("\\u", self.i):
                save = self.i
                self.i += 2
                w = self.hexn(4)
                if 0xDC00 <= w <= 0xDFFF:
                    return one(0x10000 + ((v - 0xD800) << 10) + (w - 0xDC00))
                self.i = save
            return one(v)
        return one(ord(c))

    def klass(self) -> CharSet:
        neg = False
        if self.peek() == "^":
            neg, self.i = True, self.i + 1
        ranges: list = []
        first = True
        while True:
            c = self.peek()
            if c is None:
                self.err("missing ']'")
            if c == "]" and not (first and False):
                self.i += 1
                break
            first = False
            lo_set = self.class_atom()
            if self.peek() == "-" and self.s[self.i + 1:self.i + 2] not in ("]", ""):
                self.i += 1
                hi_set = self.class_atom()
                if len(lo_set) == 1 and lo_set[0][0] == lo_set[0][1] and len(hi_set) == 1 and hi_set[0][0] == hi_set[0][1]:
                    a, b = lo_set[0][0], hi_set[0][0]
                    if a > b:
                        self.err("range out of order in character class")
                    ranges.append((a, b))
                    continue
                ranges.extend(lo_set)
                ranges.append((45, 45))
                ranges.extend(hi_set)
                continue
            ranges.extend(lo_set)
        s = cs(*ranges)
        return cs_negate(s) if neg else s

    def class_atom(self) -> CharSet:
        c = self.s[self.i]
        self.i += 1
        if c == "\\":
            node = self.escape(in_class=True)
            return node[1]
        return ((ord(c), ord(c)),)


def parse(pattern: str):
    """Parse an ECMA-262 pattern into the AST (raises RegexError)."""
    return _P(pattern).parse()


# ----------------------------------------------------------------------------- anchors


def _contains(n, kinds: tuple[str, ...]) -> bool:
    """Does the AST ``n`` hold a node of one of ``kinds`` (a lookahead's body not searched)?"""
    k = n[0]
    if k in kinds:
        return True
    if k in ("cat", "alt"):
        return any(_contains(x, kinds) for x in n[1])
    if k == "rep":
        return _contains(n[1], kinds)
    return False


def _has_anchor(n) -> bool:
    return _contains(n, ("bol", "eol"))


def _has_look(n) -> bool:
    return _contains(n, ("look",))


def _branches(n, limit=64):
    """Split a node into top-level alternatives of (anchored_start, body, anchored_end)."""
    if not _has_anchor(n):  # e.g. 200 unanchored zone names (MaskBench JsonSchemaStore---config_schema)
        return [(False, n, False)]
    if n[0] == "alt":
        out = []
        for b in n[1]:
            out.extend(_branches(b, limit))
            if len(out) > limit:
                raise RegexError("too many anchored alternatives")
        return out
    items = list(n[1]) if n[0] == "cat" else [n]
    # distribute a leading/trailing group containing anchors
    if items and items[0][0] == "alt" and _has_anchor(items[0]):
        out = []
        for b in items[0][1]:
            out.extend(_branches(("cat", (b, *items[1:])), limit))
        return out
    if len(items) > 1 and items[-1][0] == "alt" and _has_anchor(items[-1]):
        out = []
        for b in items[-1][1]:
            out.extend(_branches(("cat", (*items[:-1], b)), limit))
        return out
    if items and items[0][0] == "cat":
        return _branches(("cat", (*items[0][1], *items[1:])), limit)
    if len(items) > 1 and items[-1][0] == "cat":
        return _branches(("cat", (*items[:-1], *items[-1][1])), limit)
    start = end = False
    while items and items[0][0] == "bol":
        start = True
        items.pop(0)
    while items and items[-1][0] == "eol":
        end = True
        items.pop()
    body = ("cat", tuple(items))
    if not _has_anchor(body):
        return [(start, body, end)]
    # may be empty: a branch whose anchors cannot all hold matches nothing
    return [(start or b, node, end or e) for (b, e), node in _anchor_modes(body).items() if node is not None]


# Interior anchors ('^(a($|/))*$', 'x(^|-)y'): split a node's language by which assertions it
# used. modes[(b, e)] is the anchor-free language of the strings the node matches with a '^'
# among its assertions iff b (then nothing before that '^' was consumed) and a '$' iff e (nothing
# after it is consumed); None is the empty language. A cat checks that a '^' in a later part
# sees only empty earlier parts, and a '$' only empty later parts. Cost: up to 16 products per
# cat, so the output can grow; _MAX_ANCHOR_NODES bounds it (RegexError beyond).
_MODES = ((False, False), (True, False), (False, True), (True, True))
_MAX_UNROLL = 16
_MAX_ANCHOR_NODES = 20000


def _size(n) -> int:
    k = n[0]
    if k in ("cat", "alt"):
        return 1 + sum(_size(x) for x in n[1])
    if k == "rep":
        return 1 + _size(n[1])
    return 1


def _nullable(n) -> bool:
    k = n[0]
    if k == "chars":
        return False
    if k == "cat":
        return all(_nullable(x) for x in n[1])
    if k == "alt":
        return any(_nullable(x) for x in n[1])
    if k == "rep":
        return n[2] == 0 or _nullable(n[1])
    raise RegexError(f"unexpected node {k}")


def _cat2(a, c):
    if a is None or c is None:
        return None
    items = (*(a[1] if a[0] == "cat" else (a,)), *(c[1] if c[0] == "cat" else (c,)))
    return items[0] if len(items) == 1 else ("cat", items)


def _alt(nodes):
    nodes = [x for x in nodes if x is not None]
    if not nodes:
        return None
    uniq = list(dict.fromkeys(nodes))
    return uniq[0] if len(uniq) == 1 else ("alt", tuple(uniq))


def _only_empty(n):
    """The empty string if ``n``'s language has it, else None."""
    return EMPTY if n is not None and _nullable(n) else None


def _modes_cat(ma: dict, mc: dict) -> dict:
    acc: dict = {m: [] for m in _MODES}
    for (ba, ea), xa in ma.items():
        for (bc, ec), xc in mc.items():
            if xa is None or xc is None:
                continue
            if bc:  # a '^' in the right part: the left part consumed nothing
                xa = _only_empty(xa)
            if ea:  # a '$' in the left part: the right part consumes nothing
                xc = _only_empty(xc)
            acc[(ba or bc, ea or ec)].append(_cat2(xa, xc))
    return {m: _alt(v) for m, v in acc.items()}


def _star(x):
    return None if x is None else ("rep", x, 0, None)


def _anchor_modes(n) -> dict:
    k = n[0]
    none = {m: None for m in _MODES}
    if not _has_anchor(n):
        return {**none, (False, False): n}
    if k == "bol":
        return {**none, (True, False): EMPTY}
    if k == "eol":
        return {**none, (False, True): EMPTY}
    if k == "alt":
        parts = [_anchor_modes(x) for x in n[1]]
        out = {m: _alt([p[m] for p in parts]) for m in _MODES}
    elif k == "cat":
        out = {**none, (False, False): EMPTY}
        for x in n[1]:
            out = _modes_cat(out, _anchor_modes(x))
    elif k == "rep":
        _, x, lo, hi = n
        mx = _anchor_modes(x)
        if max(lo, hi or 0) > _MAX_UNROLL:
            raise RegexError(f"anchors inside a repetition {{{lo},{'' if hi is None else hi}}} are not supported")
        out = {**none, (False, False): EMPTY}
        for _ in range(lo):
            out = _modes_cat(out, mx)
        if hi is None:
            # x*: iterations before the last '^' and after the first '$' are empty; those in
            # between use no anchor.
            n00, n10, n01, n11 = (mx[m] for m in _MODES)
            star = {
                (False, False): _star(n00) or EMPTY,
                (True, False): _cat2(n10, _star(n00) or EMPTY),
                (False, True): _cat2(_star(n00) or EMPTY, n01),
                (True, True): _alt([_cat2(_cat2(n10, _star(n00) or EMPTY), n01), n11]),
            }
            out = _modes_cat(out, star)
        else:
            opt = dict(mx)
            opt[(False, False)] = _alt([mx[(False, False)], EMPTY])
            for _ in range(hi - lo):
                out = _modes_cat(out, opt)
    else:
        raise RegexError(f"unexpected node {k}")
    if sum(_size(v) for v in out.values() if v is not None) > _MAX_ANCHOR_NODES:
        raise RegexError("anchors inside the pattern make its expansion too large")
    return out


def search_parts(pattern: str):
    """``(main, musts, must_nots)``: the strings in which ``pattern`` finds a match are those of
    ``main`` (as :func:`search_language`) that are in every language of ``musts`` and in none of
    ``must_nots`` (anchor-free ASTs of whole strings).

    Lookaheads are supported where they test the whole string: right after a leading ``^``
    (``^(?=.*[0-9])(?!admin)[a-z0-9]{8,}$``, the usual password and reserved-name rules).
    ``(?=X)`` there is the language X.* (X if X ends with ``$``), ``(?!X)`` its complement; so
    the pattern is an intersection, which the DFA builder computes (``regex_to_dfa(also=,
    minus=)``). Elsewhere a lookahead raises RegexError, as lookbehind always does."""
    node = parse(pattern)
    if not _has_look(node):
        return _search(node, pattern), (), ()
    items = list(node[1]) if node[0] == "cat" else [node]
    if not items or items[0][0] != "bol":
        raise RegexError(f"pattern {pattern!r}: a lookahead is supported only right after a leading '^'")
    j = 1
    musts, nots = [], []
    while j < len(items) and items[j][0] == "look":
        _, positive, x = items[j]
        (musts if positive else nots).append(_whole_string(x, pattern))
        j += 1
    rest = ("cat", (items[0], *items[j:]))
    if _has_look(rest):
        raise RegexError(f"pattern {pattern!r}: a lookahead is supported only right after a leading '^'")
    return _search(rest, pattern), tuple(musts), tuple(nots)


def _whole_string(x, pattern: str):
    """The whole strings a lookahead body ``x`` tests true on: x.*, or x where it ends in '$'."""
    if _has_look(x):
        raise RegexError(f"pattern {pattern!r}: nested lookaheads are not supported")
    items = list(x[1]) if x[0] == "cat" else [x]
    ended = bool(items) and items[-1][0] == "eol"
    if ended:
        items.pop()
    body = ("cat", tuple(items))
    if _has_anchor(body):
        raise RegexError(f"pattern {pattern!r}: anchors inside a lookahead are supported only at its end")
    return body if ended else _cat2(body, ("rep", ("chars", ANY), 0, None))


def search_language(pattern: str):
    """AST of the set of strings in which ``pattern`` finds a match (ECMA search semantics).

    Branches with the same anchoring share one ``.*`` on each side: ``.*(?:a|b).*`` has a
    DFA about the size of a trie of the branches, while ``.*a.*|.*b.*`` makes interegular's
    construction track every branch separately (exponential in the branch count).
    A pattern with lookaheads raises RegexError here (see :func:`search_parts`)."""
    node = parse(pattern)
    if _has_look(node):
        raise RegexError(f"pattern {pattern!r}: lookahead is not supported here")
    return _search(node, pattern)


def _search(node, pattern: str):
    by_anchor: dict = {}
    for start, body, end in _branches(node):
        by_anchor.setdefault((start, end), []).append(body)
    if not by_anchor:
        raise RegexError(f"pattern {pattern!r} matches no string (its anchors cannot all hold)")
    alts = []
    for (start, end), bodies in by_anchor.items():
        parts = []
        if not start:
            parts.append(("rep", ("chars", ANY), 0, None))
        parts.append(bodies[0] if len(bodies) == 1 else ("alt", tuple(bodies)))
        if not end:
            parts.append(("rep", ("chars", ANY), 0, None))
        alts.append(("cat", tuple(parts)))
    return alts[0] if len(alts) == 1 else ("alt", tuple(alts))


def simple_repeat(pattern: str):
    """If the pattern is ``^C{lo,hi}$`` for one char class C, return (C, lo, hi); else None."""
    try:
        node = parse(pattern)
        if _has_look(node):
            return None
        br = _branches(node)
    except RegexError:
        return None
    if len(br) != 1 or not br[0][0] or not br[0][2]:
        return None
    body = br[0][1]
    while body[0] == "cat" and len(body[1]) == 1:
        body = body[1][0]
    if body[0] == "chars":
        return body[1], 1, 1
    if body[0] == "rep" and body[1][0] == "chars":
        return body[1][1], body[2], body[3]
    return None


# ----------------------------------------------------------------------------- emission

_SPECIAL = set("\\^$.|?*+()[]{}-/\"'")


def _ch(cp: int) -> str:
    c = chr(cp)
    if cp < 0x20 or 0x7F <= cp <= 0x9F:
        return f"\\x{cp:02x}"
    if c in _SPECIAL:
        return "\\" + c
    return c


def class_regex(s: CharSet) -> str:
    """A character class for interegular; negated when that is smaller (cheap for interegular)."""
    if not s:
        raise RegexError("empty character class")
    if s == ANY or cs_minus(ANY, s) == cs((0xD800, 0xDFFF)):
        return "[\\s\\S]"
    neg = cs_negate(s)
    if cs_size(s) > cs_size(neg):
        body, pre = neg, "^"
    else:
        body, pre = s, ""
    if not pre and len(body) == 1 and body[0][0] == body[0][1]:
        c = body[0][0]
        return _ch(c)
    parts = []
    for lo, hi in body:
        parts.append(_ch(lo) if lo == hi else f"{_ch(lo)}-{_ch(hi)}")
    return "[" + pre + "".join(parts) + "]"


_SHORT = {0x22: '\\\\"', 0x5C: "\\\\\\\\", 0x2F: "\\\\/", 8: "\\\\b", 12: "\\\\f", 10: "\\\\n", 13: "\\\\r", 9: "\\\\t"}


_SHORT_CH = {0x22: '"', 0x5C: "\\\\", 0x2F: "/", 8: "b", 12: "f", 10: "n", 13: "r", 9: "t"}


@functools.lru_cache(maxsize=4096)  # pure; CharSets are tuples (object schemas ask for ANY often)
def json_char_regex(s: CharSet) -> str:
    """Regex for the JSON string-literal encodings of one character from ``s``.

    Raw characters except ``"``, ``\\\\`` and controls, and the short escapes
    (``\\" \\\\ \\/ \\b \\f \\n \\r \\t``). ``\\uXXXX`` escapes are not part of the
    language (json.dumps with ensure_ascii=False writes them only for the rare
    control characters without a short escape; leaving them out keeps the
    per-character DFA at three states, which matters for length-bounded strings).
    """
    raw = cs_minus(s, cs((0, 0x1F), (0x22, 0x22), (0x5C, 0x5C)))
    alts = []
    if raw:
        alts.append(class_regex(raw))
    short = "".join(_SHORT_CH[cp] for cp in _SHORT if cs_has(s, cp))
    if len(short) == 1:
        alts.append("\\\\" + short)
    elif short:
        alts.append("\\\\[" + short + "]")
    if not alts:
        raise RegexError("empty character class")
    return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"


def _hexcase(h: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in h)


def _emit(n, char, prec=0) -> str:
    k = n[0]
    if k == "chars":
        return char(n[1])
    if k == "cat":
        if not n[1]:
            return "(?:)"
        s = "".join(_emit(x, char, 1) for x in n[1])
        return s if prec <= 1 or len(n[1]) == 1 else f"(?:{s})"
    if k == "alt":
        s = "|".join(_emit(x, char, 0) for x in n[1])
        return s if prec == 0 else f"(?:{s})"
    if k == "rep":
        _, x, lo, hi = n
        inner = _emit(x, char, 2)
        if not (inner.startswith("(?:") and inner.endswith(")") and _balanced(inner[3:-1])) and not _atomic(inner):
            inner = f"(?:{inner})"
        if (lo, hi) == (0, None):
            q = "*"
        elif (lo, hi) == (1, None):
            q = "+"
        elif (lo, hi) == (0, 1):
            q = "?"
        elif hi is None:
            q = f"{{{lo},}}"
        elif lo == hi:
            q = f"{{{lo}}}"
        else:
            q = f"{{{lo},{hi}}}"
        return inner + q
    raise RegexError(f"cannot emit {k}")


def _balanced(s: str) -> bool:
    depth, i = 0, 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            j = i + 1
            while j < len(s) and s[j] != "]":
                j += 2 if s[j] == "\\" else 1
            i = j + 1
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth < 0:
                return False
        i += 1
    return depth == 0


def _atomic(s: str) -> bool:
    """True if s is a single char, escape or class (can take a quantifier directly)."""
    if len(s) == 1 and s not in _SPECIAL:
        return True
    if s.startswith("\\") and (len(s) == 2 or (s[1] in "xu" and len(s) in (4, 6))):
        return True
    if s.startswith("[") and s.endswith("]"):
        return _balanced(s) and s.count("]") >= 1 and _single_class(s)
    return False


def _single_class(s: str) -> bool:
    i = 1
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] == "]":
            return i == len(s) - 1
        i += 1
    return False


def to_python(node) -> str:
    """Emit the AST over decoded characters (interegular/Python syntax, no anchors)."""
    return _emit(node, class_regex)


def to_json_body(node) -> str:
    """Emit the AST over JSON-encoded characters (the body between the quotes)."""
    return _emit(node, json_char_regex)


def check_regex(rx: str, max_states: int = 5000) -> None:
    """Raise RegexError if interegular cannot build a DFA of at most ``max_states`` states."""
    import interegular

    try:
        fsm = interegular.parse_pattern(rx).to_fsm()
    except Exception as e:  # interegular raises several types
        raise RegexError(f"cannot compile regex {rx[:80]!r}: {e}") from e
    if len(fsm.states) > max_states:
        raise RegexError(f"regex {rx[:80]!r} needs more than {max_states} states")
