"""Device-side bitmask unpacking/application against numpy's unpacking."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import constrain.generate  # noqa: F401  (makes constrain.integrations importable from a checkout)
from constrain.integrations.torch_mask import apply_bitmask, unpack_bitmask


def _np_unpack(mask: np.ndarray, width: int) -> np.ndarray:
    bits = np.unpackbits(mask.view(np.uint8), axis=-1, bitorder="little").astype(bool)
    if bits.shape[-1] >= width:
        return bits[..., :width]
    pad = np.zeros(bits.shape[:-1] + (width - bits.shape[-1],), dtype=bool)
    return np.concatenate([bits, pad], axis=-1)


@pytest.mark.parametrize("width", [1, 31, 32, 33, 1000, 49152, 49152 + 64, 4000 - 5])
def test_unpack_matches_numpy(width):
    rng = np.random.default_rng(width)
    words = (min(width, 49152) + 31) // 32
    mask = rng.integers(0, 2**32, size=(3, words), dtype=np.uint64).astype(np.uint32)
    mask[0, :] = 0xFFFFFFFF  # sign bit set everywhere: arithmetic shifts must not leak
    mask[1, :] = 0
    got = unpack_bitmask(mask, width).numpy()
    assert got.shape == (3, width)
    assert np.array_equal(got, _np_unpack(mask, width))


def test_unpack_1d_and_high_bit():
    mask = np.zeros(2, dtype=np.uint32)
    mask[0] = np.uint32(1 << 31)
    mask[1] = np.uint32(1)
    got = unpack_bitmask(mask, 64).numpy()
    assert got.nonzero()[0].tolist() == [31, 32]


def test_apply_sets_minus_inf_and_extra_columns():
    V, width = 100, 128  # logits wider than the tokenizer: columns >= V must be disallowed
    mask = np.zeros((2, (V + 31) // 32), dtype=np.uint32)
    allowed = [[0, 5, 99], [31, 32, 64]]
    for r, ids in enumerate(allowed):
        for i in ids:
            mask[r, i // 32] |= np.uint32(1 << (i % 32))
    mask[0, 3] |= np.uint32(1 << 31)  # bit for id 127 lies past V but inside the last word
    logits = torch.randn(2, width)
    out = apply_bitmask(logits, mask)
    assert not torch.equal(out, logits) and torch.isfinite(logits).all()  # not in place by default
    for r, ids in enumerate(allowed):
        finite = torch.isfinite(out[r]).nonzero().flatten().tolist()
        expect = ids + ([127] if r == 0 else [])
        assert finite == expect
        assert torch.equal(out[r, ids], logits[r, ids])
    apply_bitmask(logits, mask, inplace=True)
    assert torch.equal(torch.isfinite(logits), torch.isfinite(out))


def test_apply_narrower_logits_cuts_mask():
    mask = np.full(4, 0xFFFFFFFF, dtype=np.uint32)
    out = apply_bitmask(torch.zeros(1, 100), mask[None])
    assert out.shape == (1, 100) and torch.isfinite(out).all()


def test_bad_dtype_rejected():
    with pytest.raises(TypeError):
        unpack_bitmask(np.zeros(3, dtype=np.float32), 10)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 2**32, size=(4, 1536), dtype=np.uint64).astype(np.uint32)
    logits = torch.randn(4, 49152 + 100)
    cpu = apply_bitmask(logits, mask)
    gpu = apply_bitmask(logits.cuda(), mask).cpu()
    assert torch.equal(torch.isinf(cpu), torch.isinf(gpu))
