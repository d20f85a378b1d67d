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
    "maskbench_json_instances",
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
