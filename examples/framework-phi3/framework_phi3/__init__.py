"""Phi-3 family plugin for ``framework``: Phi-3 mini/medium (4k and 128k context) and Phi-3.5-mini.

An example of a third-party plugin: a distribution of its own, found through the ``framework``
entry point, tested with ``framework.testing.PluginContract``. The hook implementations live in
``framework_phi3.plugin``; every other module holds one concern.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
