"""How a Llama 4 model reaches a training length: native within its context, refused beyond.

Scout ships ``rope_type: llama3`` with factor 16 over 8192 (10,485,760 positions); Maverick plain
RoPE with 1,048,576 positions. No Llama 4 release goes further, so longer targets are refused
rather than stacking a second scaling. Two facts of the architecture are reported with the
decision because they change what a long sample sees:

* chunked attention: the RoPE layers attend only within ``attention_chunk_size`` (8192) tokens;
  the NoPE layers (every fourth) attend to everything;
* attention temperature tuning of the NoPE layers scales queries from position ``floor_scale``
  (8192) on; transformers computes it from the row position, so in a packed row longer than
  ``floor_scale - 1`` tokens a sample that starts late is scaled as if it were further along.
"""

from __future__ import annotations

from framework.hookdata import ModelFacts, RopeDecision
from framework_llama4.detect import text_config


def decide(facts: ModelFacts, target_length: int) -> RopeDecision:
    native = facts.max_position_embeddings or 131_072
    text = text_config(facts)
    chunk, floor_scale = text.get("attention_chunk_size", 8192), text.get("floor_scale", 8192)
    warnings: list[str] = []
    if chunk and target_length > chunk:
        warnings.append(f"{target_length} tokens exceed attention_chunk_size={chunk}: the RoPE layers attend within "
                        f"{chunk}-token chunks, only the NoPE layers see the whole sequence")
    if text.get("attn_temperature_tuning", True) and target_length >= floor_scale:
        warnings.append(f"packed rows of {target_length} tokens reach floor_scale={floor_scale}: the NoPE layers' "
                        "temperature tuning follows the row position, not each sample's; set data.packing=false "
                        "for exact long samples")
    if target_length <= native:
        return RopeDecision(action="native", reason=f"{target_length} tokens fit the native context ({native})",
                            warnings=tuple(warnings))
    return RopeDecision(action="refuse", reason=f"{target_length} tokens exceed the {native} positions of this "
                        "Llama 4 model, the longest of any release; split longer documents")
