"""The shipped grammars, checked with lark itself (fast; token-level checks live elsewhere).

- every grammar builds as LALR(1) with lark's ``strict=True`` (no shift/reduce or
  reduce/reduce conflicts, no regex collisions lark can detect);
- every terminal converts to an interegular FSM, and for each terminal the first
  match of Python's ``re`` (what lark's lexer does) is the longest match;
- samples of the real corpora parse, and invalid programs are rejected;
- the parser wrappers of :mod:`constrain.parsing.indenter` agree with their lark twins.
"""
from __future__ import annotations

import itertools
import random
import re
import sys
from functools import lru_cache
from pathlib import Path

import interegular
import lark
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import corpora  # noqa: E402
from constrain.parsing.indenter import (  # noqa: E402
    GoPostLex, Indenter, PythonPostLex, SemicolonInserter, indentation_of,
)

GRAMMARS = ("json", "python", "java", "go", "sql")
POSTLEX = {"python": PythonPostLex, "go": GoPostLex}


def grammar_text(name: str) -> str:
    return (ROOT / "grammars" / f"{name}.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def parser(name: str) -> lark.Lark:
    post = POSTLEX.get(name)
    return lark.Lark(grammar_text(name), parser="lalr", lexer="contextual", start="start", strict=True,
                     postlex=post() if post else None)


def accepts(name: str, text: str) -> bool:
    try:
        parser(name).parse(text)
        return True
    except lark.exceptions.LarkError:
        return False


def have_shared() -> bool:
    return (corpora.shared_dir() / "data" / "code" / "HumanEval.jsonl.gz").exists()


needs_shared = pytest.mark.skipif(not have_shared(), reason="../shared data not available")


# ------------------------------------------------------------------ build / terminals

@pytest.mark.parametrize("name", GRAMMARS)
def test_builds_strict_lalr(name):
    """``strict=True``: lark raises on any shift/reduce conflict (it would otherwise shift silently)."""
    assert parser(name).terminals


@pytest.mark.parametrize("name", GRAMMARS)
def test_no_priorities_and_no_zero_width(name):
    for t in parser(name).terminals:
        assert t.priority == 0, f"{name}: terminal {t.name} has priority {t.priority}"
        assert t.pattern.min_width > 0, f"{name}: terminal {t.name} can match the empty string"


def _fsm(rx: str):
    return interegular.parse_pattern(rx).to_fsm()


def _longest(fsm, text: str) -> int:
    """Length of the longest prefix of ``text`` in the FSM's language (-1 if none)."""
    state, best = fsm.initial, (0 if fsm.initial in fsm.finals else -1)
    anything_else = interegular.fsm.anything_else
    for i, ch in enumerate(text):
        sym = fsm.alphabet[ch] if ch in fsm.alphabet else fsm.alphabet[anything_else]
        state = fsm.map.get(state, {}).get(sym)
        if state is None:
            break
        if state in fsm.finals:
            best = i + 1
    return best


@lru_cache(maxsize=None)
def terminal_fsms(name: str):
    out = {}
    for t in parser(name).terminals:
        rx = t.pattern.to_regexp()
        out[t.name] = (rx, t.pattern.flags, _fsm(rx))
    return out


@pytest.mark.parametrize("name", GRAMMARS)
def test_terminals_convert_with_interegular(name):
    fsms = terminal_fsms(name)
    assert fsms
    for tname, (rx, flags, fsm) in fsms.items():
        assert fsm.finals, f"{name}: {tname} has an empty language"


# probe strings around each grammar's tricky lexemes; each is tried with every suffix
PROBES = {
    "json": ['"a\\"b"', '"\\u00e9x"', "-0.5e+10", "0", "01", "1.", "-", "1e5", "[1,2]", '"é"', "1.5E-3x"],
    "python": ["1_000.5e-3j", "0x_ff", "0b101", "0o17", ".5", "1.", "1.e5", "1e", "1if", "5j",
               "'''a'''' ", '"""a""b"""', '""', "''", 'rb"\\x00"', 'f"{x!r:>{w}}"', "Rb'a'", "br'\\''",
               "'''x\\'''y'''", '"a\\\nb"', "\n  # c\n    x", "\n\n\t", "name_1é", "**=", "->", "...", "//=",
               ":=", "!=", "<<=", ">>=", "#!x", "\\\n"],
    "java": ["0x1F", "0xFFL", "0b1010", "1_000", "1.5f", "1e9", "10L", ".5", "1.", "1.e3d", "07",
             "'a'", "'\\n'", "'\\u0041'", '"s\\"t"', '"""\n  text\n"""', '""', "/* c */", "/** doc */",
             "// c", ">>=", ">>>=", "->", "::", "...", "&&", "+="],
    "go": ["0x1F", "0b101", "0o17", "1_000", "1.5e-3", ".5", "2i", "1.i", "'a'", "'\\n'", "'\\x41'",
           "'\\u1234'", '"s\\"t"', "`raw\nx`", "/* c */", "/* a\n b */", "/* a *\n*/", "// c", "&^=", "<-",
           ":=", "...", "++", "\n", "\r\n"],
    "sql": ["'it''s'", '"a""b"', "`x`", "[x y]", "1.5e3", ".5", "1.", "-- c", "/* c */", "<>", ">=", "||",
            "select", "SELECTED", "x$1"],
}
SUFFIXES = ["", " ", "x", "1", ".", "'", '"', "\n", "e", "=", ")", "/", "*"]


@pytest.mark.parametrize("name", GRAMMARS)
def test_first_match_is_longest_match(name):
    """lark lexes with ``re.match`` over each terminal's regex: its first match must be
    the longest match (what the engine's DFAs compute), or the two would cut differently."""
    fsms = terminal_fsms(name)
    rng = random.Random(0)
    probes = list(PROBES[name])
    probes += ["".join(rng.choice(p) for _ in range(rng.randint(1, 8))) for p in PROBES[name] for _ in range(3)]
    checked = 0
    for probe, suffix in itertools.product(probes, SUFFIXES):
        text = probe + suffix
        for tname, (rx, flags, fsm) in fsms.items():
            reflags = re.I if "i" in flags else 0
            m = re.compile(rx, reflags).match(text)
            if "i" in flags:
                continue  # interegular has no flags; case-insensitive terminals are checked below
            longest = _longest(fsm, text)
            got = m.end() if m else -1
            if got == 0 and longest == -1:
                got = -1
            assert got == longest, f"{name}: {tname} on {text!r}: re takes {got}, longest match is {longest}"
            checked += 1
    assert checked > 100


def _lark_order(t):
    """lark's lexer tries terminals in this order (lark.lexer.BasicLexer)."""
    return (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name)


@pytest.mark.slow
@pytest.mark.parametrize("name", GRAMMARS)
def test_lark_alternation_order_agrees_with_longest_match(name):
    """In every LR state, for candidate terminals A tried before B by lark, no B-lexeme
    may have a proper prefix in L(A) -- else lark cuts A where longest match takes B.
    Pairs where the regex A matches the string B whole are lark's "unless" (keywords)."""
    lk = parser(name)
    terms = {t.name: t for t in lk.terminals}
    fsms = {n: f for n, (_, _, f) in terminal_fsms(name).items()}
    extra = set(lk.ignore_tokens) | set(getattr(lk.options.postlex, "always_accept", ()) or ())
    pairs = set()
    for acts in lk.parser.parser.parser.parse_table.states.values():
        cands = sorted((terms[n] for n in set(acts) | extra if n in terms), key=_lark_order)
        pairs.update((a.name, b.name) for i, a in enumerate(cands) for b in cands[i + 1:])
    anyplus = _fsm(r"[\s\S]+")
    issues = []
    for an, bn in sorted(pairs):
        a, b = terms[an], terms[bn]
        if b.pattern.type == "str" and a.pattern.type == "re":
            if re.fullmatch(a.pattern.to_regexp(), b.pattern.value, re.I if "i" in a.pattern.flags else 0):
                continue
        if not fsms[an].concatenate(anyplus).intersection(fsms[bn]).empty():
            issues.append((an, bn))
    assert len(pairs) > 20
    assert not issues


def test_sql_keywords_are_defined_before_ident():
    """On a keyword/identifier tie the engine prefers the earlier terminal; lark's
    "unless" rule prefers the keyword. Keywords therefore come first."""
    names = [t.name for t in parser("sql").terminals]
    ident = names.index("IDENT")
    for t in parser("sql").terminals:
        if t.pattern.type == "str":
            v = t.pattern.value
            if re.fullmatch(r"[a-z_][a-z0-9_$]*", v, re.I):
                assert names.index(t.name) < ident, t.name


# ------------------------------------------------------------------ corpora

def _sample(items, k, seed=0):
    items = list(items)
    if len(items) <= k:
        return items
    return random.Random(seed).sample(items, k)


@needs_shared
def test_python_humaneval_mbpp_sample():
    bad = [n for n, t in _sample(corpora.humaneval(), 40) if not accepts("python", t)]
    assert not bad
    # MBPP/64 and MBPP/966 are not valid Python (CPython rejects them too)
    mbpp = [(n, t) for n, t in corpora.mbpp() if n not in ("MBPP/64", "MBPP/966")]
    bad = [n for n, t in _sample(mbpp, 60) if not accepts("python", t)]
    assert not bad


@needs_shared
def test_mbpp_invalid_files_rejected():
    d = dict(corpora.mbpp())
    assert not accepts("python", d["MBPP/64"])
    assert not accepts("python", d["MBPP/966"])


def test_python_stdlib_sample():
    files = [x for x in corpora.stdlib(200) if len(x[1]) < 12000]
    assert len(files) >= 40
    bad = [n for n, t in _sample(files, 12) if not accepts("python", t)]
    assert not bad


@needs_shared
def test_java_mbxp_sample():
    bad = [n for n, t in _sample(corpora.mbxp_java(), 40) if not accepts("java", t)]
    assert not bad


@needs_shared
def test_go_mbxp_sample():
    bad = [n for n, t in _sample(corpora.mbxp_go(), 40) if not accepts("go", t)]
    assert not bad


@needs_shared
def test_json_maskbench_sample():
    for ea in (False, True):
        items = _sample(corpora.maskbench_json_instances(ensure_ascii=ea), 150)
        bad = [n for n, t in items if not accepts("json", t)]
        assert not bad


# ------------------------------------------------------------------ handwritten programs

PY_VALID = [
    "",
    "# only a comment",
    "x = 1",  # no final newline
    "x = 1  # trailing comment",
    "if x:\n    pass\n# comment at the end without newline",
    "def f(a, /, b: int = 2, *args, c, d=4, **kw) -> 'T':\n    return a\n",
    "@dec\n@dec2(1)\nclass A(B, metaclass=M):\n    x: int = 5\n    def m(self): ...\n",
    "async def f():\n    async with a as b, c:\n        await g()\n    async for x in y:\n        pass\n"
    "    return [i async for i in z]\n",
    "if (n := len(a)) > 10:\n    print(f'{n!r:>{w}} items', rb'\\x00', Rb\"x\")\n",
    "x = [y for y in range(10) if y % 2 if y > 3]\nd = {k: v for k, v in d.items()}\ns = {*a, *b}\nm = {**a, 'b': 1}\n",
    "lam = lambda x, *a, k=1, **kw: (x, a, k, kw)\n",
    "a, *b = c\nx = y = z = 0\nx += 1; y -= 2;\n",
    "x = 1 if a else 2 if b else 3\nassert not a in b and a is not c, 'msg'\n",
    "s = '''multi\nline''' \"implicit\" 'concat'\nn = 1_000.5e-3j + 0x_ff + 0o17 + 0b1 + .5 + 1.\n",
    "total = 1 + \\\n    2\n",
    "def g():\n    yield from range(3)\n    x = yield\n    global q\n",
    "try:\n    pass\nexcept* ValueError as e:\n    raise RuntimeError from e\nelse:\n    pass\nfinally:\n    del x[0], y.z\n",
    "match command.split():\n    case [action]:\n        pass\n    case [\"go\", direction] | [\"move\", direction]:\n"
    "        pass\n    case Point(x=0, y=0) as p if p:\n        pass\n    case {\"k\": v, **rest}:\n        pass\n"
    "    case -1 | 1.5 | 2+3j | None | True | 'a' 'b':\n        pass\n    case _:\n        pass\n",
    "match (a, b):\n    case (1, *rest):\n        pass\n",
    "match = re.match(p, s)\ncase = 1\nprint(match, case)\n",
    "x[1:2, ::3, ...] = y[a:b:c]\n",
    "for i in range(3):\n\tif i:\n\t\tcontinue\n\telse:\n\t\tbreak\nelse:\n    pass\n",
    "with open(f) as fh, lock:\n    data = fh.read()\n",
    "with (\n    open(a) as f,\n    open(b) as g,\n):\n    pass\nwith (a, b):\n    pass\n",
    "while True:\n    nonlocal_ = 1\n    break\n",
    "class A:\n    pass\n\n\n\nclass B:\n\n    x = 1\n\n    # comment\n        # odd comment\n    y = 2\n",
    "print(*args, sep='', **kw)\nf(x for x in y)\nf(a)(b)[c].d\n",
]

PY_INVALID = [
    "x = (1\n",
    "if x:\npass\n",
    "def f(:\n    pass\n",
    "x = 1 +\n",
    "if x:\n        a = 1\n    b = 2\n",  # dedent to an unknown level
    "x = )\n",
    "class A\n    pass\n",
    "x = 'unterminated\n",
    "return 1 2\n",
    "for x in y\n    pass\n",
    "x = 1 = \n",
    "lambda: x y\n",
    "f(**)\n",
]


@pytest.mark.parametrize("i", range(len(PY_VALID)))
def test_python_valid(i):
    assert accepts("python", PY_VALID[i]), PY_VALID[i]


@pytest.mark.parametrize("i", range(len(PY_INVALID)))
def test_python_invalid(i):
    assert not accepts("python", PY_INVALID[i]), PY_INVALID[i]


JSON_VALID = ['{"a": [1, -2.5e+3, true, false, null, {"b": "\\u00e9\\n"}]}', "[]", "{}", '"x"', "0",
              ' \t\n\r[ 1 , 2 ] ', '"\u00e9\U0001F600"', "-0", "1E400", '{"": ""}', '[[[[]]]]']
JSON_INVALID = ['{"a":1,}', "[1,]", "'a'", "01", "1.", ".5", "NaN", '"\\x"', '"a\nb"', "{a:1}", "{} {}", "+1",
                "1e", '"\\u12"', "[1 2]", "", "True", '{"a" 1}', "-", '"abc', '["\t"]', "[1,,2]", "{,}"]


@pytest.mark.parametrize("text", JSON_VALID)
def test_json_valid(text):
    assert accepts("json", text)


@pytest.mark.parametrize("text", JSON_INVALID)
def test_json_invalid(text):
    assert not accepts("json", text)


JAVA_VALID = [
    "class A {}",
    """package p.q;
import java.util.*;
import static java.lang.Math.max;
public final class A<T extends Comparable<T>> extends B implements C, D<String> {
    private static final int N = 0x1F, M = 1_000;
    @Override
    public <K> Map<K, List<Map<String, Integer>>> f(int[] a, String... rest) throws Exception {
        int[][] dp = new int[3][4];
        List<Integer> l = new ArrayList<>();
        Map.Entry<String, Integer> e = null;
        var x = (int) 3.5f + (double) a.length / 2;
        String s = (String) obj;
        long y = a[0] >> 2 >>> 1 << 3;
        y >>= 1; y >>>= 2;
        boolean b = x > 1 && x < 2 || !(obj instanceof String str);
        Comparator<int[]> cmp = (p, q) -> p[0] - q[0];
        Function<Integer, Integer> g = v -> { return v + 1; };
        BiFunction<Integer, Integer, Integer> h = (Integer u, Integer w) -> u * w;
        l.sort(Integer::compare);
        Supplier<List<String>> sup = ArrayList::new;
        for (int i = 0, j = 10; i < j; i++, j--) { if (i == 2) continue; else break; }
        for (Map.Entry<K, V> en : m.entrySet()) System.out.println(en.getKey());
        outer:
        while (true) { do { x++; } while (x < 10); break outer; }
        switch (x) { case 1: case 2: x = 3; break; default: x = 4; }
        switch (s) { case "a", "b" -> x = 1; default -> { x = 2; } }
        try (BufferedReader r = new BufferedReader(new FileReader("f"))) { r.readLine(); }
        catch (IOException | RuntimeException ex) { throw new RuntimeException(ex); }
        finally { x = 0; }
        char c = '\\n'; String t = "a\\"b" + 'c' + \"\"\"
            text block
            \"\"\";
        int[] arr = {1, 2, 3};
        Object o = new Object() { public String toString() { return "x"; } };
        Class<?> k = String.class;
        x = b ? 1 : 2;
        assert x > 0 : "positive";
        synchronized (this) { this.x = super.hashCode(); }
        return null;
    }
    A() { this(1); }
    A(int n) { super(); }
    static { System.out.println(); }
    enum Color { RED, GREEN("g") { }, BLUE; Color() {} Color(String s) {} }
    interface I { void m(); default int n() { return 1; } }
}
""",
]
JAVA_INVALID = [
    "class A { void f() { int x = ; } }",
    "class A { void f() { x = 1 } }",
    "class A { void f() { if (x) else y; } }",
    "class A { void f( { } }",
    "class A { int x = 1 +; }",
    "class { }",
    "class A { void f() { return 1 2; } }",
    "class A { void f() { String s = \"unterminated; } }",
]


@pytest.mark.parametrize("i", range(len(JAVA_VALID)))
def test_java_valid(i):
    assert accepts("java", JAVA_VALID[i])


@pytest.mark.parametrize("i", range(len(JAVA_INVALID)))
def test_java_invalid(i):
    assert not accepts("java", JAVA_INVALID[i]), JAVA_INVALID[i]


def test_java_generic_casts_and_lambda_params():
    src = ("class A { void f() { List<Object> l = (List<Object>) o; Map<K, List<V>> m = (Map<K, List<V>>) o;"
           " boolean b = (a < b) && (c < d.e()); b = i < n; x = (T[]) o; x = (a) < b;"
           " l.sort((List<Object> p, List<Object> q) -> 0); } }")
    assert accepts("java", src)


def test_java_bare_name_less_than_shift_documented_unsupported():
    assert not accepts("java", "class A { void f() { b = i < n >> 1; } }")
    assert accepts("java", "class A { void f() { b = i < (n >> 1); b = i + 0 < n >> 1; } }")


GO_VALID = [
    """package main

import "fmt"

func main() {
\tfmt.Println("hello")
}
""",
    """package main

import (
\t"fmt"
\tm "math"
\t_ "os"
)

const Pi = 3.14
const (
\tA = iota
\tB
\tC int = 5
)

var (
\tz  = []int{1, 2, 3}
\tmm = map[string][]int{"a": {1}, "b": {2, 3}}
\tch = make(chan int, 10)
\tro <-chan int
\tso chan<- int
\tfn func(int) (int, error)
)

type Point struct {
\tX, Y float64 `json:"x"`
\t*Embedded
\tfmt.Stringer
}

type Shape interface {
\tArea() float64
}

type Number interface {
\t~int | ~int64 | float64
}

func (p *Point) Area() float64 { return p.X * p.Y }

func Map[T, U any](xs []T, f func(T) U) []U {
\tout := make([]U, 0, len(xs))
\tfor _, x := range xs {
\t\tout = append(out, f(x))
\t}
\treturn out
}

func main() {
\tp := &Point{X: 1, Y: 2}
\ts := []int{5, 3, 1}
\ts = append(s, s[1:2]...)
\tvar iface interface{} = 3
\tswitch v := iface.(type) {
\tcase int, int64:
\t\tfmt.Println("int", v)
\tcase []int:
\t\tfallthrough
\tdefault:
\t}
\tif n, ok := iface.(int); ok {
\t\tfmt.Println(n)
\t} else if n > 3 {
\t} else {
\t}
\tfor {
\t\tbreak
\t}
\tgo func() {
\t\tch <- 1
\t}()
\tdefer fmt.Println("done")
\tselect {
\tcase v := <-ch:
\t\t_ = v
\tdefault:
\t}
\tx := <-ch
\tx++
\tx &^= 1
\tb := []byte("abc")
\tr := 'a' + '\\n'
\traw := `raw
string`
\tf := 1.5e-3 + .5 + 0x1F + 0b101 + 0o17 + 1_000_000 + 2i
\tif (Point{X: 1}) == *p {
\t}
\tarr := [...]string{"a", "b"}
\t/* block
\t   comment */
\t_, _, _, _, _ = b, r, raw, f, arr
outer:
\tfor i := 0; i < 3; i++ {
\t\tcontinue outer
\t}
}
""",
    "package main\nfunc f() int { return 1 }",
    """package main

type Stack[T any] struct {
\titems []T
}

type Pair[K comparable, V any] struct {
\tKey K
\tVal V
}

type Arr [N * 2]int

func (s *Stack[T]) Pop() (T, bool) {
\tvar zero T
\treturn zero, false
}

func Sum[T ~int | ~float64](xs []T) (total T) {
\tfor _, x := range xs {
\t\ttotal += x
\t}
\treturn
}

func main() {
\ts := &Stack[int]{}
\tp := Pair[string, int]{Key: "a", Val: 1}
\tvar m map[string]Stack[int]
\tps := []Pair[string, int]{{"a", 1}}
\t_, _, _, _ = s, p, m, ps
\t_ = Sum[int]([]int{1, 2})
}
""",
    "package main; func f() { a := 1; _ = a }",
]
GO_INVALID = [
    "package main\nfunc f() {\n\tx := 1\n\ty := 2 +\n}\n",
    "package main\nfunc f() {\n\tif x := 1 {\n\t}\n",
    "package main\nfunc f()\n{\n}\n",  # `)` at line end gets a semicolon
    "package main\nfunc f() {\n\ta := []int{\n\t\t1,\n\t\t2\n\t}\n}\n",  # missing trailing comma
    "package main\nfunc f() {\n\tx := 1 y := 2\n}\n",
    "func f() {}\n",
    'package main\nfunc main() {\n\tfmt.Println("unterminated)\n}\n',
    "package main\nfunc f() {\n\tif x == T{} {\n\t}\n}\n",  # composite literal of a type name in a header
]


@pytest.mark.parametrize("i", range(len(GO_VALID)))
def test_go_valid(i):
    assert accepts("go", GO_VALID[i])


@pytest.mark.parametrize("i", range(len(GO_INVALID)))
def test_go_invalid(i):
    assert not accepts("go", GO_INVALID[i]), GO_INVALID[i]


SQL_VALID = [q for _, q in corpora.sql_queries()]
SQL_INVALID = [
    "SELECT",
    "SELECT * FROM",
    "SELECT * FROM t WHERE",
    "SELECT * FROM t GROUP a",
    "INSERT INTO t VALUES",
    "UPDATE t WHERE x = 1",
    "DELETE t",
    "SELECT 'unterminated FROM t",
    "SELECT * FROM t ORDER BY",
    "CREATE TABLE t ()",
    "SELECT * FROM t LIMIT",
    "SELECT a b c FROM t",
    "SELECT * FROM t WHERE a BETWEEN 1",
    "SELECT * FROM t WHERE a = 1 1",
    "CREATE INDEX ON t (a)",
    "ALTER TABLE t ADD",
    "SELECT EXTRACT(YEAR order_date) FROM t",
    "DELETE FROM t RETURNING",
]


@pytest.mark.parametrize("text", SQL_VALID)
def test_sql_valid(text):
    assert accepts("sql", text)


@pytest.mark.parametrize("text", SQL_INVALID)
def test_sql_invalid(text):
    assert not accepts("sql", text)


# ------------------------------------------------------------------ parser wrappers

class RecordingParser:
    """A fake inner parser: the state is the tuple of terminal names fed so far."""

    def __init__(self, names, reject=()):
        self.names = names
        self.reject = set(reject)
        self.value_terminals = frozenset()

    def start(self):
        return ()

    def candidates(self, state):
        return frozenset(range(len(self.names)))

    def feed(self, state, terms, lexeme):
        name = self.names[terms[0]]
        if name in self.reject:
            return None
        return state + (name,)

    def accepts_end(self, state):
        self.last_end = state
        return True


PY_NAMES = ["NAME", "_NEWLINE", "_INDENT", "_DEDENT", "LPAR", "RPAR", "LSQB", "RSQB", "LBRACE", "RBRACE", "COLON"]


def _run(wrapper, toks):
    idx = {n: i for i, n in enumerate(wrapper_names(wrapper))}
    st = wrapper.start()
    for name, lexeme in toks:
        st = wrapper.feed(st, [idx[name]], lexeme.encode())
        if st is None:
            return None
    return st


def wrapper_names(wrapper):
    return wrapper.inner.names


def test_indentation_of():
    assert indentation_of(b"\n    ") == 4
    assert indentation_of(b"\n\t  ") == 10
    assert indentation_of(b"\n  \n\n  # c\n   ") == 3
    assert indentation_of(b"\n  # comment at the end") is None
    assert indentation_of("\n") == 0


def test_indenter_indent_dedent_sequence():
    ind = Indenter(RecordingParser(PY_NAMES), PY_NAMES)
    toks = [("NAME", "if"), ("COLON", ":"), ("_NEWLINE", "\n    "), ("NAME", "a"), ("_NEWLINE", "\n        "),
            ("NAME", "b"), ("_NEWLINE", "\n")]
    st = _run(ind, toks)
    assert st[0] == ("NAME", "COLON", "_NEWLINE", "_INDENT", "NAME", "_NEWLINE", "_INDENT", "NAME",
                     "_NEWLINE", "_DEDENT", "_DEDENT")
    assert st[1] == (0,) and st[2] == 0
    assert ind.accepts_end(st)
    assert ind.inner.last_end == st[0]


def test_indenter_parens_and_end():
    ind = Indenter(RecordingParser(PY_NAMES), PY_NAMES)
    toks = [("NAME", "f"), ("LPAR", "("), ("_NEWLINE", "\n  "), ("NAME", "x"), ("_NEWLINE", "\n"),
            ("RPAR", ")")]
    st = _run(ind, toks)
    assert st[0] == ("NAME", "LPAR", "NAME", "RPAR")  # newlines inside brackets are dropped
    assert ind.accepts_end(st)
    assert ind.inner.last_end == ("NAME", "LPAR", "NAME", "RPAR", "_NEWLINE")  # final newline supplied
    # an unclosed bracket cannot end; a stray closer is an error
    st2 = _run(ind, [("NAME", "f"), ("LPAR", "(")])
    assert not ind.accepts_end(st2)
    assert _run(ind, [("RPAR", ")")]) is None


def test_indenter_end_closes_blocks_and_rejects_bad_dedent():
    ind = Indenter(RecordingParser(PY_NAMES), PY_NAMES)
    st = _run(ind, [("NAME", "a"), ("COLON", ":"), ("_NEWLINE", "\n    "), ("NAME", "b"),
                    ("_NEWLINE", "\n        "), ("NAME", "c")])
    assert ind.accepts_end(st)
    assert ind.inner.last_end[-3:] == ("_NEWLINE", "_DEDENT", "_DEDENT")
    assert _run(ind, [("NAME", "a"), ("_NEWLINE", "\n    "), ("NAME", "b"), ("_NEWLINE", "\n  ")]) is None
    # a comment as the last line (end of input) changes no indentation
    st = _run(ind, [("NAME", "a"), ("_NEWLINE", "\n    "), ("NAME", "b"), ("_NEWLINE", "\n  # c")])
    assert st is not None and st[1] == (0, 4)


def test_indenter_states_interned_and_candidates():
    ind = Indenter(RecordingParser(PY_NAMES), PY_NAMES)
    a = _run(ind, [("NAME", "x"), ("_NEWLINE", "\n")])
    b = _run(ind, [("NAME", "x"), ("_NEWLINE", "\n")])
    assert a is b
    idx = {n: i for i, n in enumerate(PY_NAMES)}
    c = ind.candidates(a)
    assert idx["_NEWLINE"] in c and idx["_INDENT"] not in c and idx["_DEDENT"] not in c
    assert ind.value_terminals == frozenset({idx["_NEWLINE"]})
    assert ind.feed(a, [idx["NAME"]], b"y") is not None
    rej = Indenter(RecordingParser(PY_NAMES, reject={"_INDENT"}), PY_NAMES)
    assert _run(rej, [("NAME", "x"), ("_NEWLINE", "\n  ")]) is None


@lru_cache(maxsize=None)
def raw_lexer(name: str) -> lark.Lark:
    return lark.Lark(grammar_text(name), parser="lalr", lexer="basic")


def _lark_tokens(lk, text):
    return [(t.type, str(t)) for t in lk.lex(text)]


@pytest.mark.parametrize("src", [PY_VALID[5], PY_VALID[6], PY_VALID[7], PY_VALID[17], PY_VALID[21], PY_VALID[24],
                                 "x = 1", "if a:\n  b\n# c"])
def test_indenter_matches_lark_postlex(src):
    """Feed the raw token stream (lark's basic lexer) through Indenter and PythonPostLex:
    same terminals, same acceptance at the end."""
    raw = raw_lexer("python")  # no postlex: raw _NEWLINE tokens
    toks = _lark_tokens(raw, src)
    names = sorted({t.name for t in raw.terminals} | {"_INDENT", "_DEDENT"})
    ind = Indenter(RecordingParser(names), names)
    idx = {n: i for i, n in enumerate(names)}
    st = ind.start()
    for name, lexeme in toks:
        st = ind.feed(st, [idx[name]], lexeme.encode())
        assert st is not None
    assert ind.accepts_end(st)
    ours = list(ind.inner.last_end)
    post = PythonPostLex()
    theirs = [t.type for t in post.process(iter(raw.lex(src)))]
    assert ours == theirs


GO_NAMES = ["IDENT", "NUMBER", "_NL", "SEMICOLON", "RBRACE", "LBRACE", "PLUS", "RETURN", "INC"]


def test_semicolon_inserter():
    ins = SemicolonInserter(RecordingParser(GO_NAMES), GO_NAMES)
    idx = {n: i for i, n in enumerate(GO_NAMES)}

    def run(toks):
        st = ins.start()
        for n in toks:
            st = ins.feed(st, [idx[n]], b"\n" if n == "_NL" else b"x")
        return st

    st = run(["IDENT", "PLUS", "_NL", "IDENT", "_NL", "_NL", "RETURN", "_NL", "LBRACE", "_NL", "RBRACE"])
    assert st[0] == ("IDENT", "PLUS", "IDENT", "_NL", "RETURN", "_NL", "LBRACE", "RBRACE")
    assert ins.accepts_end(st)
    assert ins.inner.last_end[-1] == "_NL"  # semicolon inserted at end of input after `}`
    st = run(["IDENT", "PLUS"])
    assert ins.accepts_end(st) and ins.inner.last_end[-1] == "PLUS"
    assert idx["_NL"] in ins.candidates(st)
    assert run(["IDENT", "_NL"]) is run(["IDENT", "_NL"])


@pytest.mark.parametrize("i", range(len(GO_VALID)))
def test_semicolon_inserter_matches_lark_postlex(i):
    src = GO_VALID[i]
    raw = raw_lexer("go")  # no postlex: raw _NL tokens
    names = sorted({t.name for t in raw.terminals})
    ins = SemicolonInserter(RecordingParser(names), names)
    idx = {n: k for k, n in enumerate(names)}
    st = ins.start()
    for t in raw.lex(src):
        st = ins.feed(st, [idx[t.type]], str(t).encode())
        assert st is not None
    assert ins.accepts_end(st)
    theirs = [t.type for t in GoPostLex().process(iter(raw.lex(src)))]
    assert list(ins.inner.last_end) == theirs


def test_go_newlines_become_semicolons_only_after_triggers():
    toks = [t.type for t in parser("go").lex(GO_VALID[0])]  # Lark.lex applies the post-lexer
    # after `main`, after `"fmt"`, after `)` and after the final `}`; blank lines and `{` drop theirs
    assert toks.count("_NL") == 4
