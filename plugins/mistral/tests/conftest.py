"""Fixtures: the real Mistral vocabularies as fast tokenizers, official configs, tiny models.

The tokenizers are built from the files mistral-common ships (no download):

* ``tokenizer.model.v1`` (sentencepiece, 32000; 7B v0.1/v0.2, Mixtral 8x7B),
* ``mistral_instruct_tokenizer_240323.model.v3`` (sentencepiece, 32768, [INST]/[/INST] are
  control tokens 3/4; 7B v0.3),
* ``tekken_240718.json`` (Tekken, 131072; NeMo), converted by transformers' own converter.

Sentencepiece files are converted with ``SpmConverter.build_tokenizer_from_spm_proto`` in two
modes, because Hub tokenizer.json files exist in both: ``first`` (dummy prefix on the first
chunk only; the mode whose render-then-tokenize ids equal mistral-common's) and ``legacy``
(dummy prefix on every chunk between special tokens). Control pieces become special added
tokens, and a ``<s> $A`` post-processor adds BOS like the Hub files do.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from framework.facts import facts_from_config
from framework.hookdata import ModelFacts


#: Official templates and configs copied into the repository with their provenance
#: (oracles/SOURCES.md), so a clone runs the tests with nothing beside it.
OFFICIAL = Path(__file__).resolve().parent / "oracles"


def official_template(name: str) -> str:
    return (OFFICIAL / "templates" / name).read_text(encoding="utf-8")


def official_config(name: str) -> dict[str, Any]:
    return json.loads((OFFICIAL / "configs" / name).read_text(encoding="utf-8"))


def official_facts(name: str) -> ModelFacts:
    return facts_from_config(official_config(name), name)


def mistral_data(name: str) -> Path:
    import mistral_common

    return Path(mistral_common.__file__).parent / "data" / name


def sentencepiece_tokenizer(path: Path, mode: str) -> Any:
    """A fast tokenizer from a sentencepiece model, ``mode`` "first" or "legacy" (see module doc)."""
    from tokenizers import AddedToken, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString(path.read_bytes())
    vocab = {piece.piece: i for i, piece in enumerate(proto.pieces)}
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=mode == "legacy")
    control = [p.piece for p in proto.pieces if p.type in (2, 3)]  # unknown and control pieces
    backend.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in control])
    backend.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


class Official:
    """Access to the official templates and configs (test oracles) copied under ``oracles/``."""

    template = staticmethod(official_template)
    config = staticmethod(official_config)
    facts = staticmethod(official_facts)
    root = OFFICIAL


@pytest.fixture(scope="session")
def official() -> Official:
    return Official()


@pytest.fixture(scope="session")
def tiny() -> Any:
    """Builders of tiny transformers configs: ``tiny.mistral(**kw)``, ``tiny.mixtral(**kw)``."""

    class Tiny:
        mistral = staticmethod(tiny_mistral_config)
        mixtral = staticmethod(tiny_mixtral_config)

    return Tiny()


@pytest.fixture(scope="session")
def build_tokenizer() -> Any:
    """Build a private tokenizer a test may modify: ``build_tokenizer("tokenizer.model.v1", "first")``."""
    return lambda name, mode="first": sentencepiece_tokenizer(mistral_data(name), mode)


@pytest.fixture(scope="session")
def spm_proto() -> Any:
    """The parsed sentencepiece model of a mistral-common file: ``spm_proto("tokenizer.model.v1")``."""
    from transformers.convert_slow_tokenizer import import_protobuf

    def load(name: str) -> Any:
        proto = import_protobuf().ModelProto()
        proto.ParseFromString(mistral_data(name).read_bytes())
        return proto

    return load


@pytest.fixture(scope="session")
def tok_v1() -> Any:
    return sentencepiece_tokenizer(mistral_data("tokenizer.model.v1"), "first")


@pytest.fixture(scope="session")
def tok_v1_legacy() -> Any:
    return sentencepiece_tokenizer(mistral_data("tokenizer.model.v1"), "legacy")


@pytest.fixture(scope="session")
def tok_v3() -> Any:
    return sentencepiece_tokenizer(mistral_data("mistral_instruct_tokenizer_240323.model.v3"), "first")


@pytest.fixture(scope="session")
def tok_v3_legacy() -> Any:
    return sentencepiece_tokenizer(mistral_data("mistral_instruct_tokenizer_240323.model.v3"), "legacy")


@pytest.fixture(scope="session")
def tok_tekken() -> Any:
    """NeMo's Tekken vocabulary through transformers' tekken converter (about 4 s)."""
    from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer

    return convert_tekken_tokenizer(str(mistral_data("tekken_240718.json")), chat_template="")


@pytest.fixture(scope="session")
def facts_v01() -> ModelFacts:
    return official_facts("Mistral-7B-v0.1.config.json")


@pytest.fixture(scope="session")
def facts_v03() -> ModelFacts:
    return official_facts("Mistral-7B-v0.3.config.json")


@pytest.fixture(scope="session")
def facts_nemo() -> ModelFacts:
    return official_facts("Mistral-Nemo-Base-2407.config.json")


@pytest.fixture(scope="session")
def facts_mixtral() -> ModelFacts:
    return official_facts("Mixtral-8x7B-v0.1.config.json")


def tiny_mistral_config(**overrides: Any) -> Any:
    from transformers import MistralConfig

    values = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256)
    values.update(overrides)
    return MistralConfig(**values)


def tiny_mixtral_config(**overrides: Any) -> Any:
    from transformers import MixtralConfig

    values = dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                  max_position_embeddings=256)
    values.update(overrides)
    return MixtralConfig(**values)


@functools.lru_cache(maxsize=None)
def mistral_common_encoder(name: str, mode: str = "finetuning") -> Any:
    """mistral-common's own tokenizer for a file it ships (ground truth); ``mode`` "finetuning" accepts
    conversations ending with a reply, "test" inference prompts."""
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    return MistralTokenizer.from_file(str(mistral_data(name)), mode=ValidationMode(mode))


def mistral_common_request(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> Any:
    """Our ``Message`` dicts as a mistral-common request (an assistant turn that only calls tools has no content)."""
    from mistral_common.protocol.instruct.request import ChatCompletionRequest

    converted = []
    for message in messages:
        message = dict(message)
        reasoning = message.pop("reasoning_content", None)
        if reasoning:
            text = [{"type": "text", "text": message["content"]}] if message.get("content") else []
            message["content"] = [{"type": "thinking", "thinking": reasoning}, *text]
        elif message.get("role") == "assistant" and message.get("tool_calls") and not message.get("content"):
            message["content"] = None
        converted.append(message)
    return ChatCompletionRequest(messages=converted, tools=tools)


#: Control tokens of Tekken v7+ missing from the v3 Tekken files mistral-common ships, at the ranks
#: mistral-common's own test fixtures give them (shared reference special_tokens.json; the real
#: tekken.json files of Small 3.x / Magistral / Ministral 3 are published on the Hub only).
LATER_CONTROL_RANKS = {"[ARGS]": 32, "[CALL_ID]": 33, "[THINK]": 35, "[/THINK]": 36}


def _later_raw() -> dict[str, Any]:
    """``tekken_240718.json`` with the special-token list of the later versions (ranks 0-999)."""
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    raw = json.loads(mistral_data("tekken_240718.json").read_text(encoding="utf-8"))
    named = {int(t["rank"]): str(getattr(t["token_str"], "value", t["token_str"]))
             for t in Tekkenizer.DEPRECATED_SPECIAL_TOKENS}
    named.update({rank: token for token, rank in LATER_CONTROL_RANKS.items()})
    count = raw["config"]["default_num_special_tokens"]
    raw["special_tokens"] = [{"rank": r, "token_str": named.get(r, f"<SPECIAL_{r}>"), "is_control": True}
                             for r in range(count)]
    return raw


def tekken_file(directory: Path, version: str, raw: dict[str, Any] | None = None) -> Path:
    """``tekken_240718.json`` relabelled as tokenizer ``version`` with the later control tokens added."""
    raw = dict(raw or _later_raw())
    raw["config"] = {**raw["config"], "version": version}
    path = directory / f"tekken_{version}.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tekken_later(tmp_path_factory: Any) -> Any:
    """The v7+ Tekken vocabulary: one fast tokenizer (same for v7/v11/v13) and mistral-common's encoders."""
    from mistral_common.protocol.instruct.validator import ValidationMode
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer
    from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer

    directory = tmp_path_factory.mktemp("tekken")
    raw = _later_raw()
    files: dict[str, Path] = {}
    cache: dict[tuple[str, str], Any] = {}

    def file(version: str) -> Path:
        if version not in files:
            files[version] = tekken_file(directory, version, raw)
        return files[version]

    class Later:
        tokenizer = convert_tekken_tokenizer(str(file("v13")), chat_template="")

        @staticmethod
        def encoder(version: str, mode: str = "finetuning") -> Any:
            if (version, mode) not in cache:
                cache[version, mode] = MistralTokenizer.from_file(str(file(version)), mode=ValidationMode(mode))
            return cache[version, mode]

    return Later()
