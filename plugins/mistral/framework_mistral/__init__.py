"""Mistral family plugin for framework: Mistral 7B (v0.1, v0.2, v0.3), Mistral NeMo and Mixtral.

The hook implementations live in ``framework_mistral.plugin`` (the entry point); each concern
has its own module: detection, chat format, checks, presets, RoPE policy.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
