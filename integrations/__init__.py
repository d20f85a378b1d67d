"""Integrations of constrain with inference frameworks (installed as ``constrain.integrations``).

* :mod:`constrain.integrations.hf`: ``GrammarLogitsProcessor`` for Hugging Face ``transformers``.
* :mod:`constrain.integrations.torch_mask`: unpack a packed uint32 token bitmask on the logits' device and apply it.
"""
