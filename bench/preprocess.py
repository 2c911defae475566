"""Throughput of SFT preprocessing: read + validate + render + tokenize + mask.

Generates N alpaca samples deterministically (English and Chinese, about 20-470 tokens each)
into a temporary JSONL file, then times ``framework.data.prepare_sft`` end to end with one
process and with every core, using the real Llama 3 tokenizer (converted from
``llama_models/llama3/tokenizer.model`` with transformers' TikTokenConverter) and a ChatML-like
renderer written here. Prints markdown rows.

    python bench/preprocess.py                 # 100,000 samples, num_proc 1 and all cores, tiktoken on and off
    python bench/preprocess.py --samples 20000 --profile
    python bench/preprocess.py --timeline      # when each stage begins and ends, every core
    python bench/preprocess.py --samples 50000 --num-proc 1 2 1 2 1 2 --fast-encoder auto --warmup

Each row is one preparation; for each num_proc the fast encoder (``data.fast_encoder``) runs on
then off, back to back, with the load average before each row, so other work on the machine
skews both alike.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from framework.data import prepare_sft
from framework.hookdata import RenderedChat, Segment

_EN = (
    "the model learns from clean data and a template that matches inference exactly while the mask keeps "
    "loss on replies only so prompts never teach it to speak for the user batch size learning rate warmup "
    "epoch adapter rank alpha dropout gradient checkpoint memory throughput sequence packing position token "
    "order refund shipping account password invoice delivery customer service please check your settings"
).split()
_ZH = list(
    "我们今天讨论大模型微调的数据质量问题以及如何提高训练效率和效果客服退货物流支付订单页面申请联系方式请您稍候"
    "根据规定可以在七天内无理由退换商品需要保持完好包装并提供购买凭证系统会自动审核"
)
_PUNCT_EN = [".", ",", "?", "!"]
_PUNCT_ZH = ["，", "。", "？", "！"]


def _sentence(rng: random.Random, units: int, chinese: bool) -> str:
    """About ``units`` tokens of text."""
    if chinese:
        chars = [rng.choice(_ZH) if rng.random() > 0.08 else rng.choice(_PUNCT_ZH) for _ in range(units)]
        return "".join(chars)
    words = [rng.choice(_EN) for _ in range(units)]
    for i in range(7, len(words), rng.randint(6, 14)):
        words[i] += rng.choice(_PUNCT_EN)
    return " ".join(words).capitalize()


def generate(path: Path, samples: int, seed: int = 0) -> None:
    """Deterministic alpaca samples, half English, half Chinese, 20-470 tokens each."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for i in range(samples):
            chinese = i % 2 == 1
            # the template and the sample number add ~15 tokens; an English word is ~1.13 tokens
            total = rng.randint(7, 442) if chinese else int(rng.randint(7, 442) / 1.13)
            ask = max(3, int(total * rng.uniform(0.15, 0.4)))
            extra = rng.randint(0, ask // 2) if rng.random() < 0.3 else 0
            row = {
                "instruction": f"{i}: " + _sentence(rng, ask - extra, chinese),
                "input": _sentence(rng, extra, chinese) if extra else "",
                "output": _sentence(rng, max(2, total - ask), chinese),
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def llama3_tokenizer() -> Any:
    """The Llama 3 fast tokenizer built offline from llama_models' tiktoken file."""
    import llama_models.llama3.tokenizer as reference
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    model = Path(reference.__file__).parent / "tokenizer.model"
    specials = reference.Tokenizer(model).special_tokens
    names = sorted(specials, key=specials.get)
    backend = TikTokenConverter(
        vocab_file=str(model), pattern=reference.Tokenizer.pat_str, extra_special_tokens=names
    ).converted()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
        pad_token="<|finetune_right_pad_id|>",
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [n for n in names if n not in tokenizer.all_special_tokens]}
    )
    assert tokenizer.convert_tokens_to_ids("<|start_header_id|>") == 128006, "special tokens misplaced"
    return tokenizer


def render(messages: list[dict[str, str]]) -> RenderedChat:
    """ChatML-like: header, content, end-of-turn; assistant content + end-of-turn carry loss."""
    segments = [Segment("<|begin_of_text|>")]
    for i, message in enumerate(messages):
        segments.append(Segment(f"<|start_header_id|>{message['role']}<|end_header_id|>\n\n"))
        if message["role"] == "assistant":
            segments.append(Segment(message["content"], trainable=True, message_index=i, from_data=True))
            segments.append(Segment("<|eot_id|>", trainable=True, message_index=i))
        else:
            segments.append(Segment(message["content"], message_index=i, from_data=True))
            segments.append(Segment("<|eot_id|>"))
    return RenderedChat(tuple(segments))


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and of finished child processes."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(path: Path, tokenizer: Any, num_proc: int, cutoff_len: int, fast: str = "auto") -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds and the result of one preparation."""
    start, cpu = time.perf_counter(), _cpu_seconds()
    prepared = prepare_sft(path, tokenizer, render, cutoff_len=cutoff_len, num_proc=num_proc, fast_encoder=fast)
    return time.perf_counter() - start, _cpu_seconds() - cpu, prepared


def breakdown(path: Path, tokenizer: Any) -> None:
    """CPU seconds of each stage, run one after another in this process (tokenizer threads off)."""
    from framework.chat import tokenize_chats
    from framework.data.encode import batch_encoder
    from framework.data.formats import detect_format, to_examples
    from framework.data.records import read_records
    from framework.data.tiktoken_encoder import TiktokenChats, fast_vocab
    from framework.data.validate import validate

    def timed(name: str, work: Any) -> Any:
        start = time.process_time()
        result = work()
        print(f"| {name} | {time.process_time() - start:.2f} |")
        return result

    print("\n| stage (one thread) | CPU s |\n|---|---|")
    records = timed("read JSONL", lambda: read_records(path))
    examples, problems = timed("detect + convert", lambda: to_examples(records, detect_format(records)))
    kept, _ = timed("validate", lambda: validate(examples, strict=False, problems=problems))
    rendered = timed("render (bench template)", lambda: [render(list(e.messages)) for e in kept])
    texts = [chat.text for chat in rendered]
    backend = tokenizer.backend_tokenizer
    timed("tokenizer (Rust encode_batch only)", lambda: backend.encode_batch(texts, add_special_tokens=False))
    encoder = batch_encoder(tokenizer)
    timed(
        "tokenize_chats (encode + offsets + labels)",
        lambda: [
            tokenize_chats(encoder, rendered[i : i + 1000], specials=frozenset()) for i in range(0, len(rendered), 1000)
        ],
    )
    vocab = timed("tiktoken form of the vocabulary (once per tokenizer)", lambda: fast_vocab(tokenizer))
    chats = TiktokenChats(vocab)
    timed("tiktoken encode only", lambda: chats.encode(texts))
    timed(
        "tiktoken tokenize_flat (encode + labels from byte lengths, flat arrays)",
        lambda: [chats.tokenize_flat(rendered[i : i + 1000], "all_assistant", None) for i in range(0, len(rendered), 1000)],
    )


def timeline(path: Path, tokenizer: Any, num_proc: int, cutoff_len: int) -> None:
    """Two preparations (the first builds the tiktoken form), each with the wall-clock second at
    which each stage of ``prepare_sft`` begins and ends, to see what waits on what."""
    import framework.data.pipeline as pipeline

    events: list[tuple[str, float]] = []

    def traced(owner: Any, name: str) -> None:
        inner = getattr(owner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            events.append((f"{name} begins", time.perf_counter()))
            try:
                return inner(*args, **kwargs)
            finally:
                events.append((f"{name} ends", time.perf_counter()))

        setattr(owner, name, call)

    import framework.data.shares as shares

    for name in ("plan_shares", "run_parts", "judge", "_with_index", "convert_sources", "validate_sources",
                 "refuse_undeclared", "_apply_status", "split_and_mix"):
        traced(pipeline, name)
    traced(shares, "run_part")  # this process's part (a forked worker's events stay in the worker)
    traced(pipeline._SftState, "choose_encoder")
    traced(pipeline._Tokenizing, "__init__")
    traced(pipeline._Tokenizing, "result")
    for attempt in ("first (builds the tiktoken form)", "second"):
        events.clear()
        load = os.getloadavg()[0]
        seconds, cpu, _ = run(path, tokenizer, num_proc, cutoff_len)
        start = events[0][1] if events else 0.0
        print(f"\n{attempt}: num_proc {num_proc}, wall {seconds:.2f} s, CPU {cpu:.2f} s, load {load:.1f}")
        print("| stage event | s after prepare_sft's first stage |\n|---|---|")
        for name, moment in events:
            print(f"| {name.replace('__init__', 'workers start')} | {moment - start:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--num-proc", type=int, nargs="*", default=None, help="default: 1 and every core")
    parser.add_argument("--cutoff-len", type=int, default=1024)
    parser.add_argument("--fast-encoder", nargs="*", default=["auto", "off"], help="data.fast_encoder values")
    parser.add_argument(
        "--warmup", action="store_true", help="one untimed preparation first (builds the tiktoken form once)"
    )
    parser.add_argument("--profile", action="store_true", help="print the top functions of a num_proc=1 run")
    parser.add_argument(
        "--breakdown", action="store_true", help="CPU time per stage (sets TOKENIZERS_PARALLELISM=false)"
    )
    parser.add_argument("--timeline", action="store_true",
                        help="when each stage begins and ends, with the first --num-proc (default every core)")
    args = parser.parse_args()
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    import datasets

    datasets.disable_progress_bars()
    cores = os.cpu_count() or 1
    procs = args.num_proc or sorted({1, cores})
    started = time.perf_counter()
    tokenizer = llama3_tokenizer()
    print(f"tokenizer built in {time.perf_counter() - started:.1f} s; {cores} CPU cores visible")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alpaca.jsonl"
        generate(path, args.samples)
        print(f"generated {args.samples} samples, {path.stat().st_size / 1e6:.1f} MB")
        if args.breakdown:
            os.environ["TOKENIZERS_PARALLELISM"] = "false"
            breakdown(path, tokenizer)
            return
        if args.timeline:
            timeline(path, tokenizer, procs[-1] if args.num_proc is None else procs[0], args.cutoff_len)
            return
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            run(path, tokenizer, 1, args.cutoff_len, args.fast_encoder[0])
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        print("\n(load average: the 1-minute figure before the row; other work on the machine skews wall time)")
        print(
            "| samples | num_proc | encoder | load | wall s | samples/s | tokens/s | CPU s | samples per CPU-s | kept |"
            " tokens/sample min/mean/max |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        reference = None
        if args.warmup:
            reference = run(path, tokenizer, 1, args.cutoff_len, args.fast_encoder[0])[2].train.data
        for num_proc in procs:
            for fast in args.fast_encoder:
                load = os.getloadavg()[0]
                seconds, cpu, prepared = run(path, tokenizer, num_proc, args.cutoff_len, fast)
                data = prepared.train.data
                lengths = data.column("length").to_numpy()
                if reference is None:
                    reference = data
                assert data.equals(reference), "the encoders or process counts gave different data"
                print(
                    f"| {args.samples:,} | {num_proc} | {prepared.report.encoder} | {load:.1f} | {seconds:.2f} | "
                    f"{args.samples / seconds:,.0f} | {lengths.sum() / seconds:,.0f} | {cpu:.1f} | "
                    f"{args.samples / cpu:,.0f} | {len(lengths):,} | {lengths.min()}/{lengths.mean():.0f}/{lengths.max()} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
