"""The ``constrain`` command line.

    constrain generate --schema FILE | --grammar NAME|FILE | --regex RX | --choices A,B --prompt TEXT
                       [--model PATH] [--json] [--max-new-tokens N] [--sample] [--raw-prompt]
    constrain check --schema FILE
    constrain bench NAME [ARGS...]          # runs bench/NAME.py from a source checkout

Errors print one line on stderr (``constrain: error: ...``) and exit with status 2;
``check`` exits 1 when the schema uses unsupported keywords.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

EXIT_ERROR = 2


class CLIError(Exception):
    """A user error reported as one line."""


def _read_json_file(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise CLIError(f"no such file: {path}") from None
    except OSError as e:
        raise CLIError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        return json.loads(text)
    except ValueError as e:
        raise CLIError(f"{path} is not valid JSON: {e}") from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="constrain", description="Exact grammar-constrained generation with a local model.")
    sub = p.add_subparsers(dest="cmd", required=True)

    g = sub.add_parser("generate", help="generate text under a schema, grammar, regex or choice list")
    c = g.add_mutually_exclusive_group(required=False)
    c.add_argument("--schema", metavar="FILE", help="JSON Schema file")
    c.add_argument("--grammar", metavar="NAME|FILE", help="a shipped grammar name (json, python, ...) or a .lark file")
    c.add_argument("--regex", metavar="RX", help="a regular expression the whole output must match")
    c.add_argument("--choices", metavar="A,B,...", help="comma-separated list of allowed outputs")
    g.add_argument("--prompt", required=True, help="the prompt (chat template applied unless --raw-prompt)")
    g.add_argument("--model", metavar="PATH", help="a .gguf file or local HF model directory (default: embedded SmolLM2-135M-Instruct)")
    g.add_argument("--json", action="store_true", help="print a JSON object with text, value, finished, timings")
    g.add_argument("--max-new-tokens", type=int, default=256)
    g.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    g.add_argument("--temperature", type=float, default=None)
    g.add_argument("--seed", type=int, default=None)
    g.add_argument("--raw-prompt", action="store_true", help="use the prompt as-is, without the chat template")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars")

    k = sub.add_parser("check", help="say whether a JSON Schema is fully supported")
    k.add_argument("--schema", metavar="FILE", required=True)
    k.add_argument("--model", metavar="PATH", help="tokenizer source (default: the embedded model)")

    b = sub.add_parser("bench", help="run a benchmark script from bench/ (source checkout)")
    b.add_argument("name", help="benchmark name, e.g. e2e")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the benchmark")
    return p


def _tokenizer_info(model_path: str | None, quiet: bool):
    from .generate import tokenizer_info
    from .model import load_tokenizer

    return tokenizer_info(load_tokenizer(model_path, progress=not quiet))


def cmd_generate(a) -> int:
    if a.max_new_tokens <= 0:
        raise CLIError("--max-new-tokens must be positive")
    constraint: dict = {}
    if a.schema:
        constraint["schema"] = _read_json_file(a.schema)
    elif a.grammar:
        if os.path.exists(a.grammar):
            try:
                constraint["grammar"] = Path(a.grammar).read_text(encoding="utf-8")
            except OSError as e:
                raise CLIError(f"cannot read {a.grammar}: {e.strerror or e}") from None
        elif a.grammar.endswith(".lark") or os.sep in a.grammar:
            raise CLIError(f"no such file: {a.grammar}")
        else:
            constraint["grammar"] = a.grammar
    elif a.regex is not None:
        constraint["regex"] = a.regex
    elif a.choices is not None:
        constraint["choices"] = [s for s in a.choices.split(",")]
    if "grammar" in constraint and re.fullmatch(r"[A-Za-z0-9_]+", constraint["grammar"]):
        from .frontends.lark_frontend import load_grammar

        load_grammar(constraint["grammar"])  # an unknown name fails here, before any model work
    from .generate import compile_constraint, generate, tokenizer_info
    from .model import load_model, load_tokenizer

    t0 = time.perf_counter()
    compile_constraint(tokenizer_info(load_tokenizer(a.model)), **constraint)  # bad schema/grammar: fail fast
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    model, hf_tok = load_model(a.model, progress=not a.quiet)
    t_load = time.perf_counter() - t0
    kw = {}
    if a.temperature is not None:
        kw["temperature"] = a.temperature
    if a.seed is not None:
        import torch

        torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    r = generate(model, hf_tok, a.prompt, max_new_tokens=a.max_new_tokens, sampler="sample" if a.sample else "greedy",
                 raw_prompt=a.raw_prompt, **constraint, **kw)
    t_gen = time.perf_counter() - t0
    if a.json:
        print(json.dumps({
            "text": r.text, "value": r.value, "finished": r.finished, "error": r.error,
            "n_tokens": len(r.token_ids),
            "seconds": {"tokenizer_and_compile": round(t_compile, 3), "load_model": round(t_load, 3), "generate": round(t_gen, 3)},
        }, ensure_ascii=False))
    else:
        print(r.text)
        if not r.finished:
            print(f"constrain: warning: output cut at --max-new-tokens {a.max_new_tokens}", file=sys.stderr)
    return 0


def cmd_check(a) -> int:
    from .errors import UnsupportedSchemaError

    schema = _read_json_file(a.schema)
    import constrain

    tok = _tokenizer_info(a.model, True)
    compile_json_schema = constrain.compile_json_schema
    relaxed = None
    try:
        g = compile_json_schema(schema, tok, lenient=True)
        relaxed = list(getattr(g, "relaxed", None) or [])
    except TypeError as e:  # no lenient mode in this version: strict compile names the first problem
        if "lenient" not in str(e):
            raise
        try:
            compile_json_schema(schema, tok)
        except UnsupportedSchemaError as u:
            print(f"unsupported: {u.keyword or '?'} at {u.pointer or '#'}: {u}")
            return 1
    except UnsupportedSchemaError as u:  # not even lenient mode can relax it
        print(f"unsupported: {u.keyword or '?'} at {u.pointer or '#'}: {u}")
        return 1
    if relaxed:
        for item in relaxed:
            print(f"unsupported: {_describe_relaxed(item)}")
        return 1
    print(f"supported: {a.schema}")
    return 0


def _describe_relaxed(item) -> str:
    """One line for a relaxed construct (an exception, a dict or an object with keyword/pointer)."""
    if isinstance(item, dict):
        kw, ptr = item.get("keyword"), item.get("pointer")
        msg = item.get("message") or item.get("reason")
    elif isinstance(item, str):
        return item
    elif isinstance(item, (tuple, list)) and len(item) >= 2:
        a, b = str(item[0]), str(item[1])
        ptr_first = a.startswith("#") or a.startswith("/") or a == ""
        ptr, kw = (a, b) if ptr_first else (b, a)
        msg = str(item[2]) if len(item) > 2 else None
    else:
        kw, ptr = getattr(item, "keyword", None), getattr(item, "pointer", None)
        msg = getattr(item, "message", None) or getattr(item, "reason", None) or str(item)
    out = f"{kw or '?'} at {ptr or '#'}"
    return f"{out}: {msg}" if msg and msg != out else out


def cmd_bench(a) -> int:
    import re
    import runpy

    if not re.fullmatch(r"[A-Za-z0-9_]+", a.name):
        raise CLIError(f"bad benchmark name {a.name!r}")
    root = Path(__file__).resolve().parent.parent / "bench"
    script = root / f"{a.name}.py"
    if not script.exists():
        names = sorted(p.stem for p in root.glob("*.py")
                       if not p.stem.startswith("_") and "__main__" in p.read_text(encoding="utf-8", errors="replace")) if root.is_dir() else []
        hint = f"; available: {', '.join(names)}" if names else " (benchmarks need a source checkout)"
        raise CLIError(f"unknown benchmark {a.name!r}{hint}")
    args = list(a.args)
    if args and args[0] == "--":
        args = args[1:]
    sys.argv = [str(script), *args]
    sys.path.insert(0, str(root.parent))
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    from .errors import ConstrainError

    try:
        if a.cmd == "generate":
            return cmd_generate(a)
        if a.cmd == "check":
            return cmd_check(a)
        return cmd_bench(a)
    except CLIError as e:
        print(f"constrain: error: {e}", file=sys.stderr)
    except ConstrainError as e:
        print(f"constrain: error: {type(e).__name__}: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("constrain: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug, still reported as one line; CONSTRAIN_DEBUG=1 shows the traceback
        if os.environ.get("CONSTRAIN_DEBUG"):
            raise
        print(f"constrain: internal error: {type(e).__name__}: {e} (set CONSTRAIN_DEBUG=1 for a traceback)", file=sys.stderr)
        return 3
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
