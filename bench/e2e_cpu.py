"""End-to-end CPU LoRA fine-tune: ``framework run`` against the plain way, same run, same machine.

Both sides train the same tiny Llama-3-architecture model (hidden 128, 4 layers, tied
embeddings, the real 128,256-token Llama 3 vocabulary: the llama3 plugin's demo model) on the
same 400 alpaca samples (English and Chinese, 20-470 tokens, generated deterministically),
cutoff 512, LoRA r 16 on every linear layer, micro-batch 4, one epoch, seed 42, the same
optimiser settings. The plain side is bench/plain_sft.py (transformers Trainer + peft, padded
batches, full logits, the model's own loss); the framework side is the real command line,
``python -m framework run --model DIR --data FILE ...``. Each side runs as a child process
timed from the command to its exit (the adapter is saved by then), with its own empty
preprocessing caches; its peak RSS is its ru_maxrss, read by a small launcher process. Runs
alternate (F P, P F, ...) so both sides see the same load on a shared machine.

Reported per side: training tokens/s (real, unpadded tokens over the Trainer's train
runtime), wall time, CPU seconds, peak RSS, and the validation loss of the saved adapter on
40 held-out samples (computed here, the same way for both: summed token cross entropy over
labelled positions / labelled positions). Before the runs, the same micro-batches go through
forward + backward both ways in this process, alternating batch by batch (``--ab-batches``):
a ratio that a busy machine cannot skew, since both sides share every moment's load.

With ``--sides framework llamafactory`` (or all three) LLaMA-Factory joins as a contender: its own
virtualenv, its YAML from the same settings, its tokenized data checked against the framework's
(bench/llamafactory_side.py); targets against it: >= 8x tokens/s, <= 0.3x peak RSS, val loss within 1%.

    python bench/e2e_cpu.py                    # 1 round (framework, then plain)
    python bench/e2e_cpu.py --sides framework llamafactory --rounds 2 --ab-batches 0
    python bench/e2e_cpu.py --rounds 2 --json results.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))

import llamafactory_side  # noqa: E402
from plain_sft import prompt_and_response, tokenize  # noqa: E402

CUTOFF = 512
TRAIN_SAMPLES = 400
HELD_OUT = 40
SEED = 42

_EN = (
    "the model learns from clean data and a template that matches inference exactly while the mask keeps "
    "loss on replies only so prompts never teach it to speak for the user batch size learning rate warmup "
    "epoch adapter rank alpha dropout gradient checkpoint memory throughput sequence packing position token "
    "order refund shipping account password invoice delivery customer service please check your settings "
    "weather today tomorrow city river mountain travel ticket hotel price discount question answer summary"
).split()
_ZH = list(
    "我们今天讨论大模型微调的数据质量问题以及如何提高训练效率和效果客服退货物流支付订单页面申请联系方式请您稍候"
    "根据规定可以在七天内无理由退换商品需要保持完好包装并提供购买凭证系统会自动审核天气城市旅行酒店价格问题回答总结"
)


def _text(rng: random.Random, tokens: int, chinese: bool) -> str:
    """About ``tokens`` Llama 3 tokens of text (calibrated on the Llama 3 vocabulary)."""
    if chinese:
        chars = [rng.choice(_ZH) for _ in range(round(tokens * 1.05))]  # common CJK pairs merge into one token
        for i in range(rng.randint(8, 16), len(chars), rng.randint(8, 16)):
            chars[i] = rng.choice("，。？！")
        return "".join(chars)
    words = [rng.choice(_EN) for _ in range(max(1, round(tokens / 1.15)))]  # punctuation and long words add tokens
    for i in range(rng.randint(6, 14), len(words), rng.randint(6, 14)):
        words[i] += rng.choice(".,?!")
    return " ".join(words).capitalize()


def generate(count: int, seed: int) -> list[dict[str, str]]:
    """Alpaca records, alternately English and Chinese, with a right-skewed length (mean ~150).

    The rendered length is the chat template's 13 tokens plus the text: a gamma draw with
    mean ~137, clipped to 10-430 text tokens, split 15-40% prompt, the rest reply.
    """
    rng = random.Random(seed)
    records = []
    for i in range(count):
        chinese = i % 2 == 1
        total = int(min(430, max(10, rng.gammavariate(1.7, 137 / 1.7))))
        ask = max(2, int(total * rng.uniform(0.15, 0.4)))
        extra = rng.randint(1, ask // 2) if ask >= 4 and rng.random() < 0.3 else 0
        records.append({
            "instruction": _text(rng, ask - extra, chinese),
            "input": _text(rng, extra, chinese) if extra else "",
            "output": _text(rng, max(2, total - ask), chinese),
        })
    return records


def write_jsonl(path: Path, records: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


@dataclass
class RunStats:
    side: str
    wall_s: float
    train_s: float
    tokens_per_s: float
    peak_rss_mib: float
    cpu_s: float
    train_tokens: int
    steps: int
    val_loss: float = math.nan
    load_before: float = 0.0
    round: int = 0


#: Runs one command and reports its children's peak RSS. The measured command must not be
#: spawned by this (large) process: Linux carries the spawning process's RSS high-water mark
#: into the child's ru_maxrss across vfork/fork + exec, so a benchmark process holding 3 GB
#: would make every child look 3 GB big. This launcher is a fresh ~10 MB interpreter.
_LAUNCHER = """
import json, resource, subprocess, sys, time
report, argv = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
code = subprocess.call(argv)
wall = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(report, "w") as out:
    json.dump({"code": code, "wall": wall, "maxrss_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}, out)
"""


def _child(argv: list[str], env: dict[str, str], log: Path) -> tuple[float, float, float]:
    """Run a command; (wall seconds, its peak RSS in MiB, its CPU seconds, user + system)."""
    report = log.with_suffix(".usage.json")
    with log.open("w") as out:
        subprocess.run([sys.executable, "-c", _LAUNCHER, str(report), *argv], cwd=REPO, env=env, stdout=out,
                       stderr=subprocess.STDOUT, check=False)
    usage = json.loads(report.read_text())
    if usage["code"] != 0:
        raise SystemExit(f"{argv[:4]} failed with {usage['code']}; see {log}:\n" + log.read_text()[-3000:])
    return usage["wall"], usage["maxrss_kib"] / 1024, usage["cpu"]  # ru_maxrss is KiB on Linux


def _env(work: Path, tag: str) -> dict[str, str]:
    """Fresh caches per run: both sides tokenize from scratch, as a first run does."""
    cache = work / f"cache-{tag}"
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(cache / "datasets"),
            "XDG_CACHE_HOME": str(cache / "xdg"), "TOKENIZERS_PARALLELISM": "false",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def run_framework(model: Path, data: Path, work: Path, tag: str, extra: list[str]) -> RunStats:
    out = work / f"framework-{tag}"
    argv = [sys.executable, "-m", "framework", "run", "--model", str(model), "--data", str(data), "--output", str(out),
            "--cutoff-len", str(CUTOFF), "--overwrite-cache",
            "--set", "lora.r=16", "--set", "lora.alpha=32", "--set", "lora.dropout=0.05",
            "--set", "training.epochs=1", "--set", "training.micro_batch_size=4", "--set", "training.grad_accum=1",
            "--set", "training.learning_rate=1e-4", "--set", "training.warmup=0.1",
            "--set", "training.lr_scheduler=cosine", "--set", "training.weight_decay=0.01",
            "--set", f"training.seed={SEED}", "--set", "data.val_size=0", *extra]
    load = os.getloadavg()[0]
    wall, rss, cpu = _child(argv, _env(work, f"f{tag}"), work / f"framework-{tag}.log")
    metrics = json.loads((out / "metrics.json").read_text())
    return RunStats("framework", wall, metrics["train_runtime_s"], metrics["tokens_per_second"], rss, cpu,
                    metrics["train_tokens"], metrics["steps"], load_before=load)


def run_plain(model: Path, data: Path, work: Path, tag: str, max_steps: int = -1) -> RunStats:
    out = work / f"plain-{tag}"
    argv = [sys.executable, str(BENCH / "plain_sft.py"), "--model", str(model), "--data", str(data), "--output", str(out),
            "--cutoff-len", str(CUTOFF), "--micro-batch", "4", "--epochs", "1", "--lr", "1e-4", "--seed", str(SEED),
            "--max-steps", str(max_steps)]
    load = os.getloadavg()[0]
    wall, rss, cpu = _child(argv, _env(work, f"p{tag}"), work / f"plain-{tag}.log")
    metrics = json.loads((out / "plain_metrics.json").read_text())
    return RunStats("plain", wall, metrics["train_runtime_s"], metrics["tokens_per_second"], rss, cpu,
                    metrics["train_tokens"], metrics["steps"], load_before=load)


def run_llamafactory(model: Path, data: Path, work: Path, tag: str, python: Path, tokens: int,
                     max_steps: int = -1) -> RunStats:
    """LLaMA-Factory's ``llamafactory-cli train`` on the same settings (bench/llamafactory_side.py).

    Tokens: the real (non-padding) tokens its Trainer counted, else the whole epoch's ``tokens``.
    """
    config, out = llamafactory_side.write_config(work, tag, model, data, cutoff=CUTOFF, seed=SEED, max_steps=max_steps)
    load = os.getloadavg()[0]
    wall, rss, cpu = _child(llamafactory_side.command(python, config), _env(work, f"l{tag}"),
                            work / f"llamafactory-{tag}.log")
    metrics = llamafactory_side.metrics(out)
    tokens = metrics["tokens"] or tokens
    return RunStats("llamafactory", wall, metrics["train_runtime_s"], tokens / metrics["train_runtime_s"], rss, cpu,
                    tokens, metrics["steps"], load_before=load)


def llamafactory_rows(model: Path, data: Path, work: Path, python: Path) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The (input_ids, labels) LLaMA-Factory trains on: its tokenized dataset, written once, untimed."""
    tokenized = work / "llamafactory-tokenized"
    config, _ = llamafactory_side.write_config(work, "tokenize", model, data, cutoff=CUTOFF, seed=SEED,
                                               tokenized=tokenized, max_steps=1)
    _child(llamafactory_side.command(python, config), _env(work, "ltok"), work / "llamafactory-tokenize.log")
    return llamafactory_side.tokenized_rows(tokenized)


def framework_rows(model: Path, data: Path, work: Path) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """The (input_ids, labels) the framework trains on, from ``framework render --json``."""
    proc = subprocess.run(
        [sys.executable, "-m", "framework", "render", "--model", str(model), "--data", str(data), "--json",
         "--cutoff-len", str(CUTOFF), "--set", "data.val_size=0"],
        cwd=REPO, env=_env(work, "render"), capture_output=True, text=True, check=True,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return [(tuple(r["input_ids"]), tuple(r["labels"])) for r in rows]


def validation_loss(model_dir: Path, adapter_dir: Path | None, samples: list[dict[str, list[int]]]) -> float:
    """Mean cross entropy over the labelled tokens of the held-out samples (base + adapter)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if adapter_dir is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter_dir)
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for sample in samples:
            ids = torch.tensor([sample["input_ids"]])
            labels = torch.tensor(sample["labels"][1:])
            logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
            keep = labels != -100
            total += F.cross_entropy(logits[keep], labels[keep], reduction="sum").item()
            count += int(keep.sum())
    return total / count


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _table(stats: list[RunStats]) -> list[str]:
    lines = ["| side | round | tokens/s | train s | wall s | CPU s | peak RSS MiB | val loss | steps | load avg before |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for s in stats:
        lines.append(f"| {s.side} | {s.round} | {s.tokens_per_s:,.0f} | {s.train_s:.1f} | {s.wall_s:.1f} | {s.cpu_s:.1f} | "
                     f"{s.peak_rss_mib:,.0f} | {s.val_loss:.4f} | {s.steps} | {s.load_before:.2f} |")
    return lines


#: Targets against each other side: tokens/s ratio at least, peak RSS ratio at most, val loss apart at most.
TARGETS = {"plain": (3.0, 0.5, 0.05), "llamafactory": (8.0, 0.3, 0.01)}


def summary(stats: list[RunStats], other: str = "plain") -> tuple[list[str], dict[str, Any]]:
    """Medians per side, the ratios against ``other`` and whether each target is met."""
    side = {name: [s for s in stats if s.side == name] for name in ("framework", other)}
    med = {name: {k: _median([getattr(s, k) for s in runs]) for k in ("tokens_per_s", "wall_s", "cpu_s", "peak_rss_mib", "val_loss")}
           for name, runs in side.items()}
    f, p = med["framework"], med[other]
    want_speed, want_rss, want_loss = TARGETS[other]
    speed = f["tokens_per_s"] / p["tokens_per_s"]
    rss = f["peak_rss_mib"] / p["peak_rss_mib"]
    wall = p["wall_s"] / f["wall_s"]
    cpu = p["cpu_s"] / f["cpu_s"]
    loss = abs(f["val_loss"] - p["val_loss"]) / p["val_loss"]
    rounds = sorted({s.round for s in stats})
    paired = [next(s for s in stats if s.round == r and s.side == "framework").tokens_per_s
              / next(s for s in stats if s.round == r and s.side == other).tokens_per_s for r in rounds]
    verdict = {
        "against": other, "tokens_per_s_ratio": speed, "tokens_per_s_ratio_per_round": paired,
        "tokens_per_s_target_met": speed >= want_speed,
        "peak_rss_ratio": rss, "peak_rss_target_met": rss <= want_rss,
        "val_loss_rel_diff": loss, "val_loss_target_met": loss <= want_loss,
        "wall_speedup": wall, "cpu_seconds_ratio": cpu, "medians": med,
    }
    lines = [
        f"| metric | framework | {other} | ratio | target | met |",
        "|---|---|---|---|---|---|",
        f"| training tokens/s | {f['tokens_per_s']:,.0f} | {p['tokens_per_s']:,.0f} | {speed:.2f}x | >= {want_speed:g}x | {'yes' if speed >= want_speed else 'no'} |",
        f"| peak RSS MiB | {f['peak_rss_mib']:,.0f} | {p['peak_rss_mib']:,.0f} | {rss:.2f} | <= {want_rss:g} | {'yes' if rss <= want_rss else 'no'} |",
        f"| validation loss | {f['val_loss']:.4f} | {p['val_loss']:.4f} | {100 * loss:.2f}% apart | within {100 * want_loss:g}% | {'yes' if loss <= want_loss else 'no'} |",
        f"| wall s, command to saved adapter | {f['wall_s']:.1f} | {p['wall_s']:.1f} | {wall:.2f}x faster | - | - |",
        f"| tokens/s ratio per round (sides alternated) | | | {', '.join(f'{r:.2f}x' for r in paired)} | - | - |",
        f"| CPU s of the whole process | {f['cpu_s']:.1f} | {p['cpu_s']:.1f} | {cpu:.2f}x less | - | - |",
    ]
    return lines, verdict


def micro_batches(samples: list[dict[str, list[int]]], batch: int = 4) -> list[list[dict[str, list[int]]]]:
    """The samples in the Trainer's seeded order (seed 42), ``batch`` at a time."""
    import torch

    generator = torch.Generator()
    generator.manual_seed(SEED)
    order = torch.randperm(len(samples), generator=generator).tolist()
    return [[samples[i] for i in order[k : k + batch]] for k in range(0, len(order), batch)]


def lora_model(model_dir: Path) -> Any:
    """The bench's LoRA model (r 16, alpha 32, all seven projections, dropout off) in training mode."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="sdpa")
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"]))
    model.train()
    return model


def padded_positions(samples: list[dict[str, list[int]]], batch: int = 4) -> int:
    """Positions the plain way computes over one epoch: every batch padded to its longest sample."""
    return sum(len(group) * max(len(s["input_ids"]) for s in group) for group in micro_batches(samples, batch))


def step_ab(model_dir: Path, samples: list[dict[str, list[int]]], batches: int) -> dict[str, float]:
    """Forward + backward of the same micro-batches both ways in one process, alternating.

    Both sides share one LoRA model (dropout off, so the two losses of a batch must agree) and
    the Trainer's batch order (seed 42); what differs is only the collator and the loss:
    packed + fused chunked labelled-only loss against padded + the model's full-logits loss.
    Alternating batch by batch puts both under the same machine load, so the ratio holds on
    a busy machine where whole-run timings drift. CPU seconds are this process's.
    """
    import torch

    from framework.data.collate import PackingCollator, PaddedCollator
    from framework.loss import chunked_causal_lm_loss

    model = lora_model(model_dir)
    groups = micro_batches(samples)[:batches]
    totals = {"framework_wall": 0.0, "plain_wall": 0.0, "framework_cpu": 0.0, "plain_cpu": 0.0}
    worst = 0.0
    for k, group in enumerate(groups):
        losses = {}
        for side in ("framework", "plain") if k % 2 == 0 else ("plain", "framework"):
            wall, cpu = time.perf_counter(), time.process_time()
            if side == "framework":
                loss = chunked_causal_lm_loss(model, PackingCollator()(group))
            else:
                model.config.use_cache = True  # the plain way's default
                loss = model(**PaddedCollator(pad_token_id=128_004)(group)).loss
                model.config.use_cache = False
            loss.backward()
            model.zero_grad(set_to_none=True)
            totals[f"{side}_wall"] += time.perf_counter() - wall
            totals[f"{side}_cpu"] += time.process_time() - cpu
            losses[side] = float(loss.detach())
        worst = max(worst, abs(losses["framework"] - losses["plain"]))
    return {**totals, "batches": len(groups), "max_loss_difference": worst,
            "wall_ratio": totals["plain_wall"] / totals["framework_wall"],
            "cpu_ratio": totals["plain_cpu"] / totals["framework_cpu"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="framework/plain pairs, alternating order (F P, P F, ...)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep models, data and runs here (default: temporary)")
    parser.add_argument("--json", type=Path, default=None, help="write every run and the summary here")
    parser.add_argument("--framework-set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra --set for the framework side (e.g. data.packing=false to isolate a fast path)")
    parser.add_argument("--sides", nargs="+", default=["framework", "plain"],
                        choices=["framework", "plain", "llamafactory"],
                        help="which sides run; llamafactory installs LLaMA-Factory into its own venv on first use")
    parser.add_argument("--max-steps", type=int, default=-1,
                        help="stop every side after this many steps (-1: one epoch); for a machine too busy for an epoch")
    parser.add_argument("--ab-batches", type=int, default=40,
                        help="micro-batches of the in-process alternating forward+backward comparison (0: skip)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="e2e-cpu-") as tmp:
        work = (args.workdir or Path(tmp)).resolve()
        work.mkdir(parents=True, exist_ok=True)
        from framework_llama3.checkpoints import provide_demo_model
        from framework_llama3.tokenizer import build_llama3_tokenizer

        model = Path(provide_demo_model(work / "models").path)
        train_records, held_out_records = generate(TRAIN_SAMPLES, seed=0), generate(HELD_OUT, seed=1)
        train_file, held_out_file = work / "train.jsonl", work / "held_out.jsonl"
        write_jsonl(train_file, train_records)
        write_jsonl(held_out_file, held_out_records)

        tokenizer = build_llama3_tokenizer("3")
        plain_train = [tokenize(r, tokenizer, CUTOFF) for r in train_records]
        held_out = [tokenize(r, tokenizer, CUTOFF) for r in held_out_records]
        lengths = [len(s["input_ids"]) for s in plain_train]
        labelled = sum(sum(1 for x in s["labels"] if x != -100) for s in plain_train)
        ours = sorted(framework_rows(model, train_file, work))
        same = ours == sorted((tuple(s["input_ids"]), tuple(s["labels"])) for s in plain_train)
        print(f"machine: {os.cpu_count()} CPUs visible, torch threads default; python {sys.version.split()[0]}")
        print(f"data: {len(lengths)} train samples, tokens min/mean/max {min(lengths)}/{statistics.mean(lengths):.0f}/"
              f"{max(lengths)}, {sum(lengths):,} tokens, {labelled / sum(lengths):.0%} labelled; "
              f"{len(held_out)} held-out samples")
        print(f"both sides train on identical token ids and labels: {same}")
        if not same:
            raise SystemExit("the plain tokenization differs from the framework's: the comparison would be unfair")
        lf_python = None
        if "llamafactory" in args.sides:
            lf_python = llamafactory_side.ensure_venv()
            print(f"llamafactory environment: {llamafactory_side.versions(lf_python)}")
            theirs = sorted(llamafactory_rows(model, train_file, work, lf_python))
            lf_tokens = sum(len(ids) for ids, _ in theirs)
            lf_labelled = sum(sum(1 for x in labels if x != -100) for _, labels in theirs)
            print(f"LLaMA-Factory trains on {len(theirs)} samples, {lf_tokens:,} tokens, {lf_labelled:,} labelled; "
                  f"identical token ids and labels to the framework's: {theirs == ours}")
            if (len(theirs), lf_tokens, lf_labelled) != (len(lengths), sum(lengths), labelled):
                raise SystemExit("LLaMA-Factory's token counts differ from the framework's: the comparison would be unfair")

        padded = padded_positions(plain_train)
        print(f"work avoided: the plain way runs the head over {padded:,} padded positions, the framework over "
              f"{labelled:,} labelled ones ({padded / labelled:.2f}x) and the decoder over {padded / sum(lengths):.2f}x "
              f"the real tokens (batches of 4 in seed-{SEED} order): the speed-up that skipping work alone gives")
        if args.ab_batches:
            ab = step_ab(model, plain_train, args.ab_batches)
            print(f"in-process A/B over {ab['batches']} micro-batches (forward + backward, alternating): plain/framework "
                  f"wall {ab['wall_ratio']:.2f}x, CPU {ab['cpu_ratio']:.2f}x; framework {ab['framework_wall']:.1f} s, plain "
                  f"{ab['plain_wall']:.1f} s; largest loss difference {ab['max_loss_difference']:.2e}", flush=True)
        stats: list[RunStats] = []
        sides = list(dict.fromkeys(args.sides))
        for round_no in range(args.rounds):
            turn = round_no % len(sides)  # F P, P F, ... (three sides: F P L, P L F, L F P)
            order = sides[turn:] + sides[:turn]
            for side in order:
                tag = str(round_no)
                extra = [item for kv in args.framework_set for item in ("--set", kv)]
                if args.max_steps > 0:
                    extra += ["--set", f"training.max_steps={args.max_steps}"]
                if side == "framework":
                    result = run_framework(model, train_file, work, tag, extra)
                elif side == "plain":
                    result = run_plain(model, train_file, work, tag, args.max_steps)
                else:
                    assert lf_python is not None
                    result = run_llamafactory(model, train_file, work, tag, lf_python, sum(lengths), args.max_steps)
                adapter = work / f"{side}-{tag}"
                result.val_loss = validation_loss(model, adapter, held_out)
                result.round = round_no + 1
                stats.append(result)
                print(f"  {side:<9} round {round_no + 1}: {result.tokens_per_s:,.0f} tok/s, train {result.train_s:.1f} s, "
                      f"wall {result.wall_s:.1f} s, CPU {result.cpu_s:.1f} s, peak RSS {result.peak_rss_mib:,.0f} MiB, val loss {result.val_loss:.4f} "
                      f"(load {result.load_before:.2f})", flush=True)
        if not stats:
            return
        base = validation_loss(model, None, held_out)
        print(f"\nvalidation loss before training: {base:.4f}\n")
        print("\n".join(_table(sorted(stats, key=lambda s: s.side))))
        print()
        verdicts = {}
        for other in (name for name in sides if name != "framework"):
            if "framework" not in sides:
                break
            lines, verdicts[other] = summary(stats, other)
            print("\n".join(lines) + "\n")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        if args.json:
            args.json.write_text(json.dumps({"runs": [asdict(s) for s in stats], "summary": verdicts,
                                             "step_ab": ab if args.ab_batches else None,
                                             "base_val_loss": base, "data": {"lengths": lengths, "labelled": labelled}},
                                            indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
