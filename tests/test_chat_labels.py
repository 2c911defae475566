"""The fast label path (span edges from the Rust encoding) equals the per-token rule."""

from __future__ import annotations

import random

from framework.chat import _labels_from_encoding, _labels_from_offsets, _trained_spans, trained_message_indices
from framework.hookdata import Segment


def _tokenizer():  # type: ignore[no-untyped-def]
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("core_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    assert spec.loader
    spec.loader.exec_module(module)
    return module.build_tokenizer()


def test_fast_and_per_token_labels_agree_on_random_segmentations() -> None:
    tok = _tokenizer()
    rng = random.Random(0)
    pieces = ["<|im_start|>", "<|im_end|>", "\n", " ", "Number", " 12", "中文", "🙂", "it is.", "  ", "x"]
    for _ in range(300):
        segs = tuple(Segment("".join(rng.choice(pieces) for _ in range(rng.randint(1, 6))), rng.random() < 0.4,
                             rng.randint(0, 3)) for _ in range(rng.randint(1, 8)))
        text = "".join(s.text for s in segs)
        spans = _trained_spans(segs, trained_message_indices(segs, "all_assistant"))
        enc = tok([text], add_special_tokens=False, return_offsets_mapping=True)
        slow = _labels_from_offsets(enc["input_ids"][0], enc["offset_mapping"][0], spans)
        fast = _labels_from_encoding(enc.encodings[0], spans)
        assert fast is None or fast == slow, text
