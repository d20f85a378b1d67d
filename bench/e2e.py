"""End-to-end JSONSchemaBench run with the real SmolLM2-135M-Instruct, four configurations.

    python bench/e2e.py [--limit 100] [--seed 0] [--batch-size 4] [--max-new-tokens 256]
                        [--configs unconstrained,constrain,xgrammar,llguidance] [--threads 1] [--name e2e]

* A stratified sample of ``--limit`` schemas from ``../shared/data/maskbench-dev.jsonl.gz``: every
  source (the id up to ``---``, or without its trailing ``_<n>``: BFCL_simple, Github_hard, JME, ...)
  gets an equal share (seeded), the remainder goes to random sources.
* Each schema is put in a chat prompt (schema text capped at ``--schema-chars``) and decoded
  greedily with ``model.generate`` under four configurations:
  (a) unconstrained; (b) constrain's ``GrammarLogitsProcessor``; (c) xgrammar's
  ``xgr.contrib.hf.LogitsProcessor``; (d) llguidance behind a minimal processor (below).
  Prompts are sorted by length and batched (``--batch-size``, left padding); every batch runs all
  configurations back to back, so machine-load drift hits them alike.
* Per configuration: compile-failure rate, validity (jsonschema) over all schemas = empirical
  coverage (a compile failure counts as not covered), validity among finished outputs, truncation
  rate (cut at ``--max-new-tokens``), time per output token, time in the logits processor per
  decoding step and its ratio to the unconstrained step time (the constraint overhead),
  tokens/s, compile time.

Results: ``bench/results/<name>.json`` (written after every batch), ``<name>.png`` and
``<name>.md`` (the table, also printed). Peer settings follow bench/peers.py: xgrammar
``any_whitespace=True, strict_mode=False``; llguidance flexible whitespace (its default).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import sys
import time
import traceback
from collections import defaultdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DATA = Path(os.environ.get("CONSTRAIN_SHARED", REPO.parent / "shared")) / "data" / "maskbench-dev.jsonl.gz"
RESULTS = BENCH / "results"
CONFIGS = ("unconstrained", "constrain", "xgrammar", "llguidance")

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


# ----------------------------------------------------------------------------- sample
def source_of(case_id: str) -> str:
    if "---" in case_id:
        return case_id.split("---", 1)[0]
    return re.sub(r"_\d+$", "", case_id)


def load_cases(path: Path = DATA) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def stratified_sample(cases: list[dict], n: int, seed: int) -> list[dict]:
    """Equal share per source (as far as each source has cases), remainder to random sources."""
    rng = random.Random(seed)
    by: dict[str, list[dict]] = defaultdict(list)
    for c in cases:
        by[source_of(c["id"])].append(c)
    for v in by.values():
        rng.shuffle(v)
    sources = sorted(by)
    picked: dict[str, int] = {s: 0 for s in sources}
    remaining = min(n, len(cases))
    while remaining > 0:
        open_ = [s for s in sources if picked[s] < len(by[s])]
        share = max(remaining // len(open_), 1)
        order = open_[:]
        rng.shuffle(order)
        for s in order:
            k = min(share, len(by[s]) - picked[s], remaining)
            picked[s] += k
            remaining -= k
            if remaining == 0:
                break
    return [c for s in sources for c in by[s][: picked[s]]]


EXAMPLE_SCHEMA = '{"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name"]}'
EXAMPLE_VALUE = '{"name": "Ada", "age": 36}'


def make_prompt(schema, max_chars: int) -> str:
    """A one-shot prompt: small models otherwise tend to echo the schema instead of an instance."""
    text = json.dumps(schema, ensure_ascii=False)
    if len(text) > max_chars:
        text = text[:max_chars] + " ...(truncated)"
    return ("Write a JSON value (an instance, not a schema) that is valid against the given JSON Schema. "
            "Reply with the JSON only.\n\n"
            f"Example\nSchema: {EXAMPLE_SCHEMA}\nJSON: {EXAMPLE_VALUE}\n\n"
            f"Now\nSchema: {text}\nJSON:")


# ----------------------------------------------------------------------------- peers
class TimedProcessor:
    """Wraps a logits processor and accumulates the seconds spent in it."""

    def __init__(self, inner):
        self.inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __call__(self, input_ids, scores):
        t = time.perf_counter()
        out = self.inner(input_ids, scores)
        self.seconds += time.perf_counter() - t
        self.calls += 1
        return out


class LLGuidanceProcessor:
    """A minimal HF logits processor over llguidance ``LLMatcher``s (one per row).

    Masks come from ``llguidance.numpy.fill_next_token_bitmask``; they are applied with the same
    device-side unpacking as constrain's processor (llguidance.torch's CPU kernel JIT-compiles
    for seconds on first use and again per batch shape, which would swamp the comparison).
    """

    def __init__(self, llg_tok, grammars: list[str]):
        import llguidance
        import llguidance.numpy as lln

        self.lln = lln
        self.matchers = [llguidance.LLMatcher(llg_tok, g, log_level=0) for g in grammars]
        self.bitmask = lln.allocate_token_bitmask(len(grammars), llg_tok.vocab_size)
        self.started = False

    def __call__(self, input_ids, scores):
        from constrain.integrations.torch_mask import apply_bitmask

        if self.started:
            last = input_ids[:, -1].tolist()
            for m, t in zip(self.matchers, last):
                if not m.is_stopped():
                    m.consume_token(t)
        self.started = True
        for i, m in enumerate(self.matchers):
            self.lln.fill_next_token_bitmask(m, self.bitmask, i)
        return apply_bitmask(scores, self.bitmask)


class Setup:
    """Model, tokenizer and the per-engine tokenizer views, built once."""

    def __init__(self, model_path: str | None):
        import constrain
        from constrain.generate import tokenizer_info

        self.model, self.hf_tok = constrain.load_model(model_path, progress=True)
        self.vocab = self.model.config.vocab_size
        self.tok = tokenizer_info(self.hf_tok, self.model)
        self.stops = list(self.tok.stop_token_ids)
        self._xgr = self._llg = None

    def xgr_compiler(self):
        if self._xgr is None:
            import xgrammar as xgr

            ti = xgr.TokenizerInfo.from_huggingface(self.hf_tok, vocab_size=self.vocab, stop_token_ids=self.stops)
            self._xgr = xgr.GrammarCompiler(ti, max_threads=1, cache_enabled=False)
        return self._xgr

    def llg_tok(self):
        if self._llg is None:
            import llguidance.hf

            self._llg = llguidance.hf.from_tokenizer(self.hf_tok, n_vocab=self.vocab, eos_token=self.stops)
        return self._llg


def compile_for(cfg: str, setup: Setup, schema):
    """Compiled handle for one schema, or raise (a compile failure)."""
    if cfg == "constrain":
        import constrain

        return constrain.compile_json_schema(schema, setup.tok)
    if cfg == "xgrammar":
        return setup.xgr_compiler().compile_json_schema(json.dumps(schema), any_whitespace=True, strict_mode=False)
    if cfg == "llguidance":
        import llguidance

        grammar = llguidance.LLMatcher.grammar_from_json_schema(schema, defaults={"whitespace_flexible": True})
        m = llguidance.LLMatcher(setup.llg_tok(), grammar, log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error()[:500])
        return grammar
    return None


def make_processor(cfg: str, setup: Setup, handles: list):
    if cfg == "unconstrained":
        return None
    if cfg == "constrain":
        from constrain.integrations.hf import GrammarLogitsProcessor

        return GrammarLogitsProcessor(handles, setup.tok, pad_token_id=setup.hf_tok.pad_token_id)
    if cfg == "xgrammar":
        import xgrammar as xgr

        return xgr.contrib.hf.LogitsProcessor(handles)
    return LLGuidanceProcessor(setup.llg_tok(), handles)


# ----------------------------------------------------------------------------- evaluation
def validate(text: str, schema) -> tuple[bool, str | None]:
    import jsonschema

    try:
        value = json.loads(text)
    except ValueError:
        return False, "not JSON"
    try:
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        errs = next(iter(cls(schema).iter_errors(value)), None)
    except Exception as e:  # the validator cannot handle the schema (remote $ref, bad regex, ...)
        return False, f"validator error: {type(e).__name__}"
    return errs is None, None if errs is None else "invalid"


def prefill(setup: Setup, cases: list[dict], args) -> dict:
    """Tokenise the batch (left padding) and run the prompt minus its last token once: every
    configuration starts from a copy of this KV cache, so the timed part is decoding."""
    import torch

    from constrain.generate import format_prompt

    texts = [format_prompt(setup.hf_tok, make_prompt(c["schema"], args.schema_chars))[0] for c in cases]
    setup.hf_tok.padding_side = "left"
    enc = setup.hf_tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    am = enc.attention_mask
    pos = (am.cumsum(-1) - 1).clamp(min=0)
    t = time.perf_counter()
    with torch.no_grad():
        out = setup.model(input_ids=enc.input_ids[:, :-1], attention_mask=am[:, :-1], position_ids=pos[:, :-1], use_cache=True)
    return {"ids": [c["id"] for c in cases], "enc": enc, "cache": getattr(out, cache_kw(setup.model)),
            "prefill_s": time.perf_counter() - t}


def cache_kw(model) -> str:
    """The KV-cache keyword: transformers 5.2x renamed ``past_key_values`` to ``cache`` (the old name warns)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def run_batch(cfg: str, setup: Setup, cases: list[dict], pre: dict | None, args) -> list[dict]:
    import copy

    import torch

    rows: list[dict] = []
    live: list[int] = []
    handles: list = []
    for i, c in enumerate(cases):
        rec = {"id": c["id"], "source": source_of(c["id"]), "config": cfg}
        t = time.perf_counter()
        try:
            h = compile_for(cfg, setup, c["schema"])
            rec["compile_s"] = time.perf_counter() - t
            rec["compile_error"] = None
            live.append(i)
            handles.append(h)
        except Exception as e:
            rec["compile_s"] = time.perf_counter() - t
            rec["compile_error"] = f"{type(e).__name__}: {str(e)[:300]}"
        rows.append(rec)
    if not live:
        return rows
    if pre is None or len(live) != len(cases):  # compile failures drop rows: prefill the rows that run
        pre = prefill(setup, [cases[i] for i in live], args)
    enc = pre["enc"]
    cache = copy.deepcopy(pre["cache"])
    proc = make_processor(cfg, setup, handles)
    timed = TimedProcessor(proc) if proc is not None else None
    t = time.perf_counter()
    with torch.no_grad():
        out = setup.model.generate(**enc, **{cache_kw(setup.model): cache}, logits_processor=[timed] if timed else None,
                                   do_sample=False, temperature=None, top_p=None, top_k=None,
                                   max_new_tokens=args.max_new_tokens, eos_token_id=setup.stops,
                                   pad_token_id=setup.hf_tok.pad_token_id)
    wall = time.perf_counter() - t
    gen = out[:, enc.input_ids.shape[1]:].tolist()
    steps = max(len(r) for r in gen)
    stops = set(setup.stops)
    for j, i in enumerate(live):
        ids, finished = [], False
        for tkn in gen[j]:
            if tkn in stops:
                finished = True
                break
            ids.append(tkn)
        text = setup.tok.decode(ids).decode("utf-8", errors="replace")
        ok, why = validate(text, cases[i]["schema"])
        rows[i].update(text=text, n_tokens=len(ids) + int(finished), finished=finished, valid=ok, why=why)
        if cfg == "constrain" and finished:
            # a stop forced after a dead end (the documented value-end bound) is not a finish:
            # as in constrain.generate, the row counts as unfinished (and invalid), flagged
            m = proc.matcher_for(ids + [gen[j][len(ids)]], j)
            if m is None or not m.is_terminated():
                rows[i].update(finished=False, dead_end=True)
    batch = {"wall_s": wall, "steps": steps, "rows": len(live), "prompt_tokens": int(enc.input_ids.shape[1]),
             "prefill_s": pre["prefill_s"],
             "proc_s": timed.seconds if timed else 0.0, "proc_calls": timed.calls if timed else 0}
    for i in live:
        rows[i]["batch"] = batch
    return rows


# ----------------------------------------------------------------------------- report
def summarize(records: list[dict], n_cases: int) -> dict:
    out = {}
    for cfg in CONFIGS:
        rs = [r for r in records if r["config"] == cfg]
        if not rs:
            continue
        ran = [r for r in rs if r.get("compile_error") is None]
        fin = [r for r in ran if r.get("finished")]
        batches = {id(r["batch"]): r["batch"] for r in ran if "batch" in r}.values()
        wall = sum(b["wall_s"] for b in batches)
        steps = sum(b["steps"] for b in batches)
        proc = sum(b["proc_s"] for b in batches)
        toks = sum(r.get("n_tokens", 0) for r in ran)
        comp = sorted(r["compile_s"] for r in rs if cfg != "unconstrained")
        out[cfg] = {
            "schemas": len(rs),
            "compile_failures": len(rs) - len(ran),
            "crashes": sum(1 for r in rs if r.get("crash")),
            "dead_ends": sum(1 for r in rs if r.get("dead_end")),
            "compile_failure_rate": (len(rs) - len(ran)) / len(rs),
            "coverage": sum(bool(r.get("valid")) for r in rs) / len(rs),
            "valid_of_finished": (sum(bool(r.get("valid")) for r in fin) / len(fin)) if fin else None,
            "finished": len(fin),
            "truncation_rate": (sum(not r.get("finished") and not r.get("dead_end") for r in ran) / len(ran)) if ran else None,
            "output_tokens": toks,
            "wall_s": wall,
            "steps": steps,
            "s_per_output_token": wall / toks if toks else None,
            "s_per_step": wall / steps if steps else None,
            "proc_s_per_step": proc / steps if steps else None,
            "tokens_per_s": toks / wall if wall else None,
            "compile_s_median": comp[len(comp) // 2] if comp else None,
            "compile_s_max": comp[-1] if comp else None,
        }
    base = out.get("unconstrained")
    for cfg, s in out.items():
        if base and base["s_per_step"] and s["s_per_step"] is not None:
            s["overhead_step_vs_unconstrained"] = s["s_per_step"] / base["s_per_step"] - 1
            s["processor_overhead"] = s["proc_s_per_step"] / base["s_per_step"]
        if base and base["s_per_output_token"] and s["s_per_output_token"] is not None:
            s["overhead_tpot_vs_unconstrained"] = s["s_per_output_token"] / base["s_per_output_token"] - 1
    return out


def _pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def _ms(x):
    return "-" if x is None else f"{1000 * x:.1f}"


def table(summary: dict, meta: dict) -> str:
    lines = [
        f"End-to-end JSONSchemaBench ({meta['n_schemas']} schemas, {meta['n_sources']} sources, seed {meta['seed']}, "
        f"SmolLM2-135M-Instruct, greedy, max_new_tokens={meta['max_new_tokens']}, batch {meta['batch_size']}, "
        f"torch threads {meta['threads']}, {meta.get('machine', '')})",
        "",
        "| config | compile fail | crashes | coverage (valid / all) | valid / finished | truncated | dead ends | ms / output token "
        "| ms / step | processor ms / step | processor overhead | step overhead | tokens/s | compile p50 ms |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for cfg, s in summary.items():
        lines.append(
            f"| {cfg} | {_pct(s['compile_failure_rate'])} ({s['compile_failures']}) | {s['crashes']} | {_pct(s['coverage'])} "
            f"| {_pct(s['valid_of_finished'])} ({s['finished']}) | {_pct(s['truncation_rate'])} "
            f"| {s['dead_ends'] if cfg == 'constrain' else '-'} "
            f"| {_ms(s['s_per_output_token'])} | {_ms(s['s_per_step'])} | {_ms(s['proc_s_per_step'])} "
            f"| {_pct(s.get('processor_overhead')) if cfg != 'unconstrained' else '-'} "
            f"| {_pct(s.get('overhead_step_vs_unconstrained')) if cfg != 'unconstrained' else '-'} "
            f"| {s['tokens_per_s']:.1f} | {_ms(s['compile_s_median'])} |"
            if s["tokens_per_s"] is not None else f"| {cfg} | {_pct(s['compile_failure_rate'])} | {s['crashes']} | - | - | - | - | - | - | - | - | - | - | - |")
    lines += [
        "",
        "coverage: schemas whose output parses and validates (jsonschema), compile failures count as not covered. "
        "finished: stopped by a stop token the grammar accepted; dead ends: constrain rows whose stop was forced because "
        "no token was allowed (the documented value-end bound), counted as unfinished and invalid. "
        "processor overhead: time inside the logits processor per decoding step / the unconstrained step time. "
        "step overhead: (wall time / steps) vs unconstrained (includes output-length effects on attention).",
    ]
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cfgs = list(summary)
    fig, ax = plt.subplots(1, 3, figsize=(14, 4))
    ax[0].bar(cfgs, [100 * summary[c]["coverage"] for c in cfgs], color="tab:green")
    ax[0].set_ylabel("coverage: valid outputs (%)")
    ax[1].bar(cfgs, [1000 * (summary[c]["s_per_step"] or 0) for c in cfgs], color="tab:blue", label="step")
    ax[1].bar(cfgs, [1000 * (summary[c]["proc_s_per_step"] or 0) for c in cfgs], color="tab:red", label="logits processor")
    ax[1].set_ylabel("ms per decoding step")
    ax[1].legend()
    ax[2].bar(cfgs, [100 * (summary[c]["truncation_rate"] or 0) for c in cfgs], color="tab:orange", label="truncated")
    ax[2].bar(cfgs, [100 * summary[c]["compile_failure_rate"] for c in cfgs], bottom=[100 * (summary[c]["truncation_rate"] or 0) for c in cfgs],
              color="tab:gray", label="compile failure")
    ax[2].set_ylabel("% of schemas")
    ax[2].legend()
    for a in ax:
        a.tick_params(axis="x", rotation=20)
    fig.suptitle("JSONSchemaBench end-to-end, SmolLM2-135M-Instruct (CPU)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=100, help="number of schemas (stratified by source)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=256)
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (0: torch's default; 1 is steadier when other jobs share the CPU)")
    ap.add_argument("--schema-chars", type=int, default=2000, help="cap on the schema text put in the prompt")
    ap.add_argument("--model", default=None, help="model path (default: the embedded SmolLM2)")
    ap.add_argument("--name", default=None, help="result file stem (default e2e, or e2e_limit<N>_seed<S>)")
    ap.add_argument("--ids", default=None, help="comma-separated case ids instead of a sample (debugging)")
    args = ap.parse_args(argv)
    import torch
    from tqdm.auto import tqdm

    if args.threads:
        torch.set_num_threads(args.threads)
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            ap.error(f"unknown config {c!r}; choose from {', '.join(CONFIGS)}")
    cases = load_cases()
    if args.ids:
        want = args.ids.split(",")
        cases = [c for c in cases if c["id"] in want]
    else:
        cases = stratified_sample(cases, args.limit, args.seed)
    setup = Setup(args.model)
    # sort by prompt length so batches pad little
    lens = {c["id"]: len(setup.hf_tok(make_prompt(c["schema"], args.schema_chars)).input_ids) for c in cases}
    cases.sort(key=lambda c: lens[c["id"]])
    name = args.name or ("e2e" if (args.limit == 100 and args.seed == 0 and not args.ids) else f"e2e_limit{args.limit}_seed{args.seed}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {"n_schemas": len(cases), "n_sources": len({source_of(c["id"]) for c in cases}), "seed": args.seed,
            "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size, "threads": torch.get_num_threads(),
            "configs": configs, "schema_chars": args.schema_chars, "machine": f"{os.cpu_count()} CPUs",
            "sources": sorted({source_of(c["id"]) for c in cases})}
    warm = stratified_sample(load_cases(), 2, 12345)
    warm_args = argparse.Namespace(**{**vars(args), "max_new_tokens": 8})
    for cfg in configs:  # first-use costs (JIT, lazy tables) stay out of the timings
        run_batch(cfg, setup, warm, prefill(setup, warm, warm_args), warm_args)
    records: list[dict] = []
    batches = [cases[i: i + args.batch_size] for i in range(0, len(cases), args.batch_size)]
    t0 = time.time()
    for bi, batch in enumerate(tqdm(batches, desc="e2e batches", unit="batch")):
        pre = prefill(setup, batch, args)
        k = bi % len(configs)  # rotate the order so load drift does not favour one configuration
        for cfg in configs[k:] + configs[:k]:
            try:
                rows = run_batch(cfg, setup, batch, pre, args)
            except Exception:  # one bad schema must not sink its batch: rerun the rows one by one
                rows = []
                for c in batch:
                    try:
                        rows += run_batch(cfg, setup, [c], None, args)
                    except Exception as e:  # recorded as a crash (not covered), never hidden
                        rows.append({"id": c["id"], "source": source_of(c["id"]), "config": cfg, "compile_s": 0.0,
                                     "compile_error": None, "crash": f"{type(e).__name__}: {e}",
                                     "traceback": traceback.format_exc()[-3000:],
                                     "finished": False, "valid": False, "n_tokens": 0})
            records.extend(rows)
        summary = summarize(records, len(cases))
        meta["elapsed_s"] = time.time() - t0
        meta["batches_done"] = bi + 1
        out = {"meta": meta, "summary": summary,
               "records": [{k: v for k, v in r.items() if k != "batch"} | ({"batch": r["batch"]} if "batch" in r else {}) for r in records]}
        (RESULTS / f"{name}.json").write_text(json.dumps(out, indent=1, default=str))
        md = table(summary, meta)
        if bi + 1 < len(batches):
            md += f"\n\n(partial: {bi + 1} of {len(batches)} batches)"
        (RESULTS / f"{name}.md").write_text(md + "\n")
        plot(summary, RESULTS / f"{name}.png")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
