"""Measure the peak memory of real training steps of tiny models on CPU and compare it with
``framework.planning.estimate``.

Each case builds a small decoder from a ``LlamaConfig`` (the reference architecture of
transformers), attaches the method the way the framework does (peft LoRA, bitsandbytes NF4
with k-bit preparation, gradient checkpointing), and runs two training steps: forward, loss
(the model's own or the framework's chunked loss), backward, gradient clipping, AdamW. The
second step is measured: what is resident before it (weights, adapters, quantization state,
optimizer moments) is summed tensor by tensor, and everything the step allocates is followed
with torch's profiler (``profile_memory=True`` reports every CPU allocation and free, so the
peak includes temporaries that saved-tensor hooks miss). The estimate is taken with the same
settings and without the CUDA context and allocator slack, which a CPU does not have.

    python bench/memory_peaks.py            # all cases, a table on stdout
    python bench/memory_peaks.py --markdown # the table of docs/memory.md
    python bench/memory_peaks.py --only lora-ckpt-chunked
    python bench/memory_peaks.py --published  # only the comparison with published peaks
    python bench/memory_peaks.py --choices    # choose_method on common accelerator sizes

The published peaks it also compares with are computed from the official configs kept in
tests/oracles/configs (provenance in tests/oracles/SOURCES.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ALL_LINEARS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SMALL = dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, vocab_size=4096)
MEDIUM = dict(hidden_size=128, intermediate_size=352, num_hidden_layers=3, num_attention_heads=4,
              num_key_value_heads=2, vocab_size=8192)
DEEP = dict(hidden_size=192, intermediate_size=512, num_hidden_layers=4, num_attention_heads=6,
            num_key_value_heads=2, vocab_size=512)
BIG = dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=2, num_attention_heads=8,
           num_key_value_heads=4, vocab_size=1024)
WIDE = dict(hidden_size=256, intermediate_size=704, num_hidden_layers=2, num_attention_heads=8,
            num_key_value_heads=2, vocab_size=2048, head_dim=48)
#: A mixture of experts (MixtralConfig): 8 fused experts of width 256, top-2, and LoRA the way the
#: plugins target it: attention by module name, the fused experts through peft target_parameters.
MOE = dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
           num_key_value_heads=2, vocab_size=2048, num_local_experts=8, num_experts_per_tok=2)
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
EXPERTS = ["mlp.experts.gate_up_proj", "mlp.experts.down_proj"]


@dataclass(frozen=True)
class Case:
    """One measured training step and the estimate settings that describe it."""

    name: str
    config: dict[str, Any]
    method: str
    micro_batch: int = 2
    seq_len: int = 256
    grad_checkpointing: bool = False
    chunked_loss: bool = False
    optimizer: str = "adamw"
    lora_r: int = 8
    lora_dropout: float = 0.0
    loss_chunk_size: int = 128
    freeze_layers: int = 1
    dtype: str = "fp32"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def moe(self) -> bool:
        return "num_local_experts" in self.config


CASES = (
    Case("full-plain", SMALL, "full"),
    Case("full-fused-plain", SMALL, "full", optimizer="adamw_fused"),
    Case("full-ckpt-chunked", MEDIUM, "full", grad_checkpointing=True, chunked_loss=True),
    Case("full-wide-plain", WIDE, "full", seq_len=384),
    Case("freeze-plain", MEDIUM, "freeze"),
    Case("lora-plain", SMALL, "lora"),
    Case("lora-chunked", MEDIUM, "lora", chunked_loss=True, micro_batch=4),
    Case("lora-ckpt-chunked", MEDIUM, "lora", grad_checkpointing=True, chunked_loss=True, micro_batch=4),
    Case("lora-wide-nockpt", WIDE, "lora", chunked_loss=True, seq_len=512, micro_batch=4),
    Case("dora-plain", SMALL, "dora"),
    Case("dora-wide-scratch", BIG, "dora", micro_batch=1, seq_len=32),
    Case("qlora-plain", MEDIUM, "qlora"),
    Case("qlora-ckpt-chunked", WIDE, "qlora", grad_checkpointing=True, chunked_loss=True, seq_len=512),
    Case("adamw8bit-full", SMALL, "full", optimizer="adamw_8bit"),
    Case("deep-full", DEEP, "full", seq_len=512),
    Case("deep-full-ckpt", DEEP, "full", seq_len=512, grad_checkpointing=True),
    Case("deep-lora", DEEP, "lora", seq_len=512),
    Case("deep-lora-ckpt", DEEP, "lora", seq_len=512, grad_checkpointing=True),
    Case("deep-qlora-ckpt", DEEP, "qlora", seq_len=512, grad_checkpointing=True),
    Case("deep-freeze", DEEP, "freeze", seq_len=512, freeze_layers=2),
    Case("big-full-step", BIG, "full", micro_batch=1, seq_len=32),
    Case("big-full-fused-step", BIG, "full", micro_batch=1, seq_len=32, optimizer="adamw_fused"),
    Case("bf16-full", DEEP, "full", seq_len=512, dtype="bf16"),
    Case("bf16-full-ckpt-chunked", DEEP, "full", seq_len=512, dtype="bf16", grad_checkpointing=True,
         chunked_loss=True),
    Case("bf16-lora", DEEP, "lora", seq_len=512, dtype="bf16"),
    Case("bf16-lora-ckpt-chunked", DEEP, "lora", seq_len=512, dtype="bf16", grad_checkpointing=True,
         chunked_loss=True),
    Case("bf16-qlora-ckpt", DEEP, "qlora", seq_len=512, dtype="bf16", grad_checkpointing=True),
    Case("bf16-qlora", DEEP, "qlora", seq_len=512, dtype="bf16"),
    Case("adapter-plain", MEDIUM, "adapter", extra={"adapter_dim": 32}),
    Case("adapter-ckpt-chunked", DEEP, "adapter", seq_len=512, grad_checkpointing=True, chunked_loss=True,
         extra={"adapter_dim": 32}),
    Case("moe-full-plain", MOE, "full"),
    Case("moe-lora-plain", MOE, "lora"),
    Case("moe-lora-ckpt-chunked", MOE, "lora", grad_checkpointing=True, chunked_loss=True, micro_batch=4),
    Case("moe-qlora-ckpt", MOE, "qlora", grad_checkpointing=True),
    Case("moe-bf16-qlora-ckpt", MOE, "qlora", grad_checkpointing=True, dtype="bf16"),
)


#: LLaMA-2-7B, the model of LLaMA-Factory's measurements (not among the kept official configs).
#: source: https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json
LLAMA2_7B = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096,
             "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
             "num_key_value_heads": 32, "vocab_size": 32000, "max_position_embeddings": 4096,
             "tie_word_embeddings": False}
TORCHTUNE = "pytorch/torchtune README.md @bd2a0fc7, 'Memory and training speed' (1x RTX 4090)"
LF_WIKI = "github.com/hiyouga/LLaMA-Factory/wiki/Performance-comparison"
LF_README = "hiyouga/LLaMA-Factory README.md @ff6d4d12, 'Hardware Requirement' (estimates)"
# torchtune's recipes: LoRA on q, v, output projections and the MLP, rank 8, adapters in bf16,
# embeddings unquantized in bf16, CEWithChunkedOutputLoss (8 chunks), activation checkpointing.
_TT = dict(micro_batch=2, seq_len=2048, grad_checkpointing=True, lora_r=8, adapter_dtype="compute",
           loss_chunk_size=512, optimizer="adamw_fused")
_TT_LORA = ["q_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# LLaMA-Factory (transformers 4.3x + peft): LoRA rank 8 on all linears, the model's own loss,
# gradient checkpointing, torch AdamW; batches counted at their longest (cutoff) length.
_LF = dict(lora_r=8, grad_checkpointing=True, chunked_loss=False, optimizer="adamw")


@dataclass(frozen=True)
class Published:
    """A published peak and the estimate settings that describe its run."""

    name: str
    model: str  # official config stem under tests/oracles/configs, or "llama2-7b"
    published_gib: float
    source: str
    conditions: str
    method: str
    settings: dict[str, Any]


PUBLISHED = (
    Published("torchtune LoRA 8B", "Llama-3.1-8B-Instruct", 16.2, TORCHTUNE,
              "bs 2, packed 2048, compile, chunked CE, act. ckpt, r=8 q/v/o+MLP", "lora",
              dict(_TT, lora_targets=_TT_LORA)),
    Published("torchtune QLoRA 8B", "Llama-3.1-8B-Instruct", 7.4, TORCHTUNE,
              "same, NF4 base, r=8 all linears", "qlora", dict(_TT, upcast_unquantized=False)),
    Published("LLaMA-Factory LoRA 7B (HF+FA2)", "llama2-7b", 17.0, LF_WIKI,
              "bs 4, cutoff 1024, r=8 all modules, FA2", "lora", dict(_LF, micro_batch=4, seq_len=1024)),
    Published("LLaMA-Factory LoRA 7B (HF)", "llama2-7b", 18.0, LF_WIKI,
              "bs 4, cutoff 1024, r=8 all modules, SDPA", "lora",
              dict(_LF, micro_batch=4, seq_len=1024, attn_implementation="sdpa", packed=False)),
    Published("LLaMA-Factory QLoRA 7B (HF)", "llama2-7b", 9.0, LF_WIKI,
              "bs 4, cutoff 1024, r=8 all modules, 4-bit", "qlora",
              dict(_LF, micro_batch=4, seq_len=1024, attn_implementation="sdpa", packed=False)),
    *(Published(f"LLaMA-Factory QLoRA 7B, {seq // 1024}K", "llama2-7b", gib, LF_WIKI,
                f"bs 1, {seq} tokens, r=8, 4-bit, FA2, A100 40GB", "qlora", dict(_LF, micro_batch=1, seq_len=seq))
      for seq, gib in ((2048, 7.0), (8192, 12.0), (16384, 19.0), (32768, 32.0))),
    Published("LLaMA-Factory estimate: full AMP 7B", "llama2-7b", 120.0, LF_README,
              "fp32 master weights + 16-bit autocast (fused AdamW, bs 1, 1024)", "full",
              dict(micro_batch=1, seq_len=1024, compute_dtype="fp16", chunked_loss=False, optimizer="adamw_fused")),
    Published("LLaMA-Factory estimate: full pure bf16 7B", "llama2-7b", 60.0, LF_README,
              "bf16 weights and states (fused AdamW, bs 1, 1024)", "full",
              dict(micro_batch=1, seq_len=1024, chunked_loss=False, optimizer="adamw_fused")),
    Published("LLaMA-Factory estimate: LoRA 7B", "llama2-7b", 16.0, LF_README, "bs 1, 1024", "lora",
              dict(micro_batch=1, seq_len=1024, chunked_loss=False)),
    Published("LLaMA-Factory estimate: QLoRA 8-bit 7B", "llama2-7b", 10.0, LF_README, "bs 1, 1024", "qlora8",
              dict(micro_batch=1, seq_len=1024, chunked_loss=False)),
    Published("LLaMA-Factory estimate: QLoRA 4-bit 7B", "llama2-7b", 6.0, LF_README, "bs 1, 1024", "qlora",
              dict(micro_batch=1, seq_len=1024, chunked_loss=False)),
)


CHOICE_MODELS = ("Meta-Llama-3-8B", "Qwen2.5-7B-Instruct", "Mistral-7B-v0.1", "gemma-2-9b-it", "Llama-3.2-3B-Instruct")
CHOICE_GPUS = ("80GB", "48GB", "24GB", "16GB", "12GB", "8GB")


def choices_markdown(seq_len: int = 2048) -> str:
    """``choose_method`` for a few official configs on common accelerator sizes."""
    from framework.planning import choose_method, parse_size

    lines = ["| model | " + " | ".join(CHOICE_GPUS) + " |", "|---|" + "---|" * len(CHOICE_GPUS)]
    for model in CHOICE_MODELS:
        cells = []
        for gpu in CHOICE_GPUS:
            c = choose_method(published_facts(model), gpu_bytes=parse_size(gpu), seq_len=seq_len)
            peak = c.estimate.total / 2**30
            cells.append(f"{c.method} mb{c.micro_batch}{' ckpt' if c.grad_checkpointing else ''} {peak:.1f}"
                         if c.fits else f"none ({c.method} {peak:.1f})")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: Published config.json files (provenance in tests/oracles/SOURCES.md).
OFFICIAL_CONFIGS = REPO / "tests" / "oracles" / "configs"


def published_facts(model: str) -> Any:
    from framework.facts import facts_from_config

    if model == "llama2-7b":
        return facts_from_config(LLAMA2_7B, "meta-llama/Llama-2-7b-hf")
    path = OFFICIAL_CONFIGS / f"{model}.config.json"
    return facts_from_config(json.loads(path.read_text(encoding="utf-8")), model)


def published_estimate(row: Published) -> Any:
    from framework.planning import estimate

    return estimate(published_facts(row.model), method=row.method, **row.settings)


def published_markdown() -> str:
    lines = ["| run | conditions | published | estimated | error | source |", "|---|---|---|---|---|---|"]
    for row in PUBLISHED:
        est = published_estimate(row).total / 2**30
        error = (est - row.published_gib) / row.published_gib
        lines.append(f"| {row.name} | {row.conditions} | {row.published_gib:.1f} GiB | {est:.2f} GiB "
                     f"| {error:+.1%} | {row.source} |")
    return "\n".join(lines)


@dataclass(frozen=True)
class Result:
    case: Case
    measured: int
    measured_resident: int
    measured_step: int
    estimated: int
    estimated_resident: int
    estimated_step: int
    seconds: float

    @property
    def error(self) -> float:
        return (self.estimated - self.measured) / self.measured


def _llama_config(case: Case) -> Any:
    from transformers import LlamaConfig, MixtralConfig

    kind = MixtralConfig if case.moe else LlamaConfig
    config = kind(max_position_embeddings=4096, tie_word_embeddings=False, **case.config)
    config._attn_implementation = "sdpa"
    return config


def _torch_dtype(case: Case) -> Any:
    import torch

    return {"fp32": torch.float32, "bf16": torch.bfloat16}[case.dtype]


def build_model(case: Case) -> Any:
    """The model as the framework trains it: loaded in the compute dtype, the method attached."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = _llama_config(case)
    dtype = _torch_dtype(case)
    if case.method == "qlora":
        from transformers import BitsAndBytesConfig

        with tempfile.TemporaryDirectory() as directory:
            AutoModelForCausalLM.from_config(config).save_pretrained(directory)
            quant = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                       bnb_4bit_compute_dtype=dtype)
            model = AutoModelForCausalLM.from_pretrained(directory, quantization_config=quant, dtype=dtype,
                                                         attn_implementation="sdpa")
        from peft import prepare_model_for_kbit_training

        from framework.methods import fused_expert_dtypes, restore_dtypes

        kept = fused_expert_dtypes(model)  # as framework.methods: fused experts stay in the compute dtype
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=case.grad_checkpointing)
        restore_dtypes(model, kept)
    else:
        model = AutoModelForCausalLM.from_config(config).to(dtype)
    if case.grad_checkpointing:
        model.gradient_checkpointing_enable()
    if case.method == "freeze":
        for param in model.parameters():
            param.requires_grad_(False)
        for layer in list(model.model.layers)[-case.freeze_layers:]:
            for param in layer.parameters():
                param.requires_grad_(True)
    if case.method == "adapter":  # bottleneck adapters as framework.bottleneck attaches them
        from framework.bottleneck import attach

        for param in model.parameters():
            param.requires_grad_(False)
        attach(model, dim=case.extra.get("adapter_dim", 64), placement="both", nonlinearity="relu", dropout=0.1)
        for name, param in model.named_parameters():
            param.requires_grad_(".bottleneck_" in name)
        if case.grad_checkpointing:
            model.enable_input_require_grads()
    if case.method in ("lora", "dora", "qlora"):
        from peft import LoraConfig, get_peft_model

        experts = {"target_parameters": EXPERTS} if case.moe else {}
        model = get_peft_model(model, LoraConfig(r=case.lora_r, lora_alpha=2 * case.lora_r,
                                                 target_modules=ATTENTION if case.moe else ALL_LINEARS,
                                                 lora_dropout=case.lora_dropout, use_dora=case.method == "dora",
                                                 **experts))
        if case.grad_checkpointing:
            model.enable_input_require_grads()
    model.train()
    return model


def _optimizer(case: Case, params: list[Any]) -> Any:
    import torch

    if case.optimizer == "adamw":  # what CUDA runs by default: the multi-tensor kernel
        return torch.optim.AdamW(params, lr=1e-3, foreach=True)
    if case.optimizer == "adamw_fused":
        return torch.optim.AdamW(params, lr=1e-3, fused=True)
    if case.optimizer == "adamw_8bit":
        import bitsandbytes as bnb

        return bnb.optim.AdamW8bit(params, lr=1e-3)
    raise ValueError(case.optimizer)


def _storage_bytes(tensors: list[Any]) -> int:
    seen: dict[int, int] = {}
    for tensor in tensors:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
    return sum(seen.values())


def _resident_tensors(model: Any, optimizer: Any) -> list[Any]:
    import torch

    tensors: list[Any] = list(model.parameters()) + list(model.buffers())
    for param in model.parameters():
        quant_state = getattr(param, "quant_state", None)
        if quant_state is not None:  # NF4 absmax (8-bit), its fp32 absmax and the code books
            tensors += [t for t in (quant_state.absmax, quant_state.code) if t is not None]
            if quant_state.state2 is not None:
                tensors += [quant_state.state2.absmax, quant_state.state2.code]
    for state in optimizer.state.values():
        tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
    return tensors


def _step(case: Case, model: Any, optimizer: Any, batch: dict[str, Any]) -> None:
    """One optimizer step as the Trainer runs it: 16-bit autocast around forward and loss only."""
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=case.dtype == "bf16"):
        if case.chunked_loss:
            from framework.loss import chunked_causal_lm_loss

            loss = chunked_causal_lm_loss(model, batch, chunk_size=case.loss_chunk_size)
        else:
            loss = model(**batch).loss
    loss.backward()
    del loss
    torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
    optimizer.step()


def _profiled_peak(run: Any) -> int:
    """Largest number of bytes the step held at once, among those it allocated itself."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "trace.json")
        prof.export_chrome_trace(path)
        events = json.loads(Path(path).read_text())["traceEvents"]
    memory = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"])
    if not memory:
        return 0
    # The allocator's running total survives from earlier profiled runs in this process (frees
    # outside a profiled window are not subtracted): measure from this window's first event.
    baseline = memory[0]["args"]["Total Allocated"] - memory[0]["args"]["Bytes"]
    return max(e["args"]["Total Allocated"] for e in memory) - baseline


def measure(case: Case) -> tuple[int, int]:
    """(resident bytes before the step, peak bytes the step adds) of the second step."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: allocation order, hence the peak, is reproducible
    try:
        return _measure(case)
    finally:
        torch.set_num_threads(threads)


def _measure(case: Case) -> tuple[int, int]:
    import torch

    model = build_model(case)
    optimizer = _optimizer(case, [p for p in model.parameters() if p.requires_grad])
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, case.config["vocab_size"], (case.micro_batch, case.seq_len), generator=generator)
    batch = {"input_ids": ids, "labels": ids.clone()}
    _step(case, model, optimizer, batch)
    optimizer.zero_grad(set_to_none=True)
    resident = _storage_bytes(_resident_tensors(model, optimizer) + [ids, batch["labels"]])
    step_peak = _profiled_peak(lambda: _step(case, model, optimizer, batch))
    return resident, step_peak


def estimated(case: Case) -> Any:
    from framework.facts import facts_from_config
    from framework.planning import estimate

    facts = facts_from_config(_llama_config(case).to_dict(), f"tiny-{case.name}")
    return estimate(facts, method=case.method, micro_batch=case.micro_batch, seq_len=case.seq_len,
                    grad_checkpointing=case.grad_checkpointing, optimizer=case.optimizer, compute_dtype=case.dtype,
                    lora_r=case.lora_r, lora_targets=ATTENTION if case.moe else ALL_LINEARS,
                    lora_parameters=EXPERTS if case.moe else (), freeze_trainable_layers=case.freeze_layers,
                    packed=False, chunked_loss=case.chunked_loss, lora_dropout=case.lora_dropout,
                    loss_chunk_size=case.loss_chunk_size, attn_implementation="sdpa", **case.extra)


def run_case(case: Case) -> Result:
    start = time.perf_counter()
    resident, step = measure(case)
    est = estimated(case)
    b = est.breakdown
    est_resident = b["weights"] + b["adapter_weights"] + b["optimizer"]
    return Result(case, resident + step, resident, step, est.without_context, est_resident,
                  est.without_context - est_resident, time.perf_counter() - start)


def _mib(size: int) -> str:
    return f"{size / 2**20:.2f}"


def markdown(results: list[Result]) -> str:
    lines = [
        "| case | model (d/f/L/V) | method (optimizer) | dtype | tokens | ckpt | loss "
        "| measured MiB (resident + step) | estimated MiB (resident + step) | error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c = r.case
        cfg = c.config
        lines.append(
            f"| {c.name} | {cfg['hidden_size']}/{cfg['intermediate_size']}/{cfg['num_hidden_layers']}/"
            f"{cfg['vocab_size']} | {c.method} ({c.optimizer}) | {c.dtype} | {c.micro_batch}x{c.seq_len} "
            f"| {'yes' if c.grad_checkpointing else 'no'} | {'chunked' if c.chunked_loss else 'plain'} "
            f"| {_mib(r.measured)} ({_mib(r.measured_resident)} + {_mib(r.measured_step)}) "
            f"| {_mib(r.estimated)} ({_mib(r.estimated_resident)} + {_mib(r.estimated_step)}) | {r.error:+.1%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true", help="print the docs/memory.md table")
    parser.add_argument("--only", action="append", help="run only the named case(s)")
    parser.add_argument("--published", action="store_true", help="only compare with published peaks")
    parser.add_argument("--choices", action="store_true", help="only print choose_method decisions")
    args = parser.parse_args(argv)
    if args.choices:
        print(choices_markdown())
        return 0
    print("Published peaks (GiB as published; LLaMA-Factory's GB read as GiB):\n")
    print(published_markdown() + "\n")
    if args.published:
        return 0
    cases = [c for c in CASES if not args.only or c.name in args.only]
    results = []
    for case in cases:
        result = run_case(case)
        results.append(result)
        if not args.markdown:
            print(f"{case.name:22s} measured {_mib(result.measured):>8s} MiB  estimated {_mib(result.estimated):>8s} "
                  f"MiB  error {result.error:+6.1%}  (resident {_mib(result.measured_resident)} vs "
                  f"{_mib(result.estimated_resident)}, step {_mib(result.measured_step)} vs "
                  f"{_mib(result.estimated_step)})  {result.seconds:.1f}s", flush=True)
    if args.markdown:
        print(markdown(results))
    worst = max(abs(r.error) for r in results)
    print(f"\nworst error {worst:.1%} over {len(results)} cases", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
