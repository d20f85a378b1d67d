"""The official JSON Schema Test Suite under the MaskBench protocol, all engines side by side.

    python bench/test_suite.py                                   # draft2020-12, draft7, draft4
    python bench/test_suite.py --drafts draft2020-12 --engines constrain --files ref,anyOf

Each test group's ``schema`` is compiled once; each test's ``data`` is serialised with
``json.dumps(data, ensure_ascii=False)``, tokenised with Llama-3 and walked token by token
(bench/common.py:evaluate_case). An instance check is *correct* when a valid instance is fully
allowed and accepted at its end (stop-token bit), or an invalid one is blocked somewhere or not
accepted at its end.

* wrongly accepted = invalid instance fully accepted (under-constrained);
* wrongly rejected = valid instance blocked or not accepted at the end;
* unsound = a token the mask allowed was rejected by advance (counted as not correct);
* compile error / timeout / crash: every instance of that schema counts as not correct.

Excluded: ``optional/`` (unless ``--optional``), ``refRemote.json``, and groups that need a remote
document: a ``$ref`` (resolved against the ``$id`` chain) or ``$schema`` pointing to an http(s)
document that the schema itself does not define (the suite's ``remotes/`` and the meta-schemas).
A schema without ``$schema`` gets the draft's meta-schema URI, since engines detect the draft
from it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urldefrag, urljoin

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, TEST_SUITE, Task, WorkerPool, table, write_json  # noqa: E402

ALL_ENGINES = ("constrain", "xgrammar", "llguidance", "outlines")
DEFAULT_DRAFTS = ("draft2020-12", "draft7", "draft4")
META = {
    "draft2020-12": "https://json-schema.org/draft/2020-12/schema",
    "draft2019-09": "https://json-schema.org/draft/2019-09/schema",
    "draft7": "http://json-schema.org/draft-07/schema#",
    "draft6": "http://json-schema.org/draft-06/schema#",
    "draft4": "http://json-schema.org/draft-04/schema#",
}
_DATA_KEYS = {"enum", "const", "examples", "default"}


def remote_refs(schema, draft: str) -> list[str]:
    """Absolute http(s) documents that ``schema`` refers to (``$ref``/``$dynamicRef``/``$schema``)
    but does not define itself via ``$id`` (``id`` in draft4)."""
    id_key = "id" if draft == "draft4" else "$id"
    defined: set[str] = set()
    refs: list[str] = []

    def walk(node, base: str, top: bool = False):
        if isinstance(node, list):
            for v in node:
                walk(v, base)
            return
        if not isinstance(node, dict):
            return
        sid = node.get(id_key)
        if isinstance(sid, str) and not sid.startswith("#"):
            base = urljoin(base, sid)
            defined.add(urldefrag(base)[0])
        for k in ("$ref", "$dynamicRef", "$recursiveRef"):
            r = node.get(k)
            if isinstance(r, str):
                refs.append(urldefrag(urljoin(base, r))[0])
        s = node.get("$schema")
        if isinstance(s, str) and "localhost" in s:
            refs.append(urldefrag(s)[0])
        for k, v in node.items():
            if k in _DATA_KEYS:
                continue
            if isinstance(v, (dict, list)):
                walk(v, base)

    walk(schema, "", top=True)
    return sorted({r for r in refs if r.startswith(("http://", "https://")) and r not in defined})


def with_meta(schema, draft: str):
    if isinstance(schema, dict) and "$schema" not in schema:
        return {"$schema": META[draft], **schema}
    return schema


def load_groups(root: Path, drafts: list[str], optional: bool, files: list[str] | None) -> tuple[list[dict], list[dict]]:
    """(groups to run, excluded groups) with draft, file, index, description, schema, tests."""
    run, skipped = [], []
    for draft in drafts:
        d = root / "tests" / draft
        paths = sorted(d.glob("*.json"))
        if optional:
            paths += sorted((d / "optional").rglob("*.json"))
        for p in paths:
            rel = str(p.relative_to(d))[:-5]
            if files and rel not in files and p.stem not in files:
                continue
            for i, g in enumerate(json.loads(p.read_text(encoding="utf-8"))):
                grp = {"draft": draft, "file": rel, "index": i, "description": g["description"],
                       "schema": with_meta(g["schema"], draft), "tests": g["tests"]}
                remote = remote_refs(g["schema"], draft)
                if p.stem == "refRemote" or remote:
                    grp["excluded"] = "remote ref: " + (", ".join(remote) or "refRemote.json")
                    skipped.append(grp)
                else:
                    run.append(grp)
    return run, skipped


def empty_counts() -> dict:
    return {"instances": 0, "correct": 0, "wrongly_accepted": 0, "wrongly_rejected": 0, "unsound": 0,
            "compile_error": 0, "timeout": 0, "crash": 0, "groups": 0, "groups_compile_error": 0}


def tally(counts: dict, grp: dict, out: dict) -> None:
    n = len(grp["tests"])
    counts["instances"] += n
    counts["groups"] += 1
    st = out["status"]
    if st in ("compile_error", "timeout", "crash"):
        counts[st] += n
        if st == "compile_error":
            counts["groups_compile_error"] += 1
        return
    for t in out.get("tests", []):
        o = t["outcome"]
        if o == "ok":
            counts["correct"] += 1
        elif o == "invalidation_error":
            counts["wrongly_accepted"] += 1
        elif o == "validation_error":
            counts["wrongly_rejected"] += 1
        elif o == "unsound":
            counts["unsound"] += 1


def pct(c: dict) -> str:
    return f"{100.0 * c['correct'] / c['instances']:.1f}%" if c["instances"] else "-"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engines", default=",".join(ALL_ENGINES))
    ap.add_argument("--drafts", default=",".join(DEFAULT_DRAFTS), help="comma list, or 'all'")
    ap.add_argument("--files", default=None, help="comma list of keyword files (e.g. ref,anyOf)")
    ap.add_argument("--optional", action="store_true", help="include optional/ (format etc.)")
    ap.add_argument("--suite", type=Path, default=TEST_SUITE)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--engine-timeouts", default="", help="per-engine overrides, e.g. outlines=5")
    ap.add_argument("--mem-gb", type=float, default=8.0)
    ap.add_argument("--constrain-opts", default='{"property_order": "any"}',
                    help="JSON dict of compile_json_schema options (default: any property order, as in "
                         "maskbench.py: the suite checks schema semantics, which do not order properties)")
    ap.add_argument("--per-file", action="store_true", help="print the per-keyword-file table")
    ap.add_argument("--list-failures", nargs="?", const="-", default=None, metavar="FILE")
    ap.add_argument("--tag", default=None)
    ap.add_argument("--results-dir", type=Path, default=RESULTS)
    a = ap.parse_args(argv)

    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    drafts = sorted(META) if a.drafts == "all" else [d.strip() for d in a.drafts.split(",") if d.strip()]
    files = [f.strip() for f in a.files.split(",")] if a.files else None
    groups, skipped = load_groups(a.suite, drafts, a.optional, files)
    print(f"Test Suite: {len(groups)} schemas ({sum(len(g['tests']) for g in groups)} instances) x "
          f"{len(engines)} engines; {len(skipped)} schemas excluded (remote refs)", file=sys.stderr)
    engine_opts = {"constrain": json.loads(a.constrain_opts)}
    tasks = (Task(key=(gi, e), engine=e, engine_opts=engine_opts.get(e, {}),
                  payload={"schema": g["schema"], "tests": g["tests"], "keep_token_times": False})
             for gi, g in enumerate(groups) for e in engines)
    per_draft = {e: defaultdict(empty_counts) for e in engines}
    per_file = {e: defaultdict(empty_counts) for e in engines}
    fails: list[tuple] = []
    from maskbench import parse_engine_timeouts

    pool = WorkerPool(jobs=a.jobs, timeout=a.timeout, mem_gb=a.mem_gb or None,
                      engine_timeouts=parse_engine_timeouts(a.engine_timeouts))
    t0 = time.time()
    done, total = 0, len(groups) * len(engines)
    for task, out in pool.run(tasks):
        gi, e = task.key
        g = groups[gi]
        tally(per_draft[e][g["draft"]], g, out)
        tally(per_file[e][(g["draft"], g["file"])], g, out)
        bad = [(j, t) for j, t in enumerate(out.get("tests", [])) if t["outcome"] != "ok"]
        if out["status"] in ("compile_error", "timeout", "crash") or bad:
            descr = "; ".join(f"{g['tests'][j]['description']!r}: {t['outcome']}" for j, t in bad[:4])
            fails.append((e, g["draft"], g["file"], g["index"], out["status"],
                          (out.get("reason", "") if out["status"] in ("compile_error", "timeout", "crash")
                           else descr)[:300], g["description"]))
        done += 1
        if done % 500 == 0:
            print(f"[{done}/{total} {time.time() - t0:.0f}s]", file=sys.stderr, flush=True)
    wall = time.time() - t0

    lines = ["JSON Schema Test Suite: instance checks (correct %, wrongly accepted, wrongly rejected, unsound; "
             "instances of uncompilable / timed-out / crashed schemas)"]
    rows = []
    for d in drafts:
        for e in engines:
            c = per_draft[e][d]
            rows.append([d, e, c["instances"], pct(c), c["wrongly_accepted"], c["wrongly_rejected"], c["unsound"],
                         f"{c['compile_error']} ({c['groups_compile_error']} schemas)", c["timeout"], c["crash"]])
    lines.append(table(["draft", "engine", "instances", "correct", "wrongly accepted", "wrongly rejected",
                        "unsound", "compile error", "timeout", "crash"], rows))
    if a.per_file:
        keys = sorted({k for e in engines for k in per_file[e]})
        rows = []
        for k in keys:
            r = [k[0], k[1], per_file[engines[0]][k]["instances"]]
            for e in engines:
                c = per_file[e][k]
                r.append(f"{pct(c)} a{c['wrongly_accepted']} r{c['wrongly_rejected']} "
                         f"c{c['compile_error'] + c['timeout'] + c['crash']}")
            rows.append(r)
        lines.append("\nPer keyword file: correct %, aN = wrongly accepted, rN = wrongly rejected, "
                     "cN = instances not run (compile error/timeout/crash)")
        lines.append(table(["draft", "file", "instances"] + engines, rows))
    text = "\n".join(lines)
    print(text)
    tag = a.tag or ("default" if not files and drafts == list(DEFAULT_DRAFTS) and not a.optional else "subset")
    res = {
        "meta": {"benchmark": "json-schema-test-suite", "drafts": drafts, "engines": engines,
                 "optional": a.optional, "files": files, "groups": len(groups), "excluded_groups": len(skipped),
                 "excluded": [(g["draft"], g["file"], g["index"], g["excluded"]) for g in skipped],
                 "timeout_s": a.timeout, "engine_opts": engine_opts, "wall_s": wall,
                 "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "per_draft": {e: dict(per_draft[e]) for e in engines},
        "per_file": {e: {f"{k[0]}/{k[1]}": v for k, v in sorted(per_file[e].items())} for e in engines},
        "failures": [dict(zip(("engine", "draft", "file", "index", "status", "detail", "description"), f))
                     for f in sorted(fails, key=lambda f: f[:4])],
        "table": text,
    }
    p = write_json(f"test_suite_{tag}.json", res, a.results_dir)
    print(f"\nwrote {p} ({wall:.0f} s)", file=sys.stderr)
    if a.list_failures is not None:
        body = "".join("\t".join(str(x) for x in f) + "\n" for f in sorted(fails, key=lambda f: f[:4]))
        if a.list_failures == "-":
            print("\n# failures: engine draft file index status detail description")
            sys.stdout.write(body)
        else:
            Path(a.list_failures).write_text(body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
