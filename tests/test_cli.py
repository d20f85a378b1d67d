"""The `constrain` command line, run as a subprocess: errors are one line, never a traceback."""
import json
import os
import re
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=600):
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env.pop("CONSTRAIN_DEBUG", None)
    p = subprocess.run([sys.executable, "-m", "constrain.cli", *args], capture_output=True, text=True,
                       timeout=timeout, cwd=REPO, env=env)
    return p.returncode, p.stdout, p.stderr


def assert_one_line_error(rc, err, *needles):
    assert rc != 0
    assert "Traceback" not in err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("constrain: error:"), lines[0]
    for n in needles:
        assert n in lines[0], lines[0]


def test_missing_schema_file(tmp_path):
    rc, out, err = run("generate", "--schema", str(tmp_path / "nope.json"), "--prompt", "x")
    assert_one_line_error(rc, err, "no such file", "nope.json")


def test_schema_file_not_json(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('{"type": 12')
    rc, out, err = run("generate", "--schema", str(f), "--prompt", "x")
    assert_one_line_error(rc, err, "not valid JSON")


def test_missing_grammar_file():
    rc, out, err = run("generate", "--grammar", "does/not/exist.lark", "--prompt", "x")
    assert_one_line_error(rc, err, "no such file")


def test_unknown_grammar_name():
    rc, out, err = run("generate", "--grammar", "klingon", "--prompt", "x")
    assert_one_line_error(rc, err, "unknown grammar", "klingon")


def test_unknown_benchmark():
    rc, out, err = run("bench", "no_such_bench")
    assert_one_line_error(rc, err, "unknown benchmark")


def test_missing_prompt_is_usage_error():
    rc, out, err = run("generate", "--regex", "a")
    assert rc == 2 and "Traceback" not in err and "--prompt" in err


@pytest.mark.slow
def test_bad_schema(tmp_path):
    f = tmp_path / "s.json"
    f.write_text('{"type": "frob"}')
    rc, out, err = run("generate", "--schema", str(f), "--prompt", "x")
    assert_one_line_error(rc, err, "SchemaError")


@pytest.mark.slow
def test_check_supported_and_unsupported(tmp_path):
    ok = tmp_path / "ok.json"
    ok.write_text(json.dumps({"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}))
    rc, out, err = run("check", "--schema", str(ok))
    assert rc == 0 and out.startswith("supported"), (rc, out, err)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "object", "properties": {"b": {"type": "object", "unevaluatedProperties": False,
                                                                      "properties": {"x": {"type": "string"}}}}}))
    rc, out, err = run("check", "--schema", str(bad))
    assert "Traceback" not in err
    if rc == 1:  # unsupported constructs are named with their JSON pointers
        lines = out.strip().splitlines()
        assert lines and all(re.match(r"unsupported: \S+ at #", l) for l in lines), out
        assert any("#/properties/b" in l for l in lines), out
    else:
        assert rc == 0 and out.startswith("supported"), (rc, out, err)


@pytest.mark.slow
def test_generate_regex_json_output():
    rc, out, err = run("generate", "--regex", r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "--prompt", "Today's date?", "--json",
                       "-q", "--max-new-tokens", "16")
    assert rc == 0, err
    d = json.loads(out)
    assert d["finished"] is True
    assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", d["text"]) and d["value"] == d["text"]


@pytest.mark.slow
def test_generate_schema_text_output(tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"],
                             "additionalProperties": False}))
    rc, out, err = run("generate", "--schema", str(f), "--prompt", "Is the sky blue? JSON.", "-q", "--max-new-tokens", "24")
    assert rc == 0, err
    v = json.loads(out)
    assert isinstance(v["ok"], bool) and set(v) == {"ok"}
