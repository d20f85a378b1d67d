"""Apply packed uint32 token bitmasks to logits on the logits' device.

A bitmask row is ``uint32[ceil(V/32)]``; token ``i`` is allowed iff bit ``i % 32``
of word ``i // 32`` is set. The mask is moved to the device packed (32x smaller
than a boolean mask) and unpacked there with a shift-and-and against
``arange(32)``: no Python loop over the vocabulary, one small host-to-device copy.
On CUDA the host buffer is pinned so the copy is asynchronous.

Logits wider than the mask (padded vocabularies) get their extra columns
disallowed; a mask wider than the logits is cut to the logits' width.
"""
from __future__ import annotations

import numpy as np
import torch

_SHIFTS: dict[torch.device, torch.Tensor] = {}


def _shifts(device: torch.device) -> torch.Tensor:
    s = _SHIFTS.get(device)
    if s is None:
        s = _SHIFTS[device] = torch.arange(32, dtype=torch.int32, device=device)
    return s


def bitmask_to_device(mask: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """The packed mask as an int32 tensor on ``device`` (same bits, no unpacking)."""
    device = torch.device(device)
    if isinstance(mask, torch.Tensor):
        t = mask if mask.dtype == torch.int32 else mask.view(torch.int32)
        return t.to(device, non_blocking=True)
    if mask.dtype != np.uint32 and mask.dtype != np.int32:
        raise TypeError(f"bitmask must be uint32 or int32, got {mask.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(mask).view(np.int32))
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t if device.type == "cpu" else t.to(device)


def unpack_bitmask(mask: np.ndarray | torch.Tensor, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean ``allowed`` tensor of shape ``mask.shape[:-1] + (width,)`` on ``device``.

    Columns past the mask's ``32 * words`` bits are False (disallowed).
    """
    device = torch.device(device)
    if device.type == "cpu" and isinstance(mask, np.ndarray) and mask.dtype in (np.uint32, np.int32):
        # on the CPU numpy's unpackbits (C, little bit order = token order) is ~10x faster
        # than the shift-and-and below; the result is shared with torch, not copied
        m = np.ascontiguousarray(mask)
        bits = np.unpackbits(m.view(np.uint8), axis=-1, bitorder="little", count=min(width, m.shape[-1] * 32))
        allowed = torch.from_numpy(bits.view(np.bool_))
        n = allowed.shape[-1]
        if n < width:
            pad = torch.zeros(allowed.shape[:-1] + (width - n,), dtype=torch.bool)
            allowed = torch.cat([allowed, pad], dim=-1)
        return allowed
    packed = bitmask_to_device(mask, device)
    bits = (packed.unsqueeze(-1) >> _shifts(packed.device)) & 1  # [..., W, 32]
    allowed = bits.to(torch.bool).flatten(-2)  # [..., W*32]; bit i of word w -> column 32*w + i
    n = allowed.shape[-1]
    if n >= width:
        return allowed[..., :width]
    pad = torch.zeros(allowed.shape[:-1] + (width - n,), dtype=torch.bool, device=allowed.device)
    return torch.cat([allowed, pad], dim=-1)


def apply_bitmask(logits: torch.Tensor, mask: np.ndarray | torch.Tensor, *, inplace: bool = False) -> torch.Tensor:
    """Set disallowed logits to ``-inf``. ``logits`` is ``[V']`` or ``[B, V']``; ``mask`` ``[W]`` or ``[B, W]``."""
    allowed = unpack_bitmask(mask, logits.shape[-1], logits.device)
    if allowed.dim() < logits.dim():
        allowed = allowed.expand_as(logits)
    if inplace:
        return logits.masked_fill_(~allowed, float("-inf"))
    return logits.masked_fill(~allowed, float("-inf"))
