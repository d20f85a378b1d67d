"""Regexes for JSON numbers in a range.

* :func:`int_range` -- canonical non-negative integers (no leading zeros) in ``[lo, hi]``;
* :func:`number_regex` -- JSON numbers (``-?int(.frac)?``, exponents only when
  the bounds are sign-only) whose value lies in a range, optionally with at most
  ``frac_digits`` significant fraction digits (``0`` = integer-valued, e.g. ``1.0``;
  ``-1`` = integer literals only, no fraction or exponent);
* :func:`literal_regex` -- the JSON spellings of one number (``1``, ``1.0``, ``1.00``...).

Ranges are exact: every string matched is a JSON number in the range, every
JSON number (without exponent) in the range is matched.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

DIGITS = "[0-9]"
EXP = "(?:[eE][+-]?[0-9]+)"


def _digit_class(a: int, b: int) -> str:
    if a == b:
        return str(a)
    if (a, b) == (0, 9):
        return DIGITS
    return f"[{a}-{b}]"


@lru_cache(maxsize=4096)
def _same_len(a: str, b: str) -> str:
    """Digit strings of len(a) == len(b) between a and b (leading zeros allowed)."""
    n = len(a)
    if a == b:
        return a
    if n == 1:
        return _digit_class(int(a), int(b))
    if a[1:] == "0" * (n - 1) and b[1:] == "9" * (n - 1):
        rest = f"{DIGITS}{{{n - 1}}}" if n > 2 else DIGITS
        return _digit_class(int(a[0]), int(b[0])) + rest
    if a[0] == b[0]:
        return a[0] + _group(_same_len(a[1:], b[1:]))
    parts = [a[0] + _group(_same_len(a[1:], "9" * (n - 1)))]
    if int(a[0]) + 1 <= int(b[0]) - 1:
        rest = f"{DIGITS}{{{n - 1}}}" if n > 2 else DIGITS
        parts.append(_digit_class(int(a[0]) + 1, int(b[0]) - 1) + rest)
    parts.append(b[0] + _group(_same_len("0" * (n - 1), b[1:])))
    return "|".join(parts)


def _group(rx: str) -> str:
    return f"(?:{rx})" if "|" in rx else rx


def int_range(lo: int, hi: int | None) -> str | None:
    """Canonical decimal strings of the integers in [lo, hi] (lo >= 0, hi None = unbounded)."""
    if lo < 0:
        raise ValueError("int_range needs lo >= 0")
    if hi is not None and hi < lo:
        return None
    parts = []
    a = str(lo)
    top = len(str(hi)) if hi is not None else len(a)
    for length in range(len(a), top + 1):
        low = a if length == len(a) else "1" + "0" * (length - 1)
        up = str(hi) if (hi is not None and length == top) else "9" * length
        if length > 1 and low[0] == "0":
            low = "1" + "0" * (length - 1)
        parts.append(_same_len(low, up))
    if hi is None:
        parts.append(f"[1-9]{DIGITS}{{{top},}}")
    return "|".join(parts)


def _split(d: Decimal) -> tuple[int, str]:
    """Non-negative decimal -> (integer part, fraction digits without trailing zeros)."""
    s = format(d, "f")
    if "." in s:
        ip, fp = s.split(".")
        fp = fp.rstrip("0")
    else:
        ip, fp = s, ""
    return int(ip), fp


@lru_cache(maxsize=4096)
def _frac(a: str, ai: bool, b: str | None, bi: bool, k: int | None) -> tuple[str | None, bool]:
    """Digit strings d with 0.a <=(<) 0.d <=(<) 0.b (b None: < 1), digits past k zero.

    Returns (regex of the non-empty such strings or None, whether "" qualifies).
    """
    lo_ok0 = a == "" and ai
    hi_ok0 = b is None or b != "" or bi
    empty_ok = lo_ok0 and hi_ok0
    if k == 0 or b == "":
        return ("0+" if empty_ok else None), empty_ok
    if a == "" and ai and b is None:
        return (f"{DIGITS}+" if k is None else f"{DIGITS}{{1,{k}}}0*"), True
    if a == "" and not ai and b is None and k is None:
        return f"0*[1-9]{DIGITS}*", False
    a0, arest = (int(a[0]), a[1:]) if a else (0, "")
    if b is None:
        b0, brest = 10, None
    elif b == "":
        b0, brest = 0, ""
    else:
        b0, brest = int(b[0]), b[1:]
    kk = None if k is None else k - 1
    opts: list[tuple[int, str]] = []
    for x in range(a0, min(b0, 9) + 1):
        lt, ut = x == a0, x == b0
        rx, eok = _frac(arest if lt else "", ai if lt else True, brest if ut else None, bi if ut else True, kk)
        if rx is None and not eok:
            continue
        tail = (f"(?:{rx})?" if eok else f"(?:{rx})") if rx is not None else ""
        opts.append((x, tail))
    if not opts:
        return None, empty_ok
    # merge runs of digits with the same tail
    parts, i = [], 0
    while i < len(opts):
        j = i
        while j + 1 < len(opts) and opts[j + 1][1] == opts[i][1] and opts[j + 1][0] == opts[j][0] + 1:
            j += 1
        parts.append(_digit_class(opts[i][0], opts[j][0]) + opts[i][1])
        i = j + 1
    return "|".join(parts), empty_ok


def _fraction(rx: str | None, empty_ok: bool) -> str | None:
    if rx is None:
        return "" if empty_ok else None
    return f"(?:\\.(?:{rx}))?" if empty_ok else f"\\.(?:{rx})"


def _nonneg(lo: Decimal, lo_inc: bool, hi: Decimal | None, hi_inc: bool, k: int | None) -> str | None:
    """JSON numbers without sign/exponent whose value v satisfies lo <=(<) v <=(<) hi.
    ``k == -1``: integers spelled without a fraction (draft 4's ``integer``)."""
    if k == -1:
        def fraction(rx_ok):
            return "" if rx_ok[1] else None
        k = 0
    else:
        def fraction(rx_ok):
            return _fraction(*rx_ok)
    li, lf = _split(lo)
    parts = []
    if hi is not None:
        if hi < lo or (hi == lo and not (lo_inc and hi_inc)):
            return None
        hi_i, hf = _split(hi)
        if hi_i == li:
            fr = fraction(_frac(lf, lo_inc, hf, hi_inc, k))
            return None if fr is None else f"{li}{fr}"
    fr = fraction(_frac(lf, lo_inc, None, True, k))
    if fr is not None:
        parts.append(f"{li}{fr}")
    mid_hi = None if hi is None else hi_i - 1
    if mid_hi is None or mid_hi >= li + 1:
        mid = int_range(li + 1, mid_hi)
        if mid:
            parts.append(f"(?:{mid}){fraction(_frac('', True, None, True, k))}")
    if hi is not None:
        fr = fraction(_frac("", True, hf, hi_inc, k))
        if fr is not None:
            parts.append(f"{hi_i}{fr}")
    return "|".join(parts) if parts else None


def number_regex(lo: Decimal | None = None, lo_excl: bool = False, hi: Decimal | None = None,
                 hi_excl: bool = False, frac_digits: int | None = None, allow_exp: bool = True) -> str | None:
    """Regex for JSON numbers in the given range (None: the range is empty)."""
    sign_only = lo in (None, 0) and hi in (None, 0) and frac_digits is None and not (lo == 0 and hi == 0)
    if sign_only and allow_exp:
        return _sign_only(lo, lo_excl, hi, hi_excl)
    parts = []
    zero_ok = (lo is None or lo < 0 or (lo == 0 and not lo_excl)) and (hi is None or hi > 0 or (hi == 0 and not hi_excl))
    if hi is None or hi >= 0:
        if lo is None or lo < 0:
            p = _nonneg(Decimal(0), True, hi, not hi_excl, frac_digits)
        else:
            p = _nonneg(lo, not lo_excl, hi, not hi_excl, frac_digits)
        if p:
            parts.append(p)
    if lo is None or lo < 0 or zero_ok:
        if hi is not None and hi < 0:
            alo, alo_inc = hi.copy_negate(), not hi_excl
        else:
            alo, alo_inc = Decimal(0), zero_ok
        ahi = None if lo is None else (lo.copy_negate() if lo < 0 else Decimal(0))
        ahi_inc = True if lo is None or lo >= 0 else not lo_excl
        p = _nonneg(alo, alo_inc, ahi, ahi_inc, frac_digits)
        if p:
            parts.append(f"-(?:{p})")
    if not parts:
        return None
    return "|".join(f"(?:{p})" for p in parts) if len(parts) > 1 else parts[0]


_INT = "(?:0|[1-9][0-9]*)"
_POS_MANT = "(?:0\\.0*[1-9][0-9]*|[1-9][0-9]*(?:\\.[0-9]+)?)"
_ZERO = f"0(?:\\.0+)?{EXP}?"


def _sign_only(lo, lo_excl, hi, hi_excl) -> str | None:
    any_num = f"-?{_INT}(?:\\.[0-9]+)?{EXP}?"
    if lo is None and hi is None:
        return any_num
    pos, neg = f"{_POS_MANT}{EXP}?", f"-{_POS_MANT}{EXP}?"
    zero_ok = not ((lo == 0 and lo_excl) or (hi == 0 and hi_excl))
    parts = []
    if hi is None:  # lo == 0
        parts.append(pos)
    else:  # hi == 0
        parts.append(neg)
    if zero_ok:
        parts.append(f"-?{_ZERO}")
    return "|".join(f"(?:{p})" for p in parts)


def literal_regex(v) -> str:
    """Every JSON spelling (without exponent, plus Python's repr) of the number ``v``."""
    import json

    d = Decimal(str(v)) if not isinstance(v, Decimal) else v
    alts = set()
    neg = d < 0
    ip, fp = _split(d.copy_abs())  # exact: abs() rounds to the context's 28 digits
    sign = "-" if neg else ""
    if fp:
        alts.add(f"{sign}{ip}\\.{fp}0*")
    else:
        alts.add(f"{sign}{ip}(?:\\.0+)?")
        if ip == 0:
            alts.add(f"-0(?:\\.0+)?")
    try:
        f = float(v)
        rep = json.dumps(f)
        if ("e" in rep or "E" in rep) and Decimal(rep) == d:  # a spelling of this very number
            alts.add(rep.replace(".", "\\.").replace("+", "\\+"))
    except (TypeError, ValueError, OverflowError):  # no float spells it (past 1.8e308)
        pass
    return "|".join(sorted(alts))
