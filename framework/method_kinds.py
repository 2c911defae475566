"""The training methods grouped by what a family plugin's defaults depend on.

Plugins choose a learning rate and LoRA targets per method; the groups are the same for every
family, so they are defined once here (they used to be redefined in each plugin's presets and
disagreed about ``hybrid``). ``hybrid`` is in two groups on purpose: its full phase updates
the model's own weights (it takes the full-fine-tuning rate, which the LoRA phase keeps) and its
LoRA phase needs target modules. ``tests/test_method_kinds.py`` checks the groups cover every
method the config accepts.
"""

from __future__ import annotations

from framework.config import ADAPTER_METHODS, PROMPT_METHODS

#: Train only LoRA adapters, the base frozen: the adapter learning rate.
LORA_METHODS = frozenset({"lora", "dora", "rslora", "qlora", "qlora8"})
#: Need the family's LoRA target modules (hybrid's second phase included).
LORA_TARGETED = ADAPTER_METHODS
#: Update the model's own weights: the full-fine-tuning learning rate.
WEIGHT_UPDATING = frozenset({"full", "freeze", "hybrid"})
#: Quantize the frozen base (bitsandbytes).
QUANTIZED = frozenset({"qlora", "qlora8"})
#: Virtual tokens only (peft prompt learning).
PROMPT = PROMPT_METHODS
#: Bottleneck adapter modules after attention and MLP, the base frozen.
BOTTLENECK = frozenset({"adapter"})

assert LORA_METHODS | {"hybrid"} == LORA_TARGETED, "config.ADAPTER_METHODS changed: update the groups"
