"""Corpus loaders for grammar tests and benchmarks.

Every loader returns a list of ``(name, text)`` pairs, in a deterministic order.
The data lives in the shared read-only folder (``../shared`` next to the repo,
or ``$CONSTRAIN_SHARED``); the CPython stdlib files come from the running
interpreter's ``lib/python3.X`` (or ``$CONSTRAIN_STDLIB``).
"""
from __future__ import annotations

import gzip
import json
import os
import sysconfig
from functools import lru_cache
from pathlib import Path

__all__ = [
    "shared_dir", "humaneval", "mbpp", "stdlib", "mbxp_java", "mbxp_go",
    "maskbench_json_instances", "sql_queries",
]

#: subpackages of the stdlib scanned after the top-level modules (test code skipped)
STDLIB_SUBPACKAGES = (
    "json", "collections", "concurrent", "email", "html", "http", "importlib",
    "logging", "urllib", "wsgiref", "xmlrpc", "zoneinfo", "tomllib", "sqlite3",
    "asyncio", "xml", "unittest", "re", "multiprocessing", "ctypes", "dbm",
    "curses", "encodings",
)

#: body used for the MBXP Go prompts, which ship without canonical solutions
GO_STUB_BODY = '\tpanic("not implemented")\n}\n'


def shared_dir() -> Path:
    """The shared data folder: ``$CONSTRAIN_SHARED`` or ``<repo>/../shared``."""
    env = os.environ.get("CONSTRAIN_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared"


@lru_cache(maxsize=None)
def _jsonl(relpath: str) -> tuple[dict, ...]:
    path = shared_dir() / relpath
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return tuple(json.loads(line) for line in fh if line.strip())


def _ensure_nl(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


def humaneval() -> list[tuple[str, str]]:
    """HumanEval: prompt + canonical_solution (a complete Python module)."""
    return [(r["task_id"], _ensure_nl(r["prompt"] + r["canonical_solution"]))
            for r in _jsonl("data/code/HumanEval.jsonl.gz")]


def mbpp() -> list[tuple[str, str]]:
    """MBPP (mxeval packaging): prompt (signature + docstring) + canonical_solution."""
    return [(r["task_id"], _ensure_nl(r["prompt"] + r["canonical_solution"]))
            for r in _jsonl("data/code/mbpp_release_v1.jsonl.gz")]


def stdlib_dir() -> Path:
    env = os.environ.get("CONSTRAIN_STDLIB")
    return Path(env) if env else Path(sysconfig.get_paths()["stdlib"])


def stdlib(n: int = 200) -> list[tuple[str, str]]:
    """The first ``n`` CPython stdlib modules: sorted top-level ``*.py``, then the
    sorted ``*.py`` of :data:`STDLIB_SUBPACKAGES` (paths with a ``test`` part skipped).
    Files that do not end with a newline or are not UTF-8 are skipped."""
    root = stdlib_dir()
    paths = sorted(root.glob("*.py"))
    for sub in STDLIB_SUBPACKAGES:
        paths += sorted(p for p in (root / sub).rglob("*.py")
                        if not any("test" in part for part in p.relative_to(root).parts))
    out: list[tuple[str, str]] = []
    for p in paths:
        if len(out) >= n:
            break
        try:
            text = p.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if not text.endswith("\n"):
            continue
        out.append((str(p.relative_to(root)), text))
    return out


def mbxp_java() -> list[tuple[str, str]]:
    """MBXP Java: prompt + canonical_solution + test (a complete Java file)."""
    return [(r["task_id"], _ensure_nl(r["prompt"] + r["canonical_solution"] + r["test"]))
            for r in _jsonl("data/code/mbjp_release_v1.2.jsonl.gz")
            if r.get("canonical_solution") is not None]


def mbxp_go() -> list[tuple[str, str]]:
    """MBXP Go: prompt + a stub body (:data:`GO_STUB_BODY`, there are no canonical
    solutions) + test program, i.e. a complete ``package main`` file."""
    out = []
    for r in _jsonl("data/code/mbgp_release_v1.1.jsonl.gz"):
        body = r.get("canonical_solution")
        body = GO_STUB_BODY if not body else _ensure_nl(body)
        out.append((r["task_id"], _ensure_nl(r["prompt"] + body + r["test"])))
    return out


def maskbench_json_instances(ensure_ascii: bool = False) -> list[tuple[str, str]]:
    """Every valid instance of the MaskBench dev split, as ``json.dumps(data,
    ensure_ascii=ensure_ascii)``; names are ``<case id>/<test index>``."""
    out = []
    for case in _jsonl("data/maskbench-dev.jsonl.gz"):
        for i, t in enumerate(case.get("tests", [])):
            if t.get("valid"):
                out.append((f"{case['id']}/{i}", json.dumps(t["data"], ensure_ascii=ensure_ascii)))
    return out


# Handwritten queries covering the SQL subset of grammars/sql.lark (there is no
# SQL corpus in ../shared).
_SQL_QUERIES = [
    "SELECT 1",
    "select * from users",
    "SELECT id, name FROM users WHERE age > 30;",
    "SELECT u.id, u.name AS n FROM users u WHERE u.active = TRUE AND u.age BETWEEN 18 AND 65",
    "SELECT COUNT(DISTINCT customer_id) AS customers FROM orders WHERE total >= 100.50",
    "SELECT dept, AVG(salary) FROM employees GROUP BY dept HAVING AVG(salary) > 50000 ORDER BY 2 DESC",
    "SELECT * FROM a JOIN b ON a.id = b.a_id LEFT JOIN c ON c.id = b.c_id",
    "SELECT * FROM a INNER JOIN b USING (id) RIGHT OUTER JOIN c ON c.x = a.x FULL OUTER JOIN d ON d.y = c.y",
    "SELECT * FROM a CROSS JOIN b NATURAL JOIN c",
    "SELECT * FROM a, b WHERE a.id = b.id",
    "SELECT name FROM products WHERE price > (SELECT AVG(price) FROM products)",
    "SELECT * FROM t WHERE id IN (1, 2, 3) AND name NOT IN (SELECT name FROM banned)",
    "SELECT * FROM t WHERE NOT EXISTS (SELECT 1 FROM s WHERE s.t_id = t.id)",
    "SELECT * FROM t WHERE name LIKE 'A%' OR name NOT LIKE '%z' OR email IS NULL OR phone IS NOT NULL",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > '2024-01-01') "
    "SELECT customer_id, SUM(total) FROM recent GROUP BY customer_id",
    "WITH RECURSIVE nums(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM nums WHERE n < 10) SELECT n FROM nums",
    "SELECT a FROM x UNION SELECT a FROM y INTERSECT SELECT a FROM z EXCEPT SELECT a FROM w",
    "SELECT * FROM t ORDER BY a ASC, b DESC NULLS LAST LIMIT 10 OFFSET 20",
    "SELECT CASE WHEN score >= 90 THEN 'A' WHEN score >= 80 THEN 'B' ELSE 'C' END AS grade FROM results",
    "SELECT CASE status WHEN 1 THEN 'on' ELSE 'off' END FROM devices",
    "SELECT CAST(price AS DECIMAL(10, 2)), -amount, +1.5e3, .5 FROM t",
    "SELECT first_name || ' ' || last_name AS full_name FROM people",
    "SELECT name, ROW_NUMBER() OVER (PARTITION BY dept ORDER BY salary DESC) AS rn FROM employees",
    "SELECT s.* FROM (SELECT id FROM t) AS s",
    'SELECT "select", `order`, [group] FROM "my table"',
    "SELECT key, value, first, last FROM settings",
    "SELECT 'it''s' AS quote -- a comment\nFROM dual /* block\ncomment */",
    "SELECT * FROM t WHERE a = ? AND b <> ? AND c != 3 AND d <= 4 AND e >= 5 AND f < 6",
    "INSERT INTO users (id, name) VALUES (1, 'Ann'), (2, 'Bob')",
    "insert into archive select * from orders where created_at < '2020-01-01'",
    "UPDATE users SET name = 'Ann', age = age + 1 WHERE id = 1",
    "DELETE FROM sessions WHERE expires_at < CURRENT_TIMESTAMP",
    "CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, name VARCHAR(255) NOT NULL, email TEXT UNIQUE, "
    "age INT DEFAULT 0, created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP)",
    "CREATE TABLE IF NOT EXISTS orders (id INT, user_id INT REFERENCES users(id), total DECIMAL(10,2) "
    "CHECK (total >= 0), PRIMARY KEY (id), FOREIGN KEY (user_id) REFERENCES users (id))",
    "CREATE TABLE t (x DOUBLE PRECISION, CONSTRAINT pk PRIMARY KEY (x))",
    "DROP TABLE IF EXISTS tmp; DROP TABLE other;",
    "SeLeCt Id FrOm T wHeRe X = 1",
    "SELECT EXTRACT(YEAR FROM order_date) AS y, COUNT(*) FROM orders "
    "WHERE order_date > CURRENT_DATE - INTERVAL '30 days' GROUP BY 1",
    "INSERT INTO t (a) VALUES (1) RETURNING id",
    "UPDATE t SET a = 2 WHERE id = 3 RETURNING id, a",
    "DELETE FROM t WHERE a IS NULL RETURNING *",
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_users_email ON users (email)",
    "CREATE INDEX idx_orders ON orders (customer_id, created_at DESC)",
    "ALTER TABLE users ADD COLUMN age INTEGER DEFAULT 0",
    "ALTER TABLE users ADD CONSTRAINT uq UNIQUE (email)",
    "ALTER TABLE users DROP COLUMN age",
    "ALTER TABLE users RENAME TO customers",
    "ALTER TABLE users RENAME COLUMN name TO full_name",
]


def sql_queries() -> list[tuple[str, str]]:
    """Handwritten SQL statements (SELECT/joins/CTEs/window/DML/DDL) for grammars/sql.lark."""
    return [(f"sql/{i}", q) for i, q in enumerate(_SQL_QUERIES)]
