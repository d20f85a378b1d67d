"""ECMA-262 translation, JSON string encoding, numeric range regexes and formats."""
from __future__ import annotations

import json
import random
import re
from decimal import Decimal

import interegular
import pytest

from constrain.errors import RegexError
from constrain.fsm import ecma_regex as er
from constrain.fsm.formats import FORMATS
from constrain.fsm.numeric import int_range, literal_regex, number_regex


def _json_fullmatch(pattern: str, s: str) -> bool:
    body = er.to_json_body(er.search_language(pattern))
    enc = json.dumps(s, ensure_ascii=False)[1:-1]
    return re.fullmatch(body, enc, re.S) is not None


@pytest.mark.parametrize("pattern,yes,no", [
    ("abc", ["abc", "xabcx"], ["ab", ""]),
    ("^abc$", ["abc"], ["xabc", "abcx"]),
    ("^a|b$", ["ax", "xb"], ["xa", "bx"]),
    ("^(foo|bar)+$", ["foobar", "bar"], ["", "fo"]),
    ("^[^a-c]{2}$", ["xy", "日本"], ["ax", "x"]),
    ("^\\d{3}-\\w+\\s?$", ["123-ab ", "000-_"], ["12-a", "123-"]),
    ("^\\x41\\u0042\\u{43}$", ["ABC"], ["abc"]),
    ("^.$", ["a", "€"], ["\n", ""]),
    ("^[\\b]$", ["\b"], ["b"]),
    ("^a{2,}b?$", ["aa", "aaab"], ["a", "ab"]),
    ("^x{2}?$", ["xx"], ["x"]),
    ("a{,3}", ["a{,3}"], ["aaa"]),  # Annex B: literal brace
    ("^[\"\\\\/]$", ['"', "\\", "/"], ["a"]),
    ("^(?:ab|cd)(?<name>e)$", ["abe", "cde"], ["ab"]),
])
def test_ecma_search_semantics(pattern, yes, no):
    py = re.compile(er.to_python(er.search_language(pattern)), re.S)
    for s in yes:
        assert py.fullmatch(s), (pattern, s)
        assert _json_fullmatch(pattern, s), (pattern, s)
    for s in no:
        assert not py.fullmatch(s), (pattern, s)
        assert not _json_fullmatch(pattern, s), (pattern, s)


def test_ecma_many_unanchored_alternatives():
    words = [f"w{i}-az{i % 7}" for i in range(300)]
    py = re.compile(er.to_python(er.search_language("(" + "|".join(words) + ")")), re.S)
    assert py.fullmatch("xx w17-az3 yy") and py.fullmatch("w299-az5") and not py.fullmatch("w300-az6")



@pytest.mark.parametrize("pattern", [
    r"^(\/?((\.{2})|([a-z0-9\-]*))($|\/))*$",  # MaskBench Github_hard---o60770
    r"a(^|-)b", r"(^|,)a(,|$)", r"(^a|b$)c", r"(a$)*", r"(^a)*b", r"((^|a)b($|c))+", r"(a|^)(b|$){2,3}",
    r"($|a){0,2}b", r"^(a(b|$))+$", r"((a|$)|(^|b))*c?", r"(^a|$)(b|^)", r"(.$)?a", r"(a(^|b)){1,}",
])
def test_ecma_interior_anchors_exhaustive(pattern):
    """Interior anchors against Python's re.search (\\A/\\Z: ECMA '$' has no before-newline case)."""
    import itertools

    ours = re.compile(er.to_python(er.search_language(pattern)), re.S)
    ref = re.compile(pattern.replace("^", "\\A").replace("$", "\\Z"), re.S)
    for n in range(6):
        for t in itertools.product("ab/.c-", repeat=n):
            s = "".join(t)
            assert bool(ours.fullmatch(s)) == bool(ref.search(s)), (pattern, s)
            if n < 4:
                assert _json_fullmatch(pattern, s) == bool(ref.search(s)), (pattern, s)


@pytest.mark.parametrize("pattern", ["(?=a)", "(?!a)", "(?<=a)b", "\\bword", "(a)\\1", "\\p{L}", "a(^b)", "x(^a)|b$c", "(", "[a"])
def test_ecma_unsupported(pattern):
    with pytest.raises(RegexError):
        er.search_language(pattern)


def test_json_char_regex_encodings():
    rx = re.compile(er.json_char_regex(er.ANY))
    for enc in ["a", "€", '\\"', "\\\\", "\\/", "\\n", "\\t", "\\b", "\\f", "\\r"]:
        assert rx.fullmatch(enc), enc
    for enc in ['"', "\\", "\\q", "\n", "\x01"]:
        assert not rx.fullmatch(enc), enc
    fsm = interegular.parse_pattern(f'"{er.json_char_regex(er.ANY)}*"').to_fsm()
    assert fsm.accepts('"a\\"b"') and not fsm.accepts('"a"b"')


def test_int_range_exhaustive():
    for lo, hi in [(0, 0), (0, 9), (5, 123), (10, 99), (99, 1001), (7, None), (0, None), (120, None)]:
        rx = re.compile(int_range(lo, hi))
        for v in range(0, 1300):
            assert bool(rx.fullmatch(str(v))) == (v >= lo and (hi is None or v <= hi)), (lo, hi, v)
        assert not rx.fullmatch("01")


def test_number_regex_random():
    rnd = random.Random(7)
    bounds = [None, Decimal(0), Decimal("2.5"), Decimal(-3), Decimal("-0.75"), Decimal(100), Decimal("19.99")]
    samples = ["0", "-0", "0.0", "1", "-1", "2.5", "2.50", "2.49", "-3", "-3.01", "-0.75", "100", "100.01", "19.99",
               "1e3", "-1e-3"] + [f"{rnd.uniform(-120, 120):.{rnd.randint(0, 3)}f}" for _ in range(300)]
    for lo in bounds:
        for hi in bounds:
            for lx in (False, True):
                for hx in (False, True):
                    for k in (None, 0, 1):
                        rx = number_regex(lo, lx, hi, hx, k)
                        c = re.compile(rx) if rx else None
                        for s in samples:
                            v = Decimal(s)
                            ok = (lo is None or (v > lo if lx else v >= lo)) and (hi is None or (v < hi if hx else v <= hi))
                            if k is not None:
                                ok = ok and v == v.quantize(Decimal(1).scaleb(-k)) if abs(v) < 10**6 else ok
                            if "e" in s and not (lo in (None, 0) and hi in (None, 0) and k is None
                                                 and not (lo == 0 and hi == 0)):
                                ok = False
                            assert bool(c and c.fullmatch(s)) == ok, (lo, lx, hi, hx, k, s, rx)


def test_literal_regex():
    rx = re.compile(literal_regex(2.5))
    assert rx.fullmatch("2.5") and rx.fullmatch("2.50") and not rx.fullmatch("2.05")
    rx = re.compile(literal_regex(1))
    assert rx.fullmatch("1") and rx.fullmatch("1.0") and not rx.fullmatch("10")
    assert re.fullmatch(literal_regex(1e-07), json.dumps(1e-07))


@pytest.mark.parametrize("fmt,good,bad", [
    ("date-time", ["2024-01-31T23:59:60.123Z", "2024-01-31t00:00:00+05:30"], ["2024-01-31 00:00:00", "2024-1-1T00:00:00Z"]),
    ("date", ["2024-02-29", "2000-02-29", "2023-04-30"], ["2023-02-29", "1900-02-29", "2022-02-30", "2022-04-31"]),
    ("time", ["12:00:00Z", "23:59:59.9-01:00"], ["24:00:00Z", "12:00"]),
    ("duration", ["P1D", "PT1H30M", "P1Y2M3DT4H5M6S", "P2W"], ["P", "PT", "1D", "P1H"]),
    ("hostname", ["example.com", "a-b.c"], ["-a.com", "a..b"]),
    ("ipv6", ["::1", "2001:db8::8a2e:370:7334", "::ffff:192.168.1.1"], ["1:2:3", "12345::"]),
    ("uri", ["https://example.com/a?b=c#d", "urn:isbn:0451450523"], ["/relative", "http://exa mple.com"]),
    ("uri-reference", ["https://x.org/a", "../b:c", "#frag", "?q", "", "/p:q", "a:b"], ["://", ":x", "1a:b", "a b"]),
    ("uuid", ["123e4567-e89b-12d3-a456-426614174000"], ["123e4567e89b12d3a456426614174000"]),
    ("uri-template", ["http://example.com/resource/{id}", "/search{?q,lang}", "{+path:3}/x{/seg*}", "", "a b"],
     ["http://example.com/resource/{", "x}", "{}", "{=a}", "{a-b}", "{%2F}", "{a:0}", "{a:1000}", "{a..b}"]),
    ("relative-json-pointer", ["0", "1/a~0b", "2#", "10/"], ["", "01", "-1", "1a", "0##"]),
])
def test_formats(fmt, good, bad):
    py = re.compile(er.to_python(er.search_language(FORMATS[fmt])), re.S)
    for s in good:
        assert py.fullmatch(s), (fmt, s)
    for s in bad:
        assert not py.fullmatch(s), (fmt, s)


LOOKAHEADS = ["^(?=.*[0-9])(?!admin)[a-z0-9]{3,6}$", "^(?!ab)[abc]+$", "^(?!a|bc)$", "^(?=[^c]+$)(?!\\s+$)(.|\\n)+$",
              "^(?![ b]*\\(c(.*)\\))[\\s\\S]*", "^(?=a)(?=.*b)", "^(?!.*cc)(?=.{2,4}$)[abc ]*$"]


@pytest.mark.parametrize("pattern", LOOKAHEADS)
def test_ecma_leading_lookaheads_are_exact(pattern):
    """A lookahead right after a leading ^ tests the whole string: the pattern is an
    intersection (search_parts), decided like Python's re, which has the same semantics here
    (with \\Z for ECMA's '$', which has no before-newline case), on every string of up to 5
    characters over a small alphabet."""
    from itertools import product

    from constrain.frontends.json_schema.compile import pattern_matches

    ref = re.compile(pattern.replace("$", "\\Z"))
    for n in range(6):
        for t in product("abc \n(", repeat=n):
            s = "".join(t)
            assert pattern_matches(pattern, s) == bool(ref.search(s)), (pattern, s)


@pytest.mark.parametrize("pattern", ["(?=a)b", "^a(?=b)", "^((?!mode).)*$", "^(?=(?=a))", "^(?=a^)", "x|^(?=a)"])
def test_ecma_lookaheads_elsewhere_are_refused(pattern):
    with pytest.raises(RegexError):
        er.search_parts(pattern)
