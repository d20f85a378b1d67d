"""The schema IR: typed nodes (per-type constraints) and combinator nodes.

A node denotes a set of JSON values:

* :class:`Typed` -- the allowed JSON types plus, per type, its constraints
  (``StrC``, ``NumC``, ``ArrC``, ``ObjC``) and an optional finite set of scalar
  values (``enum``). ``allOf`` of typed nodes is merged into one typed node
  (a true intersection).
* :class:`Union` -- ``anyOf`` (and ``oneOf`` with provably disjoint branches).
* :class:`Group` -- branches run in parallel over the same value, decided when
  the value ends: ``oneOf`` (exactly one), ``not`` (branch 0 and not branch 1),
  ``if`` ((0 and 1) or (not 0 and 2)), ``all`` (every branch), ``contains``
  (branch 0; reports which other branches matched).
* :class:`Lazy` -- a forward reference (``$ref`` recursion, deferred ``allOf``).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

from ...errors import SchemaError

ALL_TYPES = frozenset({"null", "boolean", "number", "string", "array", "object"})


class Node:
    __slots__ = ()


class Never(Node):
    __slots__ = ()

    def __repr__(self):
        return "FALSE"


FALSE = Never()


@dataclass(frozen=True)
class StrC:
    min_len: int = 0
    max_len: int | None = None
    patterns: tuple = ()  # ECMA patterns (search semantics)
    formats: tuple = ()  # known format names
    not_values: frozenset = frozenset()


@dataclass(frozen=True)
class NumC:
    lo: Decimal | None = None
    lo_excl: bool = False
    hi: Decimal | None = None
    hi_excl: bool = False
    integer: bool = False
    multiples: tuple = ()
    not_values: frozenset = frozenset()  # canonical Decimal values excluded
    lexical_int: bool = False  # integers must be spelled without fraction/exponent (draft 4)


@dataclass(frozen=True, eq=False)
class ArrC:
    prefix: tuple = ()
    items: Any = None  # Node; None = anything
    min_items: int = 0
    max_items: int | None = None
    contains: tuple = ()  # ((node, min, max|None), ...)
    unique: bool = False

    def at(self, i: int):
        if i < len(self.prefix):
            return self.prefix[i]
        return self.items


@dataclass(frozen=True, eq=False)
class ObjPart:
    props: dict = field(default_factory=dict)  # name -> Node (insertion order = schema order)
    patterns: tuple = ()  # ((ecma pattern, Node), ...)
    additional: Any = None  # Node; None = anything


@dataclass(frozen=True, eq=False)
class ObjC:
    parts: tuple = ()
    required: frozenset = frozenset()
    min_props: int = 0
    max_props: int | None = None
    names: tuple = ()  # propertyNames nodes
    dep_required: tuple = ()  # ((name, frozenset(names)), ...)


class Typed(Node):
    __slots__ = ("types", "enum", "s", "n", "a", "o", "info", "__weakref__")

    def __init__(self, types, enum=None, s=None, n=None, a=None, o=None):
        self.types = frozenset(types)
        self.enum = enum  # None or tuple of scalar python values (restricts every type)
        self.s = s or StrC()
        self.n = n or NumC()
        self.a = a or ArrC()
        self.o = o or ObjC()
        self.info = None  # filled by the compiler (terminals, checks)

    def __repr__(self):
        return f"Typed({sorted(self.types)}{', enum' if self.enum is not None else ''})"


ANY = Typed(ALL_TYPES)


class Union(Node):
    __slots__ = ("branches",)

    def __init__(self, branches):
        self.branches = tuple(branches)


class Group(Node):
    __slots__ = ("kind", "branches")

    def __init__(self, kind: str, branches):
        self.kind = kind
        self.branches = tuple(branches)


class Lazy(Node):
    """A node computed on first use (recursion through $ref, deferred intersections)."""

    __slots__ = ("thunk", "target", "busy", "where")

    def __init__(self, thunk, where=""):
        self.thunk, self.target, self.busy, self.where = thunk, None, False, where

    def get(self) -> Node:
        if self.target is None:
            if self.busy:
                raise SchemaError("$ref cycle with no base case (a schema that refers to itself "
                                  "without consuming input)", self.where)
            self.busy = True
            try:
                t = self.thunk()
                while isinstance(t, Lazy):
                    t = t.get()
                self.target = t
            finally:
                self.busy = False
            self.thunk = None
        return self.target


def deref(n: Node) -> Node:
    while isinstance(n, Lazy):
        n = n.get()
    return n


# ----------------------------------------------------------------------------- JSON value keys


# Numbers are compared and divided exactly: the default context rounds to 28 digits (so two
# different 30-digit numbers would be one enum value) and overflows past 1e999999 (a crash).
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def canon_number(d: Decimal) -> Decimal:
    """``d`` without trailing zeros, exactly (``-0`` is ``0``)."""
    return d.normalize(EXACT) if d else Decimal(0)


def is_multiple(d: Decimal, m: Decimal) -> bool:
    """Is ``d`` an integer multiple of ``m`` (> 0)? Exact at any size and exponent: with
    ``d = c1·10^e1`` and ``m = c2·10^e2`` it is integer arithmetic on the coefficients."""
    if not d:
        return True
    _, dig1, e1 = d.as_tuple()
    _, dig2, e2 = m.as_tuple()
    c1, c2 = int("".join(map(str, dig1))), int("".join(map(str, dig2)))
    e = e1 - e2
    if e >= 0:
        return c1 % c2 * pow(10, e, c2) % c2 == 0
    if -e > len(dig1):  # 0 < c1 < 10^-e <= c2·10^-e
        return False
    return c1 % (c2 * 10 ** -e) == 0


def jkey(v):
    """Equality key of a JSON value under JSON Schema semantics (1 == 1.0, True != 1)."""
    if v is None:
        return ("z",)
    if isinstance(v, bool):
        return ("b", v)
    if isinstance(v, (int, float, Decimal)):
        d = Decimal(str(v)) if isinstance(v, float) else Decimal(v)
        return ("n", canon_number(d))
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, list):
        return ("a", tuple(jkey(x) for x in v))
    if isinstance(v, dict):
        return ("o", frozenset((k, jkey(x)) for k, x in v.items()))
    raise SchemaError(f"not a JSON value: {v!r}")


def jtype(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float, Decimal)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise SchemaError(f"not a JSON value: {v!r}")


# ----------------------------------------------------------------------------- intersection


class Ctx:
    """Per-compile memo tables and limits."""

    def __init__(self, max_nodes: int = 200_000, deadline: float | None = None):
        self.and_memo: dict = {}
        self.max_nodes = max_nodes
        self.nodes = 0
        self.deadline = deadline

    def tick(self):
        import time

        from ...errors import CompileBudgetError

        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise CompileBudgetError(f"schema expands to more than {self.max_nodes} nodes")
        if self.deadline is not None and (self.nodes & 255) == 0 and time.monotonic() > self.deadline:
            raise CompileBudgetError("schema compilation exceeded max_compile_seconds")


def is_any(n: Node) -> bool:
    return n is ANY or (isinstance(n, Typed) and n.types == ALL_TYPES and n.enum is None and
                        n.s == StrC() and n.n == NumC() and _arr_trivial(n.a) and _obj_trivial(n.o))


def _arr_trivial(a: ArrC) -> bool:
    return not a.prefix and (a.items is None or a.items is ANY) and a.min_items == 0 and a.max_items is None \
        and not a.contains and not a.unique


def _obj_trivial(o: ObjC) -> bool:
    return all(not p.props and not p.patterns and p.additional is None for p in o.parts) \
        and not o.required and o.min_props == 0 and o.max_props is None and not o.names and not o.dep_required


def and_nodes(ctx: Ctx, a: Node, b: Node) -> Node:
    if a is FALSE or b is FALSE:
        return FALSE
    if a is b:
        return a
    if isinstance(a, Typed) and is_any(a):
        return b
    if isinstance(b, Typed) and is_any(b):
        return a
    key = (id(a), id(b))
    got = ctx.and_memo.get(key)
    if got is not None:
        return got[0]
    ctx.tick()
    if isinstance(a, Lazy) or isinstance(b, Lazy):
        res = Lazy(lambda: and_nodes(ctx, deref(a), deref(b)))
        ctx.and_memo[key] = (res, a, b)
        return res
    res = _and(ctx, a, b)
    ctx.and_memo[key] = (res, a, b)  # keep a, b alive so ids stay unique
    return res


def _and(ctx: Ctx, a: Node, b: Node) -> Node:
    if isinstance(b, Union) and not isinstance(a, Union):
        a, b = b, a
    if isinstance(a, Union):
        if len(a.branches) * (len(b.branches) if isinstance(b, Union) else 1) > 256:
            return Group("all", (a, b))
        out = [and_nodes(ctx, x, b) for x in a.branches]
        out = [x for x in out if x is not FALSE]
        return FALSE if not out else out[0] if len(out) == 1 else Union(out)
    if isinstance(b, Group) and not isinstance(a, Group):
        a, b = b, a
    if isinstance(a, Group):
        k = a.kind
        if k in ("oneOf", "all"):
            return Group(k, [and_nodes(ctx, x, b) for x in a.branches])
        if k == "not":
            return Group("not", [and_nodes(ctx, a.branches[0], b), a.branches[1]])
        if k == "if":
            return Group("if", [a.branches[0], and_nodes(ctx, a.branches[1], b), and_nodes(ctx, a.branches[2], b)])
        return Group("all", (a, b))
    assert isinstance(a, Typed) and isinstance(b, Typed)
    return merge_typed(ctx, a, b)


def merge_typed(ctx: Ctx, a: Typed, b: Typed) -> Node:
    types = a.types & b.types
    integer = a.n.integer or b.n.integer
    enum = None
    if a.enum is not None and b.enum is not None:
        bk = {jkey(v) for v in b.enum}
        enum = tuple(v for v in a.enum if jkey(v) in bk)
    elif a.enum is not None or b.enum is not None:
        enum = a.enum if a.enum is not None else b.enum
    if enum is not None:
        types = types & {jtype(v) for v in enum}
    if not types:
        return FALSE
    s = StrC(max(a.s.min_len, b.s.min_len), _min_opt(a.s.max_len, b.s.max_len), _uniq(a.s.patterns + b.s.patterns),
             _uniq(a.s.formats + b.s.formats), a.s.not_values | b.s.not_values)
    lo, lo_excl = _tighter_lo(a.n, b.n)
    hi, hi_excl = _tighter_hi(a.n, b.n)
    n = NumC(lo, lo_excl, hi, hi_excl, integer, _uniq(a.n.multiples + b.n.multiples), a.n.not_values | b.n.not_values,
             (a.n.integer and a.n.lexical_int) or (b.n.integer and b.n.lexical_int))
    arr = a.a
    if "array" in types:
        arr = _merge_arr(ctx, a.a, b.a)
    obj = a.o
    if "object" in types:
        obj = ObjC(a.o.parts + b.o.parts, a.o.required | b.o.required, max(a.o.min_props, b.o.min_props),
                   _min_opt(a.o.max_props, b.o.max_props), a.o.names + b.o.names, a.o.dep_required + b.o.dep_required)
    return Typed(types, enum, s, n, arr, obj)


def _merge_arr(ctx: Ctx, x: ArrC, y: ArrC) -> ArrC:
    n = max(len(x.prefix), len(y.prefix))
    prefix = tuple(and_nodes(ctx, _or_any(x.at(i)), _or_any(y.at(i))) for i in range(n))
    items = None if x.items is None and y.items is None else and_nodes(ctx, _or_any(x.items), _or_any(y.items))
    return ArrC(prefix, items, max(x.min_items, y.min_items), _min_opt(x.max_items, y.max_items),
                x.contains + y.contains, x.unique or y.unique)


def _or_any(n):
    return ANY if n is None else n


def _uniq(t: tuple) -> tuple:
    return tuple(dict.fromkeys(t))


def _min_opt(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


def _tighter_lo(a: NumC, b: NumC):
    if a.lo is None:
        return b.lo, b.lo_excl
    if b.lo is None:
        return a.lo, a.lo_excl
    if a.lo != b.lo:
        return (a.lo, a.lo_excl) if a.lo > b.lo else (b.lo, b.lo_excl)
    return a.lo, a.lo_excl or b.lo_excl


def _tighter_hi(a: NumC, b: NumC):
    if a.hi is None:
        return b.hi, b.hi_excl
    if b.hi is None:
        return a.hi, a.hi_excl
    if a.hi != b.hi:
        return (a.hi, a.hi_excl) if a.hi < b.hi else (b.hi, b.hi_excl)
    return a.hi, a.hi_excl or b.hi_excl


def replace_typed(t: Typed, **kw) -> Typed:
    d = dict(types=t.types, enum=t.enum, s=t.s, n=t.n, a=t.a, o=t.o)
    d.update(kw)
    return Typed(**d)


__all__ = ["Node", "Typed", "Union", "Group", "Lazy", "FALSE", "ANY", "StrC", "NumC", "ArrC", "ObjC", "ObjPart",
           "and_nodes", "deref", "jkey", "jtype", "Ctx", "replace", "replace_typed", "is_any"]
