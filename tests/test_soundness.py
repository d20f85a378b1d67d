"""Soundness on real files and precision by random walks, Llama-3 tokenizer (samples; the full
corpora run in ``bench/soundness.py``)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import lark
import pytest

import constrain

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import corpora  # noqa: E402
from soundness import check_text, random_walks  # noqa: E402

SAMPLES = [
    ("json", "maskbench_json_instances", 200),
    ("python", "humaneval", 12),
    ("python", "mbpp", 12),
    ("python", "stdlib", 1),
    ("java", "mbxp_java", 5),
    ("go", "mbxp_go", 5),
    ("sql", "sql_queries", 24),
]


@pytest.fixture(scope="module")
def grammars(llama3):
    return {}


def _grammar(cache, name, tok):
    if name not in cache:
        cache[name] = constrain.compile_grammar(name, tok)
    return cache[name]


@pytest.mark.slow
@pytest.mark.parametrize("grammar, corpus, n", SAMPLES)
def test_real_files_are_accepted_token_by_token(grammar, corpus, n, llama3, llama3_hf, grammars, shared):
    g = _grammar(grammars, grammar, llama3)
    files = getattr(corpora, corpus)()
    step = max(1, len(files) // n)
    mask = llama3.allocate_bitmask()
    failures = []
    for name, text in files[::step][:n]:
        reason = check_text(g, llama3, llama3_hf.encode(text, add_special_tokens=False), mask)
        if reason:
            failures.append((name, reason))
    assert not failures, failures[:3]


def _reference(name):
    from constrain.parsing.indenter import GoPostLex, PythonPostLex

    postlex = {"python": PythonPostLex, "go": GoPostLex}.get(name)
    return lark.Lark(constrain.load_grammar(name), parser="lalr", postlex=postlex() if postlex else None)


@pytest.mark.slow
@pytest.mark.parametrize("name, walks", [("json", 40), ("python", 20), ("sql", 20)])
def test_random_walks_never_dead_end_and_parse(name, walks, llama3, grammars):
    g = _grammar(grammars, name, llama3)
    finished, dead, _ = random_walks(g, llama3, walks, max_tokens=40, p_stop=0.5, seed=1)
    assert not dead, dead[:3]
    ref = _reference(name)
    for out in finished:
        text = out.decode("utf-8")
        ref.parse(text)  # raises if the grammar's own parser rejects it
        if name == "json":
            json.loads(text)
    assert finished, "no walk finished"
