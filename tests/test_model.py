"""load_model: the embedded GGUF, the de-quantised cache (atomic, marker-checked), clear errors."""
import os

import pytest

from constrain.model import (ModelLoadError, _MARKER, cached_model_dir, default_model_path, load_model)


def test_default_model_path():
    p = default_model_path()
    assert p.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and os.path.getsize(p) > 50_000_000


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(tmp_path / "nope.gguf")


def test_dir_without_model(tmp_path):
    with pytest.raises(ModelLoadError, match="gguf"):
        load_model(tmp_path)


def test_not_a_gguf_file(tmp_path):
    f = tmp_path / "weights.bin"
    f.write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError):
        load_model(f)


def test_corrupt_gguf_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSTRAIN_CACHE_DIR", str(tmp_path / "cache"))
    f = tmp_path / "broken.gguf"
    f.write_bytes(b"GGUF" + b"\x07" * 64)
    with pytest.raises(ModelLoadError, match="cannot load"):
        load_model(f, progress=False)


def test_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CONSTRAIN_CACHE_DIR", str(tmp_path))
    d = cached_model_dir()
    assert str(d).startswith(str(tmp_path / "models"))
    monkeypatch.setenv("CONSTRAIN_CACHE_DIR", "off")
    assert cached_model_dir() is None


@pytest.mark.slow
def test_cold_load_replaces_half_written_cache_then_cached_load(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setenv("CONSTRAIN_CACHE_DIR", str(tmp_path))
    target = cached_model_dir()
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"half written")  # no COMPLETE marker: must not be trusted
    model, tok = load_model(progress=False)
    assert (target / _MARKER).exists()
    assert model.config.vocab_size == 49152 and tok.chat_template and tok.eos_token == "<|im_end|>"
    assert not [p for p in os.listdir(tmp_path / "models") if ".tmp-" in p]  # no temp dirs left behind
    model2, tok2 = load_model(progress=False)  # from the cache
    sd1, sd2 = model.state_dict(), model2.state_dict()
    assert sd1.keys() == sd2.keys() and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert tok2("hello world").input_ids == tok("hello world").input_ids
