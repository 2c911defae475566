"""Qwen family plugin for ``framework``: detection, ChatML rendering, pitfalls and defaults.

The plugin is loaded through the ``framework`` entry point ``qwen`` (``framework_qwen.plugin``);
the other modules hold one concern each and are importable on their own for tests.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
