"""Generic JSON grammar: constrain's ``json`` grammar vs xgrammar's builtin JSON grammar and
llguidance's generic JSON (the empty schema ``{}``), Llama-3 tokenizer, same run.

    python bench/json_grammar.py                 # 2,000 valid MaskBench instances (seed 0)
    python bench/json_grammar.py --limit 0       # every valid instance (the acceptance check)

Reports per engine:
* compile time cold (a fresh process; constrain with an empty CONSTRAIN_CACHE_DIR) and from the
  disk cache (a second fresh process on the same cache dir; the peers have no disk cache, so
  their second process recompiles), plus the first mask;
* per-token mask time and mask + advance time p50/p99 over the valid MaskBench instances
  (``json.dumps(data, ensure_ascii=False)``, Llama-3 tokens without special tokens);
* acceptance: instances whose every token is allowed and whose end allows a stop token;
* memory: constrain's shared mask store + the grammar's mask caches (bytes), xgrammar's
  ``CompiledGrammar.memory_size_bytes``; n/a for llguidance.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MASKBENCH, RESULTS, Task, WorkerPool, encode, fmt_num, plot_cdfs, probe,  # noqa: E402
                    stats, table, walk_tokens, write_json)

ENGINES = ("constrain", "xgrammar", "llguidance")
_HANDLES: dict[str, object] = {}


def compile_generic(eng):
    return eng.compile_builtin_json()


def memory_bytes(eng, handle) -> dict:
    if eng.name == "constrain":
        from constrain.store.maskstore import MaskStore

        store = MaskStore.for_tokenizer(eng.tok)
        return {"mask_store_bytes": int(store.nbytes), "grammar_bytes": int(handle.memory_bytes()),
                "store_hits": dict(store.hits), "grammar_stats": dict(getattr(handle, "stats", {}))}
    if eng.name == "xgrammar":
        return {"grammar_bytes": int(handle.memory_size_bytes)}
    return {}


# ---------------------------------------------------------------- worker-side calls
def walk_chunk(eng, texts: list[str], compile_name: str = "compile_generic") -> dict:
    """Walk each text through a fresh matcher of the (per-worker cached) grammar."""
    key = f"{eng.name}:{compile_name}"
    h = _HANDLES.get(key)
    if h is None:
        h = _HANDLES[key] = globals()[compile_name](eng)
    mask = eng.allocate_mask()
    stops = tuple(eng.stop_token_ids)
    mask_us, adv_us, tbm_us = array("f"), array("f"), array("f")
    outcomes = []
    for text in texts:
        ids = encode(text)
        m = eng.new_matcher(h)
        o, at = walk_tokens(m, ids, mask, stops, mask_us, adv_us, tbm_us)
        outcomes.append((o, at, len(ids)))
    return {"status": "ok", "outcomes": outcomes, "mask_us": mask_us, "adv_us": adv_us, "tbm_us": tbm_us}


def memory_call(eng, compile_name: str = "compile_generic") -> dict:
    h = _HANDLES.get(f"{eng.name}:{compile_name}")
    return {"status": "ok", "memory": memory_bytes(eng, h) if h is not None else {}}


# ---------------------------------------------------------------- compile probe (own process)
def probe_main(engine: str, what: str) -> None:
    t0 = time.perf_counter()
    import peers

    eng = peers.get_engine(engine)
    t1 = time.perf_counter()
    if what == "json":
        h = eng.compile_builtin_json()
    else:
        h = eng.compile_grammar(what)
    t2 = time.perf_counter()
    m = eng.new_matcher(h)
    mask = eng.allocate_mask()
    m.fill_mask(mask)
    t3 = time.perf_counter()
    out = {"engine": engine, "setup_s": t1 - t0, "compile_s": t2 - t1, "first_mask_s": t3 - t2,
           "allowed_first": int(np.unpackbits(mask.view(np.uint8)).sum())}
    print(json.dumps(out))


def compile_probes(engines: list[str], what: str, script: str, cache_dir: str, timeout: float = 600) -> dict:
    """Cold (empty cache dir) then warm (same dir) compile, each in a fresh process."""
    res = {}
    for e in engines:
        env = {"CONSTRAIN_CACHE_DIR": cache_dir}
        cold = probe([sys.executable, script, "--probe", e, "--what", what], env, timeout)
        warm = probe([sys.executable, script, "--probe", e, "--what", what], env, timeout)
        res[e] = {"cold": cold, "warm": warm}
        print(f"  {e}: compile cold {fmt_num((cold.get('compile_s') or 0) * 1e3)} ms, "
              f"warm {fmt_num((warm.get('compile_s') or 0) * 1e3)} ms {cold.get('error', '')}", file=sys.stderr)
    return res


def valid_instances(limit: int | None, seed: int) -> list[tuple[str, str]]:
    try:
        from corpora import maskbench_json_instances

        items = maskbench_json_instances()
    except ImportError:
        import gzip

        items = []
        with gzip.open(MASKBENCH, "rt", encoding="utf-8") as f:
            for line in f:
                c = json.loads(line)
                for i, t in enumerate(c.get("tests", [])):
                    if t.get("valid"):
                        items.append((f"{c['id']}/{i}", json.dumps(t["data"], ensure_ascii=False)))
    if limit:
        items = random.Random(seed).sample(items, min(limit, len(items)))
    return items


def time_walks(engines: list[str], items: list[tuple[str, str]], compile_name: str, chunk: int,
               timeout: float, jobs: int = 1) -> dict:
    """Per engine: token time arrays, outcomes and memory, run in a worker pool (one worker by default,
    so that the memory call lands on the worker that holds the grammar)."""
    per = {e: {"mask": array("f"), "adv": array("f"), "tbm": array("f"), "outcomes": [], "failures": [],
               "errors": [], "memory": {}} for e in engines}
    tasks = []
    for e in engines:
        for k in range(0, len(items), chunk):
            part = items[k:k + chunk]
            tasks.append(Task(key=(e, k), engine=e, kind="call",
                              payload={"module": Path(__file__).stem, "func": "walk_chunk",
                                       "kwargs": {"texts": [t for _, t in part], "compile_name": compile_name}}))
        tasks.append(Task(key=(e, "memory"), engine=e, kind="call",
                          payload={"module": Path(__file__).stem, "func": "memory_call",
                                   "kwargs": {"compile_name": compile_name}}))
    pool = WorkerPool(jobs=jobs, timeout=timeout, mem_gb=None, max_tasks=10**9)
    t0 = time.monotonic()
    for task, out in pool.run(tasks):
        e, k = task.key
        d = per[e]
        if out.get("status") != "ok":
            d["errors"].append(f"chunk {k}: {out.get('status')} {out.get('reason', '')}")
            continue
        if k == "memory":
            d["memory"] = out["memory"]
            continue
        d["mask"].extend(out["mask_us"])
        d["adv"].extend(out["adv_us"])
        d["tbm"].extend(out["tbm_us"])
        for (name, _), (o, at, n) in zip(items[k:k + chunk], out["outcomes"]):
            d["outcomes"].append(o)
            if o != "ok":
                d["failures"].append({"name": name, "outcome": o, "at": at, "n_tokens": n})
        print(f"  [{time.monotonic() - t0:.0f}s] {e} {k + len(out['outcomes'])}/{len(items)}",
              file=sys.stderr, flush=True)
    return per


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--limit", type=int, default=2000, help="valid instances to walk (0 = all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=250, help="instances per worker task")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per chunk")
    ap.add_argument("--cache-dir", default=None, help="constrain cache dir for the probes "
                                                      "(default: a fresh temp dir, removed afterwards)")
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    ap.add_argument("--probe", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--what", default="json", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.probe:
        probe_main(a.probe, a.what)
        return 0

    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    tmp = a.cache_dir or tempfile.mkdtemp(prefix="constrain-cache-")
    try:
        probes = {}
        if not a.no_probes:
            print("compile probes (fresh processes):", file=sys.stderr)
            probes = compile_probes(engines, "json", str(Path(__file__).resolve()), tmp)
        items = valid_instances(a.limit or None, a.seed)
        print(f"walking {len(items)} valid MaskBench instances per engine", file=sys.stderr)
        os.environ["CONSTRAIN_CACHE_DIR"] = tmp  # workers inherit it: the timing run starts from the probes' cache
        per = time_walks(engines, items, "compile_generic", a.chunk, a.timeout)
    finally:
        if not a.cache_dir:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = {}
    rows = []
    for e in engines:
        d = per[e]
        mask = np.frombuffer(d["mask"], dtype=np.float32)
        tbm = np.frombuffer(d["tbm"], dtype=np.float32)
        n_ok = sum(o == "ok" for o in d["outcomes"])
        pr = probes.get(e, {})
        cold, warm = pr.get("cold", {}), pr.get("warm", {})
        mem = d["memory"]
        s = {"instances": len(d["outcomes"]), "accepted": n_ok,
             "outcomes": {o: d["outcomes"].count(o) for o in sorted(set(d["outcomes"]))},
             "mask_us": stats(mask), "tbm_us": stats(tbm), "advance_us": stats(np.frombuffer(d["adv"], np.float32)),
             "compile_cold": cold, "compile_warm": warm, "memory": mem, "errors": d["errors"],
             "failures": d["failures"][:200]}
        summary[e] = s
        ms = lambda x: fmt_num(x * 1e3 if isinstance(x, (int, float)) else None)  # noqa: E731
        store = mem.get("mask_store_bytes")
        rows.append([e, f"{n_ok}/{len(d['outcomes'])}", s["tbm_us"]["n"],
                     fmt_num(s["mask_us"]["p50"]), fmt_num(s["mask_us"]["p99"]),
                     fmt_num(s["tbm_us"]["p50"]), fmt_num(s["tbm_us"]["p99"]), fmt_num(s["mask_us"]["max"]),
                     ms(cold.get("compile_s")), ms(cold.get("first_mask_s")),
                     ms(warm.get("compile_s")) + ("" if e == "constrain" else " (no disk cache)"),
                     ms(warm.get("first_mask_s")),
                     f"{store / 2**20:.1f}" if store is not None else "n/a",
                     f"{mem['grammar_bytes'] / 2**20:.1f}" if mem.get("grammar_bytes") is not None else "n/a"])
    text = table(["engine", "accepted", "tokens", "mask p50 µs", "mask p99 µs", "mask+adv p50", "mask+adv p99",
                  "mask max µs", "compile cold ms", "1st mask cold ms", "compile 2nd proc ms",
                  "1st mask 2nd proc ms", "mask store MiB", "grammar MiB"], rows)
    print("Generic JSON grammar, Llama-3 tokenizer (valid MaskBench instances)")
    print(text)
    for e in engines:
        for f in summary[e]["failures"][:5]:
            print(f"  {e}: {f['outcome']} {f['name']} at token {f['at']} of {f['n_tokens']}")
        for err in summary[e]["errors"][:5]:
            print(f"  {e}: {err}")
    tag = a.tag or ("all" if not a.limit else f"limit{a.limit}_seed{a.seed}")
    p = write_json(f"json_grammar_{tag}.json", {"meta": {"benchmark": "json_grammar", "limit": a.limit,
                                                         "seed": a.seed, "engines": engines,
                                                         "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                                "engines": summary, "table": text}, a.results_dir)
    plot_cdfs({e: {"mask per token (µs)": np.frombuffer(per[e]["mask"], np.float32)} for e in engines},
              a.results_dir / f"json_grammar_{tag}.png", "Generic JSON grammar: per-token mask time")
    print(f"wrote {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
