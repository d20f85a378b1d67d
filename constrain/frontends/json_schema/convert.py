"""JSON Schema (draft 4 .. 2020-12) -> IR nodes.

``$ref`` is resolved with :mod:`referencing` (local documents and a user
registry only; never the network). Recursion goes through :class:`Lazy`
nodes; a cycle that never consumes input raises :class:`SchemaError`.
"""
from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from ...errors import SchemaError, UnsupportedSchemaError
from ...fsm.formats import CHECKED_FORMATS, FORMATS
from .ir import (ALL_TYPES, ANY, FALSE, ArrC, Ctx, Group, Lazy, NumC, ObjC, ObjPart, StrC, Typed, Union, and_nodes,
                 deref, jkey, jtype)

_TYPE_NAMES = {"null", "boolean", "integer", "number", "string", "array", "object"}

# keywords that only annotate (or that we deliberately treat as annotations)
_ANNOTATIONS = {
    "$schema", "$id", "id", "$comment", "$defs", "definitions", "$anchor", "$dynamicAnchor", "$recursiveAnchor",
    "$vocabulary", "title", "description", "default", "examples", "example", "readOnly", "writeOnly", "deprecated",
    "contentMediaType", "contentEncoding", "contentSchema", "discriminator", "xml", "externalDocs",
}
# every keyword this converter understands
_KNOWN = _ANNOTATIONS | {
    "type", "enum", "const", "nullable", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "items", "prefixItems", "additionalItems", "minItems",
    "maxItems", "uniqueItems", "contains", "minContains", "maxContains", "properties", "patternProperties",
    "additionalProperties", "required", "minProperties", "maxProperties", "propertyNames", "dependentRequired",
    "dependentSchemas", "dependencies", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref",
    "$dynamicRef", "$recursiveRef", "unevaluatedProperties", "unevaluatedItems",
}

# a schema with only these keywords (and annotations) is a leaf: it refers to nothing, so two
# with the same content are the same node (see Converter.node)
_LEAF = {"type", "enum", "const", "nullable", "minLength", "maxLength", "pattern", "format", "minimum", "maximum",
         "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
# (annotations but identifiers, anchors and those that hold schemas)
_LEAF_ANNOTATIONS = _ANNOTATIONS - {"$schema", "$id", "id", "$defs", "definitions", "$anchor", "$dynamicAnchor",
                                    "$recursiveAnchor", "$vocabulary", "contentSchema", "discriminator"}

# keywords that exist only from / up to some draft (as the drafts' meta-schemas and validators have
# them): elsewhere they are unknown words, which a validator ignores, so we ignore them too
_FIRST_DRAFT = {"const": 6, "contains": 6, "propertyNames": 6, "if": 7, "then": 7, "else": 7,
                "dependentRequired": 2019, "dependentSchemas": 2019, "minContains": 2019, "maxContains": 2019,
                "unevaluatedProperties": 2019, "unevaluatedItems": 2019, "prefixItems": 2020}
_LAST_DRAFT = {"dependencies": 7}

_DRAFTS = {
    "draft3": 3, "draft-03": 3, "draft4": 4, "draft-04": 4, "draft6": 6, "draft-06": 6, "draft7": 7, "draft-07": 7,
    "2019-09": 2019, "2020-12": 2020,
}


def detect_draft(schema, default: int = 2020) -> int:
    if isinstance(schema, dict):
        s = schema.get("$schema")
        if isinstance(s, str):
            for k, v in _DRAFTS.items():
                if k in s:
                    return v
    return default


def _spec(draft: int):
    from referencing import jsonschema as rj

    spec = {3: rj.DRAFT3, 4: rj.DRAFT4, 6: rj.DRAFT6, 7: rj.DRAFT7, 2019: rj.DRAFT201909}.get(draft, rj.DRAFT202012)
    safe = _SAFE_SPECS.get(spec.name)
    if safe is None:
        safe = _SAFE_SPECS[spec.name] = _schemas_only(spec)
    return safe


_SAFE_SPECS: dict = {}

#: formats added after draft 4 that we assert only from the draft that defines them. (The older formats
#: stay asserted in every draft, as before: the full MaskBench dev run shows no validation error from them.)
_FORMAT_SINCE = {"uri-template": 6, "relative-json-pointer": 7}


def _schemas_only(spec):
    """``spec`` whose crawl visits only schemas (objects and booleans). referencing's drafts 4-7
    yield every value of ``dependencies``, and a property dependency (a list of names) made
    its crawl raise AttributeError (MaskBench JsonSchemaStore---tmlanguage)."""
    import attrs

    inner = spec.subresources_of

    def subresources_of(contents):
        return (x for x in inner(contents) if isinstance(x, (dict, bool)))

    return attrs.evolve(spec, subresources_of=subresources_of)


def _dec(v, ptr: str) -> Decimal:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SchemaError(f"expected a number, got {v!r}", ptr)
    try:
        d = Decimal(str(v)) if isinstance(v, float) else Decimal(v)
    except InvalidOperation as e:
        raise SchemaError(f"bad number {v!r}", ptr) from e
    if not d.is_finite():
        raise SchemaError(f"non-finite number {v!r}", ptr)
    return d


def _nonneg_int(v, ptr: str) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or int(v) != v:
        raise SchemaError(f"expected a non-negative integer, got {v!r}", ptr)
    return int(v)


class Converter:
    def __init__(self, root, registry=None, lenient: bool = False, ctx: Ctx | None = None, draft: int | None = None,
                 format_assertion: bool = True):
        from referencing import Registry

        self.draft = detect_draft(root, draft or 2020)
        self.spec = _spec(self.draft)
        self.lenient = lenient
        self.format_assertion = format_assertion
        self.relaxed: list[tuple[str, str]] = []
        self.ctx = ctx or Ctx()
        self.memo: dict = {}
        self.keep: list = []
        reg = registry if registry is not None else Registry()
        try:  # the published meta-schemas, offline (jsonschema-specifications ships them)
            from jsonschema_specifications import REGISTRY as _META

            reg = _META.combine(reg)
        except Exception:  # noqa: BLE001
            pass
        resource = self.spec.create_resource(root)
        base = resource.id() or "urn:constrain:root"
        self.registry = reg.with_resource(base, resource).crawl()
        self.root_resolver = self.registry.resolver(base_uri=base)
        self.root = root
        self.any_unique = False

    # ------------------------------------------------------------------ helpers
    def unsupported(self, msg: str, ptr: str, kw: str):
        if self.lenient:
            self.relaxed.append((ptr or "#", kw))
            return
        raise UnsupportedSchemaError(msg, ptr, kw)

    def convert(self) -> "Lazy":
        return self.node(self.root, self.root_resolver, "#")

    def node(self, schema, resolver, ptr: str):
        if schema is True:
            return ANY
        if schema is False:
            return FALSE
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema must be an object or a boolean, got {type(schema).__name__}", ptr)
        if "$id" in schema or ("id" in schema and self.draft <= 4 and isinstance(schema.get("id"), str)):
            try:
                resolver = resolver.in_subresource(self.spec.create_resource(schema))
            except Exception:  # noqa: BLE001 - a bad $id is reported by lookup later
                pass
        key = self._leaf_key(schema) or (id(schema), str(resolver._base_uri))
        got = self.memo.get(key)
        if got is None:
            self.keep.append(schema)
            got = Lazy(lambda: self.build(schema, resolver, ptr), ptr)
            self.memo[key] = got
        return got

    @staticmethod
    def _leaf_key(schema: dict) -> tuple | None:
        """A content key for a leaf schema (only ``_LEAF`` keywords and annotations), else None.

        Leaves with equal constraints become one node, so the parser frames and the masks
        cached by them are shared: a schema often repeats ``{"type": "string", "maxLength":
        255}`` under dozens of names, each with its own description. An error found while
        building such a node names the pointer of the occurrence built first."""
        if not all(k in _LEAF or k in _LEAF_ANNOTATIONS for k in schema):
            return None
        try:
            body = json.dumps({k: v for k, v in schema.items() if k in _LEAF}, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError):
            return None
        return ("leaf", body)

    def ref(self, ref: str, resolver, ptr: str):
        from referencing.exceptions import Unresolvable

        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string", ptr)
        try:
            resolved = resolver.lookup(ref)
        except Unresolvable as e:
            raise SchemaError(f"cannot resolve $ref {ref!r} ({type(e).__name__}); remote references need a "
                              "registry (registry=...)", ptr) from e
        except Exception as e:  # noqa: BLE001
            raise SchemaError(f"cannot resolve $ref {ref!r}: {e}", ptr) from e
        return self.node(resolved.contents, resolved.resolver, f"{ptr}/$ref")

    # ------------------------------------------------------------------ build
    def build(self, s: dict, resolver, ptr: str):
        self.ctx.tick()
        for k in s:
            if k not in _KNOWN and not isinstance(k, str):
                raise SchemaError(f"bad keyword {k!r}", ptr)
        d = self.draft
        if any(_FIRST_DRAFT.get(k, 0) > d or _LAST_DRAFT.get(k, 9999) < d for k in s):
            s = {k: v for k, v in s.items() if _FIRST_DRAFT.get(k, 0) <= d <= _LAST_DRAFT.get(k, 9999)}
        if self.draft <= 7 and "$ref" in s:
            return self.ref(s["$ref"], resolver, ptr)
        conj = [self.typed(s, resolver, ptr)]
        if "$ref" in s:
            conj.append(self.ref(s["$ref"], resolver, ptr))
        for kw in ("$dynamicRef", "$recursiveRef"):
            if kw in s:
                conj.append(self.dynamic_ref(s[kw], kw, resolver, ptr))
        if "allOf" in s:
            for i, sub in enumerate(self._list(s["allOf"], f"{ptr}/allOf")):
                conj.append(self.node(sub, resolver, f"{ptr}/allOf/{i}"))
        if "anyOf" in s:
            subs = [self.node(x, resolver, f"{ptr}/anyOf/{i}") for i, x in enumerate(self._list(s["anyOf"], ptr))]
            conj.append(Union(subs) if len(subs) != 1 else subs[0])
        if "oneOf" in s:
            subs = [self.node(x, resolver, f"{ptr}/oneOf/{i}") for i, x in enumerate(self._list(s["oneOf"], ptr))]
            conj.append(Lazy(lambda subs=subs: one_of(subs), ptr) if len(subs) != 1 else subs[0])
        if "not" in s:
            inner = self.node(s["not"], resolver, f"{ptr}/not")
            conj.append(Lazy(lambda inner=inner: negate(inner), ptr))
        if "if" in s and ("then" in s or "else" in s):
            c = self.node(s["if"], resolver, f"{ptr}/if")
            t = self.node(s.get("then", True), resolver, f"{ptr}/then")
            e = self.node(s.get("else", True), resolver, f"{ptr}/else")
            conj.append(Group("if", [c, t, e]))
        deps = {}
        if isinstance(s.get("dependentSchemas"), dict):
            deps.update(s["dependentSchemas"])
        if isinstance(s.get("dependencies"), dict):
            deps.update({k: v for k, v in s["dependencies"].items() if not isinstance(v, list)})
        for k, sub in deps.items():
            sn = self.node(sub, resolver, f"{ptr}/dependentSchemas/{k}")
            non_obj = Typed(ALL_TYPES - {"object"})
            without = Typed({"object"}, o=ObjC(parts=(ObjPart(props={k: FALSE}),)))
            present = Typed({"object"}, o=ObjC(required=frozenset([k])))
            conj.append(Union([non_obj, without, and_nodes(self.ctx, present, sn)]))
        out = conj[0]
        for c in conj[1:]:
            out = and_nodes(self.ctx, out, c)
        up = s.get("unevaluatedProperties") if self.draft >= 2019 else None
        ui = s.get("unevaluatedItems") if self.draft >= 2019 else None
        if up is not None or ui is not None:
            un_p = self.node(up, resolver, f"{ptr}/unevaluatedProperties") if up is not None else None
            un_i = self.node(ui, resolver, f"{ptr}/unevaluatedItems") if ui is not None else None
            inner = out
            out = Lazy(lambda: seal(self.ctx, deref(inner), un_p, un_i), ptr)
        return out

    def dynamic_ref(self, ref, kw: str, resolver, ptr: str):
        """$dynamicRef / $recursiveRef, resolved statically.

        The outermost resource of every dynamic scope is the root document, so when
        the initial target is a dynamic anchor and the root resource defines the same
        dynamic anchor, the root's wins. Otherwise the reference is exact as a plain
        ``$ref`` when no other resource defines that anchor; the rest is refused.
        """
        if not isinstance(ref, str):
            raise SchemaError(f"{kw} must be a string", ptr)
        if kw == "$recursiveRef":
            if ref != "#":
                raise SchemaError("$recursiveRef must be '#'", ptr)
            try:
                target = resolver.lookup("#").contents
            except Exception:  # noqa: BLE001
                target = None
            if isinstance(target, dict) and target.get("$recursiveAnchor") is True:
                if isinstance(self.root, dict) and self.root.get("$recursiveAnchor") is True:
                    return self.node(self.root, self.root_resolver, "#")
                if not self._in_root(target) or self._count_anchor("$recursiveAnchor", True) > 1:
                    self.unsupported("$recursiveRef with several possible $recursiveAnchor targets", ptr, kw)
            return self.ref("#", resolver, ptr)
        frag = ref.partition("#")[2]
        if not frag or frag.startswith("/"):
            return self.ref(ref, resolver, ptr)
        try:
            target = resolver.lookup(ref).contents
        except Exception:  # noqa: BLE001
            return self.ref(ref, resolver, ptr)
        if not (isinstance(target, dict) and target.get("$dynamicAnchor") == frag):
            return self.ref(ref, resolver, ptr)
        try:
            at_root = self.root_resolver.lookup("#" + frag)
        except Exception:  # noqa: BLE001
            at_root = None
        if at_root is not None and isinstance(at_root.contents, dict) and at_root.contents.get("$dynamicAnchor") == frag:
            return self.node(at_root.contents, at_root.resolver, f"{ptr}/{kw}")
        if not self._in_root(target) or self._count_anchor("$dynamicAnchor", frag) > 1:
            self.unsupported("$dynamicRef whose anchor is defined by several resources", ptr, kw)
        return self.ref(ref, resolver, ptr)

    def _in_root(self, obj) -> bool:
        ids = getattr(self, "_root_ids", None)
        if ids is None:
            ids = self._root_ids = set()
            stack = [self.root]
            while stack:
                x = stack.pop()
                if isinstance(x, dict):
                    ids.add(id(x))
                    stack.extend(x.values())
                elif isinstance(x, list):
                    stack.extend(x)
        return id(obj) in ids

    def _count_anchor(self, kw, value) -> int:
        n = 0
        stack = [self.root]
        while stack:
            x = stack.pop()
            if isinstance(x, dict):
                if x.get(kw) == value:
                    n += 1
                stack.extend(x.values())
            elif isinstance(x, list):
                stack.extend(x)
        return n

    def _list(self, v, ptr):
        if not isinstance(v, list) or not v:
            raise SchemaError("expected a non-empty array of schemas", ptr)
        return v

    # ------------------------------------------------------------------ typed keywords
    def typed(self, s: dict, resolver, ptr: str):
        for k in s:
            if k not in _KNOWN and k.startswith("unevaluated"):
                pass
        types = set(ALL_TYPES)
        integer = False
        if "type" in s:
            t = s["type"]
            tl = [t] if isinstance(t, str) else t
            if not isinstance(tl, list) or any(x not in _TYPE_NAMES for x in tl):
                raise SchemaError(f"bad type {t!r}", f"{ptr}/type")
            types = {("number" if x == "integer" else x) for x in tl}
            integer = "integer" in tl and "number" not in tl
        if s.get("nullable") is True:
            types.add("null")
        # strings
        sc = StrC()
        if "minLength" in s or "maxLength" in s or "pattern" in s or "format" in s:
            mn = _nonneg_int(s.get("minLength", 0), f"{ptr}/minLength")
            mx = _nonneg_int(s["maxLength"], f"{ptr}/maxLength") if "maxLength" in s else None
            pats = ()
            if "pattern" in s:
                if not isinstance(s["pattern"], str):
                    raise SchemaError("pattern must be a string", f"{ptr}/pattern")
                pats = (s["pattern"],)
            fmts = ()
            f = s.get("format")
            if isinstance(f, str) and (f in FORMATS or f in CHECKED_FORMATS) and self.format_assertion \
                    and self.draft >= _FORMAT_SINCE.get(f, 0):
                fmts = (f,)
            sc = StrC(mn, mx, pats, fmts)
        # numbers
        nc = NumC(integer=integer)
        lo = hi = None
        lo_x = hi_x = False
        if "minimum" in s:
            lo = _dec(s["minimum"], f"{ptr}/minimum")
            if s.get("exclusiveMinimum") is True:
                lo_x = True
        if "maximum" in s:
            hi = _dec(s["maximum"], f"{ptr}/maximum")
            if s.get("exclusiveMaximum") is True:
                hi_x = True
        for kw, is_lo in (("exclusiveMinimum", True), ("exclusiveMaximum", False)):
            v = s.get(kw)
            if v is None or isinstance(v, bool):
                continue
            d = _dec(v, f"{ptr}/{kw}")
            if is_lo and (lo is None or d >= lo):
                lo, lo_x = d, True
            if not is_lo and (hi is None or d <= hi):
                hi, hi_x = d, True
        mult = ()
        if "multipleOf" in s:
            m = _dec(s["multipleOf"], f"{ptr}/multipleOf")
            if m <= 0:
                raise SchemaError("multipleOf must be > 0", f"{ptr}/multipleOf")
            mult = (m,)
        # draft 4 (and 3): "integer" is a JSON integer literal, so 1.0 and 1e3 are not integers
        nc = NumC(lo, lo_x, hi, hi_x, integer, mult, lexical_int=integer and self.draft <= 4)
        # arrays
        ac = ArrC()
        if any(k in s for k in ("items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems",
                                "contains", "unevaluatedItems")):
            ac = self.arr(s, resolver, ptr)
        oc = ObjC()
        if any(k in s for k in ("properties", "patternProperties", "additionalProperties", "required",
                                "minProperties", "maxProperties", "propertyNames", "dependentRequired",
                                "dependencies", "unevaluatedProperties")):
            oc = self.obj(s, resolver, ptr)
        node = Typed(types, None, sc, nc, ac, oc)
        if "enum" in s or "const" in s:
            vals = None
            if "enum" in s:
                if not isinstance(s["enum"], list):
                    raise SchemaError("enum must be an array", f"{ptr}/enum")
                vals = list(s["enum"])
                from .compile import MAX_ENUM_VALUES

                if len(vals) > MAX_ENUM_VALUES:
                    from ...errors import CompileBudgetError

                    raise CompileBudgetError(f"enum with {len(vals)} values at '{ptr}/enum' is over the limit "
                                             f"of {MAX_ENUM_VALUES}")
            if "const" in s:
                ck = jkey(s["const"])
                vals = [s["const"]] if vals is None else [v for v in vals if jkey(v) == ck]
            if s.get("nullable") is True and None not in vals:
                vals.append(None)
            return and_nodes(self.ctx, node, enum_node(vals, self.ctx))
        return node

    def arr(self, s, resolver, ptr) -> ArrC:
        prefix: tuple = ()
        items = None
        if "prefixItems" in s and self.draft >= 2020:
            prefix = tuple(self.node(x, resolver, f"{ptr}/prefixItems/{i}") for i, x in enumerate(s["prefixItems"]))
        it = s.get("items")
        if isinstance(it, list) and self.draft < 2020:
            prefix = tuple(self.node(x, resolver, f"{ptr}/items/{i}") for i, x in enumerate(it))
            if "additionalItems" in s:
                items = self.node(s["additionalItems"], resolver, f"{ptr}/additionalItems")
        elif it is not None:
            items = self.node(it, resolver, f"{ptr}/items")
        contains = ()
        if "contains" in s and self.draft >= 6:
            cn = self.node(s["contains"], resolver, f"{ptr}/contains")
            mn = _nonneg_int(s.get("minContains", 1), f"{ptr}/minContains") if self.draft >= 2019 else 1
            mx = _nonneg_int(s["maxContains"], f"{ptr}/maxContains") if ("maxContains" in s and self.draft >= 2019) else None
            contains = ((cn, mn, mx),)
        mi = _nonneg_int(s.get("minItems", 0), f"{ptr}/minItems")
        ma = _nonneg_int(s["maxItems"], f"{ptr}/maxItems") if "maxItems" in s else None
        uniq = s.get("uniqueItems") is True
        if uniq:
            self.any_unique = True
        return ArrC(prefix, items, mi, ma, contains, uniq)

    def obj(self, s, resolver, ptr) -> ObjC:
        props = {}
        if isinstance(s.get("properties"), dict):
            for k, v in s["properties"].items():
                props[k] = self.node(v, resolver, f"{ptr}/properties/{k}")
        pats = []
        if isinstance(s.get("patternProperties"), dict):
            from ...fsm.ecma_regex import parse

            for k, v in s["patternProperties"].items():
                try:
                    parse(k)
                except Exception as e:  # noqa: BLE001
                    self.unsupported(f"patternProperties regex {k!r}: {e}", f"{ptr}/patternProperties", "patternProperties")
                    continue
                pats.append((k, self.node(v, resolver, f"{ptr}/patternProperties/{k}")))
        add = None
        if "additionalProperties" in s:
            add = self.node(s["additionalProperties"], resolver, f"{ptr}/additionalProperties")
        req = s.get("required", [])
        if isinstance(req, bool):  # draft3 style
            req = []
        if not isinstance(req, list) or not all(isinstance(x, str) for x in req):
            raise SchemaError("required must be an array of strings", f"{ptr}/required")
        names = ()
        if "propertyNames" in s:
            names = (self.node(s["propertyNames"], resolver, f"{ptr}/propertyNames"),)
        dep_req = []
        for kw in ("dependentRequired", "dependencies"):
            d = s.get(kw)
            if isinstance(d, dict):
                for k, v in d.items():
                    if isinstance(v, list):
                        dep_req.append((k, frozenset(v)))
        part = ObjPart(props, tuple(pats), add)
        return ObjC((part,), frozenset(req), _nonneg_int(s.get("minProperties", 0), f"{ptr}/minProperties"),
                    _nonneg_int(s["maxProperties"], f"{ptr}/maxProperties") if "maxProperties" in s else None,
                    names, tuple(dep_req))


# ----------------------------------------------------------------------------- enum / const


def enum_node(vals, ctx: Ctx):
    scalars = [v for v in vals if not isinstance(v, (list, dict))]
    seen, uniq = set(), []
    for v in scalars:
        k = jkey(v)
        if k not in seen:
            seen.add(k)
            uniq.append(v)
    branches = []
    if uniq:
        branches.append(Typed({jtype(v) for v in uniq}, tuple(uniq)))
    ckeys = set()
    for v in vals:
        if isinstance(v, (list, dict)):
            k = jkey(v)
            if k not in ckeys:
                ckeys.add(k)
                branches.append(const_node(v))
    if not branches:
        return FALSE
    return branches[0] if len(branches) == 1 else Union(branches)


def const_node(v):
    if isinstance(v, dict):
        props = {k: const_node(x) for k, x in v.items()}
        return Typed({"object"}, o=ObjC((ObjPart(props, (), FALSE),), frozenset(v), len(v), len(v)))
    if isinstance(v, list):
        return Typed({"array"}, a=ArrC(tuple(const_node(x) for x in v), FALSE, len(v), len(v)))
    return Typed({jtype(v)}, (v,))


# ----------------------------------------------------------------------------- combinators


def _simple_types(n):
    """The JSON types a node can match, or None if unknown."""
    n = deref(n)
    if isinstance(n, Typed):
        return n.types
    if isinstance(n, Union):
        out = set()
        for b in n.branches:
            t = _simple_types(b)
            if t is None:
                return None
            out |= t
        return out
    return None


def _const_of(n, name):
    """If node n requires property `name` with a finite scalar value set, return the set of keys."""
    n = deref(n)
    if not isinstance(n, Typed) or n.types != {"object"} or name not in n.o.required:
        return None
    vals = None
    for p in n.o.parts:
        if name in p.props:
            c = deref(p.props[name])
            if isinstance(c, Typed) and c.enum is not None:
                ks = {jkey(v) for v in c.enum}
                vals = ks if vals is None else vals & ks
    return vals


def disjoint(a, b) -> bool:
    ta, tb = _simple_types(a), _simple_types(b)
    if ta is not None and tb is not None and not (ta & tb):
        return True
    a, b = deref(a), deref(b)
    if isinstance(a, Typed) and isinstance(b, Typed):
        if a.enum is not None and b.enum is not None and not ({jkey(v) for v in a.enum} & {jkey(v) for v in b.enum}):
            return True
        if a.types == b.types == {"object"}:
            for name in a.o.required & b.o.required:
                ca, cb = _const_of(a, name), _const_of(b, name)
                if ca is not None and cb is not None and not (ca & cb):
                    return True
    return False


def one_of(subs):
    subs = [s for s in subs if deref(s) is not FALSE]
    if not subs:
        return FALSE
    if len(subs) == 1:
        return subs[0]
    if all(disjoint(subs[i], subs[j]) for i in range(len(subs)) for j in range(i + 1, len(subs))):
        return Union(subs)
    return Group("oneOf", subs)


def negate(inner):
    n = deref(inner)
    if n is FALSE:
        return ANY
    if isinstance(n, Typed):
        from .ir import is_any

        if is_any(n):
            return FALSE
        plain = replace_types_only(n)
        if plain is not None:
            rest = ALL_TYPES - n.types
            return Typed(rest) if rest else FALSE
        if n.enum is not None and n.types <= {"string", "null", "boolean"} and plain_enum(n):
            # not(enum of scalars): exclude those values
            vals = n.enum
            keep_bool = tuple(v for v in (True, False) if jkey(v) not in {jkey(x) for x in vals})
            out = [Typed(ALL_TYPES - {"string", "null", "boolean"})]
            out.append(Typed({"string"}, s=StrC(not_values=frozenset(v for v in vals if isinstance(v, str)))))
            if None not in vals:
                out.append(Typed({"null"}))
            if keep_bool:
                out.append(Typed({"boolean"}, keep_bool))
            return Union(out)
    return Group("not", [ANY, inner])


def plain_enum(n: Typed) -> bool:
    from .ir import _arr_trivial, _obj_trivial

    return n.s == StrC() and n.n == NumC() and _arr_trivial(n.a) and _obj_trivial(n.o)


def replace_types_only(n: Typed):
    from .ir import _arr_trivial, _obj_trivial

    if n.enum is None and n.s == StrC() and n.n == NumC(integer=n.n.integer) and _arr_trivial(n.a) \
            and _obj_trivial(n.o) and not n.n.integer:
        return n
    return None


# ----------------------------------------------------------------------------- unevaluated*


def seal(ctx, n, un_p, un_i):
    """Apply unevaluatedProperties/Items to a built node.

    The evaluated keys/items are computed statically per alternative (a Union
    branch, a oneOf branch, the positive side of not, ...): only annotations of
    the alternative itself count, so a key evaluated only by *another* successful
    anyOf branch is treated as unevaluated. That can reject a valid instance but
    never accepts an invalid one.
    """
    if n is FALSE:
        return n
    if isinstance(n, Lazy):
        n = deref(n)
    if isinstance(n, Union):
        return Union([seal(ctx, deref(b), un_p, un_i) for b in n.branches])
    if isinstance(n, Group):
        b = [deref(x) for x in n.branches]
        if n.kind == "all":
            return Group(n.kind, [seal(ctx, x, un_p, un_i) for x in b])
        if n.kind == "oneOf":
            # oneOf is not monotone: keep it as is and require, in parallel, that some
            # branch passes with its own evaluated set (that branch is the unique one).
            return Group("all", [n, Union([seal(ctx, x, un_p, un_i) for x in b])])
        if n.kind == "not":
            return Group("not", [seal(ctx, b[0], un_p, un_i), b[1]])
        if n.kind == "if":
            return Group("if", [b[0], seal(ctx, b[1], un_p, un_i), seal(ctx, b[2], un_p, un_i)])
        return n
    if not isinstance(n, Typed):
        return n
    o, a = n.o, n.a
    if un_p is not None and "object" in n.types and not any(p.additional is not None for p in o.parts):
        names = {}
        pats = []
        for p in o.parts:
            for k in p.props:
                names[k] = ANY
            pats.extend((pat, ANY) for pat, _ in p.patterns)
        part = ObjPart(names, tuple(pats), un_p)
        o = ObjC(o.parts + (part,), o.required, o.min_props, o.max_props, o.names, o.dep_required)
    if un_i is not None and "array" in n.types and a.items is None:
        a = ArrC(a.prefix, un_i, a.min_items, a.max_items, a.contains, a.unique)
    if o is n.o and a is n.a:
        return n
    from .ir import replace_typed

    return replace_typed(n, o=o, a=a)
