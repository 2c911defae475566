"""Fixtures for the data pipeline tests: a tiny real tokenizer, a ChatML-like renderer, and a
kit that writes small data files into tmp_path.

The tokenizer is a byte-level BPE trained in-process on a few sentences (vocab 400) with
control tokens, so tests run offline and fast while exercising real offsets and special-token
parsing.
"""

from __future__ import annotations

import csv
import functools
import json
from pathlib import Path
from typing import Any

import pytest

from framework.hookdata import RenderedChat, Segment

SPECIALS = ["<s>", "</s>", "<|pad|>", "<|start|>", "<|end|>"]

#: The control tokens of a Llama 3.1 tokenizer that the data tests use, in id order from 128000.
LLAMA3_SPECIALS = [
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
    "<|eot_id|>", "<|python_tag|>", "<|image|>",
]  # fmt: skip


@functools.lru_cache(maxsize=1)
def llama3_tokenizer() -> Any:
    """Llama 3 as its fast tokenizer: ``llama_models``' tiktoken ranks through TikTokenConverter (a
    real 128k vocabulary, built once per process; tests that change it work on a copy)."""
    import llama_models.llama3.tokenizer as reference
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    model = Path(reference.__file__).parent / "tokenizer.model"
    backend = TikTokenConverter(
        vocab_file=str(model), pattern=reference.Tokenizer.pat_str, extra_special_tokens=LLAMA3_SPECIALS
    ).converted()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=LLAMA3_SPECIALS[0], eos_token="<|eot_id|>")
    tokenizer.add_special_tokens({"additional_special_tokens": LLAMA3_SPECIALS})
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") == 128009
    return tokenizer

_CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Fine-tuning a language model needs clean data, a template and a mask.",
    "用户问：如何退货？助手答：您可以在订单页面申请退货。",
    "What is machine learning? It is a branch of artificial intelligence.",
    "assistant user system instruction input output response answer question",
    "0123456789 !?.,;:'\"()[]{}<>/\\|@#$%^&*-_=+~`",
]


def build_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<|pad|>",
        additional_special_tokens=["<|start|>", "<|end|>"],
    )


def chatml(messages: list[dict[str, str]]) -> RenderedChat:
    """A ChatML-like template: assistant content and its <|end|> carry loss."""
    segments = [Segment("<s>")]
    for i, message in enumerate(messages):
        role, content = message["role"], message["content"]
        segments.append(Segment(f"<|start|>{role}\n"))
        if role == "assistant":
            segments.append(Segment(content, trainable=True, message_index=i, from_data=True))
            segments.append(Segment("<|end|>", trainable=True, message_index=i))
            segments.append(Segment("\n"))
        else:
            segments.append(Segment(content, message_index=i, from_data=True))
            segments.append(Segment("<|end|>\n"))
    return RenderedChat(tuple(segments))


def chatml_prompt(messages: list[dict[str, str]]) -> RenderedChat:
    """The same template with the generation prompt."""
    return RenderedChat((*chatml(messages).segments, Segment("<|start|>assistant\n")))


class CountingRenderer:
    """Counts calls, to prove that a cached run renders nothing."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, messages: list[dict[str, str]]) -> RenderedChat:
        self.calls += 1
        return chatml(messages)


class DataKit:
    """Writes small data files into a temporary directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def raw(self, name: str, content: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(content)
        return path

    def text(self, name: str, content: str) -> Path:
        return self.raw(name, content.encode("utf-8"))

    def jsonl(self, name: str, rows: list[Any]) -> Path:
        return self.text(name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def json(self, name: str, value: Any) -> Path:
        return self.text(name, json.dumps(value, ensure_ascii=False, indent=2))

    def csv(self, name: str, header: list[str], rows: list[list[Any]]) -> Path:
        path = self.path(name)
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows)
        return path

    def parquet(self, name: str, rows: list[dict[str, Any]]) -> Path:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = self.path(name)
        pq.write_table(pa.Table.from_pylist(rows), path)
        return path

    @staticmethod
    def alpaca(n: int, prefix: str = "q") -> list[dict[str, str]]:
        """n distinct alpaca samples."""
        return [
            {"instruction": f"{prefix} question number {i}?", "input": "", "output": f"answer {i} is {i * 7}."}
            for i in range(n)
        ]


@pytest.fixture(scope="session")
def tokenizer() -> Any:
    return build_tokenizer()


@pytest.fixture
def render() -> Any:
    return chatml


@pytest.fixture
def render_prompt() -> Any:
    return chatml_prompt


@pytest.fixture
def counting_render() -> CountingRenderer:
    return CountingRenderer()


@pytest.fixture
def kit(tmp_path: Path) -> DataKit:
    return DataKit(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _quiet_datasets() -> None:
    import datasets

    datasets.disable_progress_bars()
