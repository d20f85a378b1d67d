"""Lark front end and matcher API: typed errors, lexing rules, stop tokens, rollback bounds."""
from __future__ import annotations

import numpy as np
import pytest

import constrain
from constrain import EmptyLanguageError, GrammarError, MatcherError, RegexError, TokenizerInfo

VOCAB = [b"let", b"le", b"t", b"ter", b" ", b"x", b"=", b"1", b";", b"letter", b"1.", b"5", b".", b"a", b"\n"]
STOP = len(VOCAB)
KW = r"""
start: stmt+
stmt: "let" NAME "=" NUMBER ";"
NAME: /[a-z]+/
NUMBER: /[0-9]+(\.[0-9]+)?/
%ignore /[ \n]+/
"""


@pytest.fixture(scope="module")
def tok():
    return TokenizerInfo.from_vocab(VOCAB + [None], eos_token_id=STOP)


@pytest.fixture(scope="module")
def kw(tok):
    return constrain.compile_lark(KW, tok, use_cache=False)


def ids(tok, m):
    return {tok.token_bytes[i] for i in m.allowed_token_ids().tolist() if i != STOP}


def test_contextual_lexing_matches_lark(tok, kw):
    """Only "let" is a candidate at the start (lark's contextual lexer), so "letter" = "let" + NAME "ter"."""
    import lark

    assert lark.Lark(KW, parser="lalr").parse("letter=1;")
    m = kw.matcher()
    assert ids(tok, m) >= {b"let", b"le", b" ", b"letter"} and b"x" not in ids(tok, m)
    assert m.advance(VOCAB.index(b"letter")) and m.advance(VOCAB.index(b"=")) and m.advance(VOCAB.index(b"1"))


KW2 = KW.replace('stmt: "let" NAME "=" NUMBER ";"', 'stmt: "let" NAME "=" NUMBER ";" | NAME "=" NUMBER ";"')


def test_keyword_beats_identifier_on_a_tie(tok):
    import lark

    g = constrain.compile_lark(KW2, tok, use_cache=False)
    ref = lark.Lark(KW2, parser="lalr")
    m = g.matcher()
    assert m.advance(VOCAB.index(b"let"))
    # "let" ties LET and NAME: the keyword wins, so "let=" is an error (as in lark) ...
    assert b"=" not in ids(tok, m) and b" " in ids(tok, m) and b"ter" in ids(tok, m)
    with pytest.raises(lark.exceptions.LarkError):
        ref.parse("let=1;")
    # ... while "letter" is a longer NAME
    assert m.advance(VOCAB.index(b"ter")) and b"=" in ids(tok, m)
    assert ref.parse("letter=1;")


def test_number_backup_and_multi_lexeme_tokens(tok, kw):
    m = kw.matcher()
    for piece in [b"let", b" ", b"x", b"=", b"1."]:
        assert m.advance(VOCAB.index(piece)), piece
    assert ids(tok, m) == {b"1", b"5"}  # "1." needs a digit
    assert not m.is_accepting()
    assert m.advance(VOCAB.index(b"5")) and m.advance(VOCAB.index(b";"))
    assert m.is_accepting()
    mask = tok.allocate_bitmask()
    m.fill_bitmask(mask)
    assert mask[STOP >> 5] >> (STOP & 31) & 1
    assert m.advance(STOP) and m.is_terminated()
    assert not m.advance(VOCAB.index(b"let"))
    assert m.advance(STOP)  # a finished sequence stays finished


def test_stop_only_when_complete(tok, kw):
    m = kw.matcher()
    assert not m.advance(STOP)
    assert m.num_tokens == 0


def test_rollback_bounds_and_bad_ids(tok, kw):
    m = kw.matcher()
    m.advance(VOCAB.index(b"let"))
    with pytest.raises(MatcherError):
        m.rollback(2)
    with pytest.raises(MatcherError):
        m.advance(10_000)
    with pytest.raises(MatcherError):
        m.advance(-1)
    with pytest.raises(MatcherError):
        m.fill_bitmask(np.zeros(1, dtype=np.int64))
    m.rollback(1)
    assert m.num_tokens == 0


def test_validate_tokens_has_no_side_effect(tok, kw):
    m = kw.matcher()
    seq = [VOCAB.index(p) for p in [b"let", b" ", b"x", b"=", b"1", b";", b"=", b"="]]
    assert m.validate_tokens(seq) == 6
    assert m.num_tokens == 0


@pytest.mark.parametrize("text, where", [
    ("start: foo\n", "foo"),  # undefined rule
    ("start: A\nA: \"a\"\nstart: B\n", None),  # duplicate rule
    ("start: \"a\" (\n", "line"),  # syntax error
    ("start: A\nA: /(?=a)a/\n", "A"),  # lookahead is not regular
    ("start: A\nA: /(a)\\1/\n", "A"),  # backreference
    ("start: a\na: \"x\" a\n", "start"),  # empty language
])
def test_grammar_errors_are_typed_and_located(tok, text, where):
    with pytest.raises(GrammarError) as e:
        constrain.compile_lark(text, tok, use_cache=False)
    if where:
        assert where in str(e.value)


def test_error_classes(tok):
    with pytest.raises(RegexError):
        constrain.compile_lark("start: A\nA: /(?=a)a/\n", tok, use_cache=False)
    with pytest.raises(EmptyLanguageError):
        constrain.compile_lark("start: a\na: \"x\" a\n", tok, use_cache=False)
    with pytest.raises(GrammarError):
        constrain.compile_lark(42, tok)
    with pytest.raises(GrammarError):
        constrain.compile_grammar("no_such_grammar", tok)
    with pytest.raises(GrammarError):
        constrain.compile_regex(r"(?<=a)b", tok)


def test_regex_and_choice(tok):
    m = constrain.compile_choice(["let", "letter", "x"], tok).matcher()
    assert ids(tok, m) == {b"let", b"le", b"letter", b"x"}
    assert m.advance(VOCAB.index(b"let")) and m.is_accepting()
    assert ids(tok, m) == {b"t", b"ter"}  # "lett" and "letter" are prefixes of "letter"
    m = constrain.compile_regex(r"[0-9]+(\.[0-9]+)?", tok).matcher()
    assert m.advance(VOCAB.index(b"1.")) and not m.is_accepting()


def test_disk_cache_roundtrip_and_corruption(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("CONSTRAIN_CACHE_DIR", str(tmp_path))
    from constrain.store.maskstore import WRITER, MaskStore

    g1 = constrain.compile_lark(KW, tok)
    masks1 = [g1.matcher().allowed_token_ids().tolist()]
    files = list(tmp_path.rglob("*.pkl"))
    assert files, "compiled grammar not cached"
    g2 = constrain.compile_lark(KW, tok)  # from cache
    assert [g2.matcher().allowed_token_ids().tolist()] == masks1
    for f in files:
        f.write_bytes(b"garbage")
    g3 = constrain.compile_lark(KW, tok)  # corrupt: rebuilt, not trusted
    assert [g3.matcher().allowed_token_ids().tolist()] == masks1
    # mask-store entries: written once, read back, and a corrupt file is detected and rebuilt
    dfa = g1.lexer.dfas[0]
    fresh = MaskStore(tok)
    e0 = fresh.get(dfa, 0)
    assert fresh.hits["computed"] == 1
    again = MaskStore(tok)
    e1 = again.get(dfa, 0)
    assert again.hits["disk"] == 1 and (e1.alive == e0.alive).all()
    assert WRITER.flush(10.0)  # files are written on a background thread
    entries = list(tmp_path.rglob("masks/*/*/*.bin"))
    assert entries
    for f in entries:
        f.write_bytes(f.read_bytes()[:-7] + b"1234567")
    store = MaskStore(tok)
    e2 = store.get(dfa, 0)
    assert store.hits["corrupt"] == 1 and store.hits["computed"] == 1
    assert (e2.alive == e0.alive).all() and (e2.acc_ids == e0.acc_ids).all()


def test_backup_over_a_terminal_the_parser_cannot_take():
    """LALR merges n's lookaheads, so ">>=" is a lexer candidate after "(x" although only ">" fits.
    "(x>>" must stay allowed: lark lexes ">" ">" once ")" kills ">>=" (backup)."""
    import lark

    vocab = [b"(", b"x", b">", b">>", b">>=", b")", b"[", b"]", b"=", b">)"]
    tok = TokenizerInfo.from_vocab(vocab + [None], eos_token_id=len(vocab))
    grammar = 'start: "(" n ">" ">" ")" | "[" n ">>=" "]"\nn: "x"'
    g = constrain.compile_lark(grammar, tok, use_cache=False)
    ref = lark.Lark(grammar, parser="lalr")
    assert ref.parse("(x>>)") and ref.parse("[x>>=]")
    m = g.matcher()
    assert m.advance(0) and m.advance(1)
    assert {vocab[i] for i in m.allowed_token_ids()} == {b">", b">>"}
    assert m.advance(3)
    assert {vocab[i] for i in m.allowed_token_ids()} == {b")"}
    assert m.advance(5) and m.is_accepting()
    m = g.matcher()
    assert m.advance(6) and m.advance(1)
    assert {vocab[i] for i in m.allowed_token_ids()} == {b">", b">>", b">>="}


def test_common_escaped_string_is_supported():
    """lark's common.ESCAPED_STRING uses a lookbehind; it is replaced by an equivalent regular form."""
    import re

    import lark

    from constrain.frontends.lark_frontend import _REGULAR_EQUIVALENTS

    text = 'start: ESCAPED_STRING\n%import common.ESCAPED_STRING'
    orig = lark.Lark(text, parser="lalr").terminals[0].pattern.to_regexp()
    new = re.compile(_REGULAR_EQUIVALENTS[orig])
    for s in ['"a"b"', '"a\\"b"', '"\\\\"x"', '"é"', '"a\nb"', '"\\']:
        m = re.match(orig, s)
        longest = max((k for k in range(len(s) + 1) if new.fullmatch(s[:k])), default=None)
        assert (m.end() if m else None) == longest, s
    tok = TokenizerInfo.from_vocab([b'"', b"a", b"\\", b'\\"', None], eos_token_id=4)
    m = constrain.compile_lark(text, tok, use_cache=False).matcher()
    assert m.advance(0) and m.advance(3) and m.advance(1) and m.advance(0) and m.is_accepting()
