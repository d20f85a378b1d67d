"""constrain's ``python`` grammar over real code, Llama-3 tokenizer.

    python bench/python_grammar.py                      # 200 CPython stdlib files
    python bench/python_grammar.py --corpus humaneval   # or mbpp; --files N for another stdlib count

Reports: compile time cold (fresh process, empty CONSTRAIN_CACHE_DIR) and from the disk cache
(second fresh process), the first mask; per-token mask and mask + advance p50/p99; acceptance
(every token allowed and a stop token allowed at the end of the file) with the failing files and
where they fail; memory of the shared mask store and the grammar's mask caches.
Each file runs as a task in a worker process with a timeout (bench/common.py:WorkerPool).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from array import array
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, Task, WorkerPool, encode, fmt_num, hf_tokenizer, plot_cdfs, stats, table  # noqa: E402
from common import write_json  # noqa: E402
from json_grammar import compile_probes, memory_bytes  # noqa: E402

_HANDLES: dict[str, object] = {}


def _grammar(eng, name: str):
    h = _HANDLES.get(name)
    if h is None:
        h = _HANDLES[name] = eng.compile_grammar(name)
    return h


def walk_file(eng, text: str, grammar: str = "python") -> dict:
    from common import walk_tokens

    h = _grammar(eng, grammar)
    mask = eng.allocate_mask()
    mask_us, adv_us, tbm_us = array("f"), array("f"), array("f")
    ids = encode(text)
    t0 = time.perf_counter()
    o, at = walk_tokens(eng.new_matcher(h), ids, mask, tuple(eng.stop_token_ids), mask_us, adv_us, tbm_us)
    return {"status": "ok", "outcome": o, "at": at, "n_tokens": len(ids), "wall_s": time.perf_counter() - t0,
            "mask_us": mask_us, "adv_us": adv_us, "tbm_us": tbm_us}


def memory_call(eng, grammar: str = "python") -> dict:
    h = _HANDLES.get(grammar)
    return {"status": "ok", "memory": memory_bytes(eng, h) if h is not None else {}}


def load_corpus(name: str, n: int) -> list[tuple[str, str]]:
    import corpora

    if name == "stdlib":
        return corpora.stdlib(n)
    return getattr(corpora, name)()[: n or None]


def where(text: str, at: int | None) -> str:
    if at is None:
        return ""
    ids = encode(text)
    prefix = hf_tokenizer().decode(ids[:at])
    line = prefix.count("\n") + 1
    nxt = hf_tokenizer().decode(ids[at:at + 1]) if at < len(ids) else "<end>"
    return f"line {line}, after {prefix[-50:]!r}, next {nxt!r}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="stdlib", choices=("stdlib", "humaneval", "mbpp"))
    ap.add_argument("--files", type=int, default=200, help="number of files (stdlib) / first N items")
    ap.add_argument("--grammar", default="python")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per file")
    ap.add_argument("--cache-dir", default=None, help="constrain cache dir (default: fresh temp dir)")
    ap.add_argument("--no-probes", action="store_true")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    a = ap.parse_args(argv)

    files = load_corpus(a.corpus, a.files)
    tmp = a.cache_dir or tempfile.mkdtemp(prefix="constrain-cache-")
    here = Path(__file__).resolve()
    per = {"mask": array("f"), "adv": array("f"), "tbm": array("f")}
    results: dict[str, dict] = {}
    memory: dict = {}
    try:
        probes = {}
        if not a.no_probes:
            print("compile probes (fresh processes):", file=sys.stderr)
            probes = compile_probes(["constrain"], a.grammar, str(here.parent / "json_grammar.py"), tmp)
        os.environ["CONSTRAIN_CACHE_DIR"] = tmp
        tasks = [Task(key=name, engine="constrain", kind="call",
                      payload={"module": here.stem, "func": "walk_file", "kwargs": {"text": text, "grammar": a.grammar}})
                 for name, text in files]
        tasks.append(Task(key="__memory__", engine="constrain", kind="call",
                          payload={"module": here.stem, "func": "memory_call", "kwargs": {"grammar": a.grammar}}))
        print(f"walking {len(files)} {a.corpus} files", file=sys.stderr)
        pool = WorkerPool(jobs=a.jobs, timeout=a.timeout, mem_gb=None, max_tasks=10**9)
        t0 = time.monotonic()
        for task, out in pool.run(tasks):
            if task.key == "__memory__":
                memory = out.get("memory", {})
                continue
            for k, name in (("mask", "mask_us"), ("adv", "adv_us"), ("tbm", "tbm_us")):
                per[k].extend(out.pop(name, []) or [])
            results[task.key] = out
            if len(results) % 20 == 0:
                acc = sum(r.get("outcome") == "ok" for r in results.values())
                print(f"  [{time.monotonic() - t0:.0f}s] {len(results)}/{len(files)} files, {acc} accepted",
                      file=sys.stderr, flush=True)
    finally:
        if not a.cache_dir:
            shutil.rmtree(tmp, ignore_errors=True)

    texts = dict(files)
    failures = []
    for name, r in results.items():
        if r.get("status") != "ok":
            failures.append({"file": name, "outcome": r.get("status"), "detail": r.get("reason", "")})
        elif r["outcome"] != "ok":
            failures.append({"file": name, "outcome": r["outcome"], "detail": where(texts[name], r["at"])})
    mask = np.frombuffer(per["mask"], np.float32)
    tbm = np.frombuffer(per["tbm"], np.float32)
    cold = probes.get("constrain", {}).get("cold", {})
    warm = probes.get("constrain", {}).get("warm", {})
    accepted = sum(r.get("outcome") == "ok" for r in results.values())
    n_tok = sum(r.get("n_tokens", 0) for r in results.values())
    ms = lambda x: fmt_num(x * 1e3 if isinstance(x, (int, float)) else None)  # noqa: E731
    rows = [[a.grammar, a.corpus, f"{accepted}/{len(files)}", n_tok, fmt_num(stats(mask)["p50"]),
             fmt_num(stats(mask)["p99"]), fmt_num(stats(tbm)["p50"]), fmt_num(stats(tbm)["p99"]),
             fmt_num(stats(mask)["max"]), ms(cold.get("compile_s")), ms(cold.get("first_mask_s")),
             ms(warm.get("compile_s")), ms(warm.get("first_mask_s")),
             f"{memory['mask_store_bytes'] / 2**20:.1f}" if "mask_store_bytes" in memory else "n/a",
             f"{memory['grammar_bytes'] / 2**20:.1f}" if "grammar_bytes" in memory else "n/a"]]
    text = table(["grammar", "corpus", "accepted", "tokens", "mask p50 µs", "mask p99 µs", "mask+adv p50",
                  "mask+adv p99", "mask max µs", "compile cold ms", "1st mask cold ms", "compile cached ms",
                  "1st mask cached ms", "mask store MiB", "grammar MiB"], rows)
    print(f"constrain `{a.grammar}` grammar, Llama-3 tokenizer")
    print(text)
    for f in sorted(failures, key=lambda f: f["file"]):
        print(f"  {f['outcome']}: {f['file']}: {f['detail']}")
    tag = a.tag or f"{a.grammar}_{a.corpus}{a.files if a.corpus == 'stdlib' else ''}"
    p = write_json(f"python_grammar_{tag}.json", {
        "meta": {"benchmark": "python_grammar", "grammar": a.grammar, "corpus": a.corpus, "files": len(files),
                 "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "accepted": accepted, "tokens": n_tok, "mask_us": stats(mask), "tbm_us": stats(tbm),
        "advance_us": stats(np.frombuffer(per["adv"], np.float32)), "compile_cold": cold, "compile_warm": warm,
        "memory": memory, "failures": failures,
        "per_file": {k: {kk: v.get(kk) for kk in ("status", "outcome", "at", "n_tokens", "wall_s", "reason")}
                     for k, v in sorted(results.items())},
        "table": text}, a.results_dir)
    plot_cdfs({a.grammar: {"mask per token (µs)": mask, "mask + advance (µs)": tbm}},
              a.results_dir / f"python_grammar_{tag}.png", f"{a.grammar} grammar over {a.corpus}")
    print(f"wrote {p}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
