"""Fixtures: a synthetic Gemma tokenizer, the official oracles, facts and tiny configs.

No real Gemma tokenizer can be obtained offline (Google's files are gated on the Hub), so the
tokenizer tests use a **synthetic vocabulary carrying Gemma's special tokens at Gemma's ids**:
``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2, ``<unk>`` 3, ``<mask>`` 4, fillers ``<unusedN>``, then
``<start_of_turn>`` / ``<end_of_turn>`` at 106 / 107 (Gemma 1 and 2) or 105 / 106 (Gemma 3),
then the 256 byte-fallback tokens and a BPE vocabulary trained here on English, Chinese, emoji
and code. The pipeline around that vocabulary is transformers' own ``GemmaTokenizer`` (BPE with
byte fallback, spaces replaced by "▁", no prefix space), with ``add_bos_token=True`` as in
Google's tokenizer_config. Token-level equality therefore still checks that the product's
segments tokenize exactly like render-then-tokenize of the official template.

Helpers are handed out as fixtures because, with ``--import-mode=importlib``, test modules of
the four plugins cannot import a module named ``conftest``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts


#: Copies of the official configs and templates, with their origin and sha256 (oracles/SOURCES.md).
OFFICIAL = Path(__file__).resolve().parent / "oracles"

#: Official template per generation (gemma-7b-it and gemma-2-9b-it are the same 591 bytes).
TEMPLATES = {"1": "gemma-7b-it.jinja", "2": "gemma-2-9b-it.jinja", "3": "gemma-3-1b-it.jinja"}
#: <start_of_turn> id per generation (Gemma 3 moved the turn tokens down by one).
START_OF_TURN_ID = {"1": 106, "2": 106, "3": 105}

CORPUS = [
    "user model Hello world! How are you today? I am fine, thank you.",
    "The quick brown fox jumps over the lazy dog.\n\nA new paragraph starts here.",
    "You are a helpful assistant. Answer briefly and precisely.",
    "Name a colour. Blue. Another? Red. What is 2+2? It is 4.",
    "量子纠缠是指两个粒子的状态相互关联，即使相距遥远。请用中文回答下面的问题。",
    "你好 👋 有什么可以帮你？😊 🎉 谢谢！",
    "def f(x: int) -> int:\n    return x * 2\n\nprint(f(21))\n",
    "```python\nimport torch\nfor i in range(10):\n\tprint(i)\n```",
    "   leading and trailing spaces   \n\t tabs and\r\nwindows lines\n",
    "'s 'll ''' \"quotes\" 12345 3.14159 <tag> [brackets] {braces}",
]


def _reserved(start_of_turn_id: int) -> list[str]:
    head = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "[multimodal]"]
    fillers = [f"<unused{i}>" for i in range(start_of_turn_id - len(head))]
    return [*head, *fillers, "<start_of_turn>", "<end_of_turn>"]


@functools.lru_cache(maxsize=None)
def _trained_vocab(generation: str) -> tuple[str, str]:
    """(vocab json, merges json) of a BPE trained on CORPUS with Gemma's reserved ids first."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    reserved = _reserved(START_OF_TURN_ID[generation])
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
    trainer = BpeTrainer(vocab_size=2000, special_tokens=reserved + byte_tokens, show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    model = json.loads(tok.to_str())["model"]
    return json.dumps(model["vocab"]), json.dumps(model["merges"])


def _reserved_gemma4() -> list[str]:
    """Gemma 4's first 108 ids: the control tokens at their real ids, unused fillers between, "\\n" at 107."""
    from framework_gemma.vocab import GEMMA4_IDS, GEMMA4_NEWLINE_ID

    by_id = {i: t for t, i in GEMMA4_IDS.items()}
    by_id[GEMMA4_NEWLINE_ID] = "\n"
    return [by_id.get(i, f"<unused{i}>") for i in range(GEMMA4_NEWLINE_ID + 1)]


@functools.lru_cache(maxsize=None)
def _trained_vocab_gemma4() -> tuple[str, str]:
    from tokenizers import Tokenizer, normalizers, pre_tokenizers
    from tokenizers.models import BPE
    from tokenizers.trainers import BpeTrainer

    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok = Tokenizer(BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
    trainer = BpeTrainer(vocab_size=2000, special_tokens=_reserved_gemma4() + byte_tokens, show_progress=False)
    tok.train_from_iterator(CORPUS * 20, trainer)
    model = json.loads(tok.to_str())["model"]
    return json.dumps(model["vocab"]), json.dumps(model["merges"])


def build_gemma4_tokenizer(**attributes: Any) -> Any:
    """A synthetic Gemma 4 tokenizer: Gemma 4's control tokens at their real ids (no Gemma 4 tokenizer file ships
    in any package: oracles/2026/SOURCES), the rest a BPE trained here, in transformers' GemmaTokenizer pipeline."""
    from transformers.models.gemma.tokenization_gemma import GemmaTokenizer

    from framework_gemma.vocab import GEMMA4_IDS

    vocab, merges = _trained_vocab_gemma4()
    tok = GemmaTokenizer(vocab=json.loads(vocab), merges=[tuple(m) for m in json.loads(merges)])
    controls = [t for t in GEMMA4_IDS if t not in ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>")]
    tok.add_special_tokens({"additional_special_tokens": controls})
    tok.add_bos_token = True
    for name, value in attributes.items():
        setattr(tok, name, value)
    return tok


def build_gemma_tokenizer(generation: str = "3", **attributes: Any) -> Any:
    """A fresh synthetic Gemma tokenizer (see the module docstring); attributes override defaults."""
    from transformers.models.gemma.tokenization_gemma import GemmaTokenizer

    vocab, merges = _trained_vocab("3" if generation.startswith("3") else generation)
    tok = GemmaTokenizer(vocab=json.loads(vocab), merges=[tuple(m) for m in json.loads(merges)])
    tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tok.add_bos_token = True
    for name, value in attributes.items():
        setattr(tok, name, value)
    return tok


def official_config(name: str) -> dict[str, Any]:
    return json.loads((OFFICIAL / "configs" / f"{name}.config.json").read_text(encoding="utf-8"))


def official_template(generation: str) -> str:
    return (OFFICIAL / "templates" / TEMPLATES[generation]).read_text(encoding="utf-8")


def facts_for(name: str, variant: str | None = None) -> ModelFacts:
    facts = facts_from_config(official_config(name), name)
    return facts.model_copy(update={"variant": variant}) if variant else facts


def tiny_config(model_type: str, **overrides: Any) -> dict[str, Any]:
    """A config of the given Gemma model_type small enough to instantiate in milliseconds."""
    text: dict[str, Any] = {
        "vocab_size": 512, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 8192,
        "bos_token_id": 2, "eos_token_id": 1, "pad_token_id": 0,
    }
    if model_type == "gemma":
        config = {"model_type": "gemma", "architectures": ["GemmaForCausalLM"], **text}
    elif model_type == "gemma2":
        config = {"model_type": "gemma2", "architectures": ["Gemma2ForCausalLM"], **text, "sliding_window": 4,
                  "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "query_pre_attn_scalar": 16}
    elif model_type == "gemma3_text":
        config = {"model_type": "gemma3_text", "architectures": ["Gemma3ForCausalLM"], **text,
                  "max_position_embeddings": 32768, "sliding_window": 4, "sliding_window_pattern": 2,
                  "query_pre_attn_scalar": 16, "rope_theta": 1000000.0, "rope_local_base_freq": 10000.0}
    elif model_type == "gemma3":
        inner = {**tiny_config("gemma3_text"), "max_position_embeddings": 131072,
                 "rope_scaling": {"rope_type": "linear", "factor": 8.0}}
        inner.pop("architectures")
        config = {
            "model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "text_config": inner,
            "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 16, "intermediate_size": 32,
                              "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 28, "patch_size": 14,
                              "vision_use_head": False},
            "mm_tokens_per_image": 4, "boi_token_index": 509, "eoi_token_index": 510, "image_token_index": 511,
        }
    else:
        raise ValueError(model_type)
    config.update(overrides)
    return config


def tiny_model(model_type: str, **overrides: Any) -> Any:
    """A randomly initialised tiny transformers model of the given Gemma model_type (seed 0)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = dict(tiny_config(model_type, **overrides))
    kind = config.pop("model_type")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(kind, **config)).eval()


@pytest.fixture(scope="session", name="official_config")
def _official_config_fixture() -> Any:
    return official_config


@pytest.fixture(scope="session", name="official_template")
def _official_template_fixture() -> Any:
    return official_template


@pytest.fixture(scope="session", name="facts_for")
def _facts_for_fixture() -> Any:
    return facts_for


@pytest.fixture(scope="session", name="tiny_config")
def _tiny_config_fixture() -> Any:
    return tiny_config


@pytest.fixture(scope="session", name="tiny_model")
def _tiny_model_fixture() -> Any:
    return tiny_model


@pytest.fixture(scope="session", name="build_tokenizer")
def _build_tokenizer_fixture() -> Any:
    return build_gemma_tokenizer


@pytest.fixture(scope="session")
def tok12() -> Any:
    """Synthetic Gemma 1/2 tokenizer: <start_of_turn> 106, <end_of_turn> 107."""
    return build_gemma_tokenizer("2")


@pytest.fixture(scope="session")
def tok3() -> Any:
    """Synthetic Gemma 3 tokenizer: <start_of_turn> 105, <end_of_turn> 106."""
    return build_gemma_tokenizer("3")


@pytest.fixture(scope="session")
def tokenizers(tok12: Any, tok3: Any) -> dict[str, Any]:
    return {"1": tok12, "2": tok12, "3": tok3}


@pytest.fixture(scope="session")
def tok4() -> Any:
    """Synthetic Gemma 4 tokenizer with the real control-token ids."""
    return build_gemma4_tokenizer()


def gemma4_template(which: str) -> str:
    """The official Gemma 4 template: "small" (E2B/E4B) or "large" (12B/26B-A4B/31B)."""
    name = "google-gemma-4-E2B-it.jinja" if which == "small" else "google-gemma-4-31B-it.jinja"
    return (OFFICIAL / "2026" / "templates" / name).read_text(encoding="utf-8")


@pytest.fixture(scope="session", name="gemma4_template")
def _gemma4_template_fixture() -> Any:
    return gemma4_template


#: A tiny Gemma 4 language model with every Gemma 4 mechanism: sliding and global layers (global head_dim twice
#: the sliding one, like 512 vs 256), per-layer input embeddings, two KV-shared layers, final soft-capping.
TINY_GEMMA4_TEXT: dict[str, Any] = {
    "vocab_size": 1024, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 4,
    "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 32, "global_head_dim": 64, "sliding_window": 4,
    "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
    "hidden_size_per_layer_input": 16, "vocab_size_per_layer_input": 1024, "num_kv_shared_layers": 2,
    "final_logit_softcapping": 30.0, "max_position_embeddings": 131072, "bos_token_id": 2, "eos_token_id": [1, 106],
    "pad_token_id": 0,
}
#: The 26B-A4B shape in small: mixture of experts, no per-layer embeddings, keys equal values on global layers.
TINY_GEMMA4_MOE: dict[str, Any] = {
    **TINY_GEMMA4_TEXT, "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 0, "enable_moe_block": True,
    "num_experts": 4, "top_k_experts": 2, "moe_intermediate_size": 32, "attention_k_eq_v": True,
    "num_global_key_value_heads": 1,
}


def tiny_gemma4_config(kind: str, **overrides: Any) -> dict[str, Any]:
    """config.json of a tiny Gemma 4: "text" (gemma4_text), "wrapper" (gemma4, text only), "vision" (gemma4 with a
    vision tower), "moe" (gemma4_text) or
    "unified" (gemma4_unified, the 12B's architecture: no per-layer embeddings, no KV sharing)."""
    if kind == "unified":
        text = {**TINY_GEMMA4_TEXT, "hidden_size_per_layer_input": 0, "num_kv_shared_layers": 0, **overrides,
                "model_type": "gemma4_unified_text"}
        return {"model_type": "gemma4_unified", "architectures": ["Gemma4UnifiedForConditionalGeneration"],
                "text_config": text, "vision_config": None, "audio_config": None, "eos_token_id": [1, 106]}
    if kind in ("wrapper", "vision"):
        text = {**TINY_GEMMA4_TEXT, **overrides, "model_type": "gemma4_text"}
        vision = None if kind == "wrapper" else {
            "model_type": "gemma4_vision", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 16, "position_embedding_size": 64,
            "patch_size": 4}
        return {"model_type": "gemma4", "architectures": ["Gemma4ForConditionalGeneration"], "text_config": text,
                "vision_config": vision, "audio_config": None, "eos_token_id": [1, 106]}
    base = TINY_GEMMA4_MOE if kind == "moe" else TINY_GEMMA4_TEXT
    return {"model_type": "gemma4_text", "architectures": ["Gemma4ForCausalLM"], **base, **overrides}


def tiny_gemma4(kind: str, **overrides: Any) -> Any:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = {k: v for k, v in tiny_gemma4_config(kind, **overrides).items() if k != "architectures"}
    model_type = config.pop("model_type")
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **config)).eval()


@pytest.fixture(scope="session", name="tiny_gemma4_config")
def _tiny_gemma4_config_fixture() -> Any:
    return tiny_gemma4_config


@pytest.fixture(scope="session", name="tiny_gemma4")
def _tiny_gemma4_fixture() -> Any:
    return tiny_gemma4


def gemma4_expected(tok: Any, template: str, which: str, messages: list[dict[str, Any]], generation: bool,
                    tools: list[dict[str, Any]] | None = None, thinking: bool | None = None) -> str:
    """The oracle for a Gemma 4 render: the official text, except that for the "large" (12B/26B-A4B/31B) template
    a final model turn (after the last user message, no tool results yet) follows the official inference prompt
    (with its pre-filled empty thought block) instead of the bare turn header the full rendering has there."""
    if thinking is None:
        thinking = any(m.get("reasoning_content") for m in messages)

    def official(convo: list[dict[str, Any]], gen: bool) -> str:
        return tok.apply_chat_template(convo, tools=tools, chat_template=template, tokenize=False,
                                       add_generation_prompt=gen, enable_thinking=thinking)

    full = official(messages, generation)
    system = 1 if messages and messages[0]["role"] == "system" else 0
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    k = (users[-1] + 1) if users else system
    final_turn = (k < len(messages) and messages[k]["role"] == "assistant"
                  and not any(m["role"] == "tool" for m in messages[k:]))
    if which == "small" or thinking or not final_turn:
        return full
    head = official(messages[:k], False) + "<|turn>model\n"
    assert full.startswith(head)
    return official(messages[:k], True) + full[len(head):]


@pytest.fixture(scope="session", name="gemma4_expected")
def _gemma4_expected_fixture() -> Any:
    return gemma4_expected
