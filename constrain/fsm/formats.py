"""String ``format`` languages as anchored ECMA-262 patterns (decoded characters).

A format listed here is enforced (the JSON Schema compiler intersects it with
the string's other constraints). An unknown format is an annotation: any
string. The patterns are deliberately the syntactic RFC forms (RFC 3339
date/time/duration, RFC 5321-style dot-atom e-mail, RFC 1123 host names,
dotted-quad IPv4, RFC 4291 IPv6, RFC 3986-shaped URIs, RFC 4122 UUIDs, RFC 6570 URI
templates, JSON pointers and relative JSON pointers).
Dates are calendar-exact (month lengths, leap years).
"""
from __future__ import annotations

_D2 = r"\d{2}"
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01])"
_LEAP = r"(?:\d{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
# calendar-exact: 30-day months, February 28 days, 29 in leap years
_DATE = (r"(?:\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)"
         r"|02-(?:0[1-9]|1\d|2[0-8]))|" + _LEAP + r"-02-29)")
_HOUR = r"(?:[01]\d|2[0-3])"
_MIN = r"[0-5]\d"
_SEC = r"(?:[0-5]\d|60)"
_OFFSET = rf"(?:[Zz]|[+-]{_HOUR}:{_MIN})"
_TIME = rf"{_HOUR}:{_MIN}:{_SEC}(?:\.\d+)?{_OFFSET}"
_DUR_TIME = r"T(?:\d+H(?:\d+M(?:\d+S)?)?|\d+M(?:\d+S)?|\d+S)"
_DUR_DATE = r"(?:\d+Y(?:\d+M(?:\d+D)?)?|\d+M(?:\d+D)?|\d+D)"
_DURATION = rf"P(?:{_DUR_DATE}(?:{_DUR_TIME})?|{_DUR_TIME}|\d+W)"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOST = rf"{_LABEL}(?:\.{_LABEL})*"
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_EMAIL = rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_HOST}"
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "(?:" + "|".join([
    rf"(?:{_H16}:){{6}}{_LS32}",
    rf"::(?:{_H16}:){{5}}{_LS32}",
    rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
    rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
    rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
    rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
    rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
    rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
    rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
]) + ")"
_URI_CHAR = r"[^\s\"<>\\^`{|}\x00-\x1f\x7f]"
_URI = rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHAR}*"
# a relative reference's first segment has no ':' (else it would read as a scheme): RFC 3986 4.2
_URI_REL = _URI_CHAR[:-1] + r":/?#]*(?:[/?#]" + _URI_CHAR + "*)?"
_URI_REF = rf"(?:{_URI}|{_URI_REL})"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_JSON_POINTER = r"(?:/(?:[^~/]|~[01])*)*"
# RFC 6570 URI templates, as validators check them (the `uri-template` package behind jsonschema's
# checker): literal text is anything but braces; an expression is {[op]varspec,...} with an RFC
# operator (+ # . / ; ? &), varname = varchar *(["."] varchar) not starting with a pct-encoding, and
# an optional ":1".."999" prefix or "*" explode. Where the package and the RFC differ (reserved operators, "a..b", ":01", defaults) we take
# what both accept, so an accepted value is valid under either.
_PCT = r"%[0-9A-Fa-f]{2}"
_VARCHAR = rf"(?:[A-Za-z0-9_]|{_PCT})"
_VARSPEC = rf"[A-Za-z0-9_](?:\.?{_VARCHAR})*(?::[1-9]\d{{0,2}}|\*)?"
_URI_TEMPLATE = rf"(?:[^{{}}]|\{{[+#./;?&]?{_VARSPEC}(?:,{_VARSPEC})*\}})*"

FORMATS: dict[str, str] = {
    "date-time": f"^{_DATE}[Tt]{_TIME}$",
    "date": f"^{_DATE}$",
    "time": f"^{_TIME}$",
    "duration": f"^{_DURATION}$",
    "email": f"^{_EMAIL}$",
    "idn-email": r"^[^\s@]+@[^\s@]+$",
    "hostname": f"^{_HOST}$",
    "ipv4": f"^{_IPV4}$",
    "ipv6": f"^{_IPV6}$",
    "uri": f"^{_URI}$",
    "uri-reference": f"^{_URI_REF}$",
    "iri": r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s\"<>\\^`{|}\x00-\x1f]*$",
    "iri-reference": r"^[^\s\"<>\\^`{|}\x00-\x1f]*$",
    "uuid": f"^{_UUID}$",
    "json-pointer": f"^{_JSON_POINTER}$",
    "relative-json-pointer": rf"^(?:0|[1-9]\d*)(?:#|{_JSON_POINTER})$",
    "uri-template": f"^{_URI_TEMPLATE}$",
}


def _is_regex(s: str) -> bool:
    import re
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(s)
    except (re.error, RecursionError, OverflowError, ValueError):
        return False
    return True


#: formats no regular language describes: checked on the decoded string when it ends
#: ("regex": what Python's ``re`` compiles, as the ``jsonschema`` package checks it).
#: A prefix may be allowed that no completion turns into a valid value (e.g. ``"a)``).
CHECKED_FORMATS = {"regex": _is_regex}


def format_pattern(name: str) -> str | None:
    """The anchored ECMA pattern for a known format, or None (annotation only)."""
    return FORMATS.get(name)
