"""What `framework plan` says about the chosen method: when it is the right one, from the seeds.

Seed 001 (总结/选择建议) and seed 002 (Adapter Tuning, LoRA vs Adapter) give the guidance:
adapters keep one small file per task on one frozen base, so serving many tasks switches
files; LoRA merges into the weights, so one task costs nothing at inference.
"""

from __future__ import annotations

MANY_TASKS = ("many tasks served from one base -> adapter (one small adapter per task, switched at load time; "
              "adds layers, never merged); one task -> LoRA (merged into the weights, no inference cost)")

NOTES: dict[str, tuple[str, ...]] = {
    "adapter": (MANY_TASKS,
                "bottleneck adapters run after every attention/MLP sublayer: a little more compute per token at "
                "inference, and `framework merge` refuses them"),
    "lora": (MANY_TASKS,),
    "dora": (MANY_TASKS,),
    "rslora": (MANY_TASKS,),
    "qlora": (MANY_TASKS,),
    "qlora8": (MANY_TASKS,),
    "full": ("resources ample -> full fine-tuning; with unfreeze.schedule the lower layers join progressively "
             "(top-down), which keeps early memory and early forgetting low",),
}


def method_notes(method: str) -> tuple[str, ...]:
    """The notes for ``method`` (empty when the seeds say nothing particular about it)."""
    return NOTES.get(method, ())
