"""The ``framework`` command line.

Import discipline: this module imports only the standard library at import time; each command
imports what it needs when it runs, so ``framework --help`` and ``framework plugins`` never load
torch or transformers.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any, Callable, Sequence

EXIT_OK, EXIT_INTERNAL, EXIT_USER, EXIT_INTERRUPTED = 0, 1, 2, 130


def _say(text: str) -> None:
    print(text, flush=True)


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments shared by run, plan and check."""
    parser.add_argument("config", nargs="?", help="YAML config file (optional)")
    parser.add_argument("--model", help="model directory or hub id (default: the bundled demo model)")
    parser.add_argument("--data", action="append", metavar="FILE", help="data file or directory (repeatable)")
    parser.add_argument("--format", choices=["auto", "alpaca", "sharegpt", "messages", "preference", "text"])
    parser.add_argument("--method", help="full, freeze, lora, dora, rslora, qlora, qlora8, prefix, prompt, ptuning, "
                                         "hybrid, adapter")
    parser.add_argument("--stage", help="sft (default), pt, dpo or grpo")
    parser.add_argument("--reward", action="append", metavar="NAME[:WEIGHT]",
                        help="--stage grpo: a reward by name (repeatable; `framework plugins` lists them)")
    parser.add_argument("--output", help="output directory")
    parser.add_argument("--plugin", help="force this family plugin")
    parser.add_argument("--cutoff-len", type=int, dest="cutoff_len", help="longest sample in tokens")
    parser.add_argument("--gpu", help="plan for this accelerator memory, e.g. 24GB")
    parser.add_argument("--seq-schedule", dest="seq_schedule", help="progressive lengths, e.g. 512:0.3,1024:1.0")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="any config key (repeatable)")
    parser.add_argument("--trust-remote-code", action="store_true", help="allow the model's own Python code")
    parser.add_argument("--allow-pickle", action="store_true", help="allow pickle-based weight files")
    parser.add_argument("--no-packing", action="store_true", help="padded batches instead of packing")
    parser.add_argument("--strict", action="store_true", help="fail on the first bad sample")
    parser.add_argument("--overwrite-cache", action="store_true", help="rebuild the preprocessing cache")


def _distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """Several GPUs or machines (run and plan); docs/distributed.md explains them."""
    parser.add_argument("--distributed", choices=["auto", "ddp", "zero2", "zero3", "zero3-offload", "fsdp"],
                        help="multi-GPU strategy (default auto: the memory planner picks)")
    parser.add_argument("--nproc", type=int, help="processes (GPUs) on this machine; above 1 relaunches under torchrun")
    parser.add_argument("--nnodes", type=int, help="machines taking part")
    parser.add_argument("--node-rank", type=int, dest="node_rank", help="this machine's index, 0 to nnodes-1")
    parser.add_argument("--master-addr", dest="master_addr", help="address of machine 0")
    parser.add_argument("--master-port", type=int, dest="master_port", help="rendezvous port on machine 0")


def build_parser(host: Any | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="framework",
        description="Fine-tune LLMs with each model family's pitfalls found and fixed before training.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="fine-tune (no arguments: the demo model on the bundled data)")
    _model_arguments(run)
    _distributed_arguments(run)
    run.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output")
    run.add_argument("--overwrite", action="store_true", help="replace a previous run in --output")
    run.set_defaults(func=_cmd_run)

    plan = sub.add_parser("plan", help="show what run would do: plugin, settings and sources, memory")
    _model_arguments(plan)
    _distributed_arguments(plan)
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument("--keys", action="store_true", help="list every config key with its description")
    plan.set_defaults(func=_cmd_plan)

    check = sub.add_parser("check", help="run tokenizer, model-config and data checks; train nothing")
    _model_arguments(check)
    check.set_defaults(func=_cmd_check)

    render = sub.add_parser("render", help="show exactly what the model sees for each sample")
    _model_arguments(render)
    render.add_argument("--json", action="store_true",
                        help="one JSON object per sample: input_ids, labels and spans (token ranges with their kind)")
    render.add_argument("--limit", type=int, default=None, help="show at most N samples")
    render.set_defaults(func=_cmd_render)

    plugins = sub.add_parser("plugins", help="installed plugins, versions, hooks, load errors")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    plugins.set_defaults(func=_cmd_plugins)

    new = sub.add_parser("new-plugin", help="scaffold a family plugin distribution framework-NAME")
    new.add_argument("name", help="family name, e.g. myfamily")
    new.add_argument("--dest", default=".", help="directory to create it in")
    new.set_defaults(func=_cmd_new_plugin)

    merge = sub.add_parser("merge", help="merge a run's LoRA/DoRA adapter into its base (bf16 safetensors)")
    merge.add_argument("output", help="the run's output directory")
    merge.add_argument("--dest", help="where to write the merged model (default OUTPUT/merged)")
    merge.set_defaults(func=_cmd_merge)

    chat = sub.add_parser("chat", help="talk to a trained run with its family's template and stop tokens")
    chat.add_argument("output", help="the run's output directory")
    chat.add_argument("--prompt", help="one-shot: answer this prompt and exit")
    chat.add_argument("--system", help="system prompt")
    chat.add_argument("--tools", help="JSON file with a list of function schemas the model may call")
    chat.add_argument("--max-new-tokens", type=int, default=256)
    chat.set_defaults(func=_cmd_chat)

    evaluate = sub.add_parser("eval", help="perplexity (and BLEU/ROUGE) before vs after fine-tuning")
    evaluate.add_argument("output", help="the run's output directory")
    evaluate.add_argument("--data", required=True, action="append", help="held-out data file")
    evaluate.add_argument("--generate", action="store_true", help="also generate answers and score BLEU/ROUGE")
    evaluate.add_argument("--limit", type=int, default=200, help="samples to evaluate")
    evaluate.set_defaults(func=_cmd_eval)

    tune = sub.add_parser("tune", help="hyperparameter search with Optuna (a run YAML with a search section)")
    tune.add_argument("config", help="run YAML with 'search' (and optionally 'tune') sections")
    tune.add_argument("--trials", type=int, help="trials the study should have finished (resumes a killed tune)")
    tune.add_argument("--output", help="study directory: study.db, one run directory per trial, best.yaml, plots")
    tune.add_argument("--gpu", help="skip trials the planner says exceed this memory, e.g. 24GB")
    tune.add_argument("--set", action="append", metavar="KEY=VALUE", help="run setting for every trial (repeatable)")
    tune.set_defaults(func=_cmd_tune)

    data = sub.add_parser("data", help="data tools: score samples for quality and diversity")
    data_sub = data.add_subparsers(dest="data_command", metavar="TOOL", required=True)
    score = data_sub.add_parser("score", help="per-sample quality scores, diversity clusters, a filtered copy")
    score.add_argument("--model", required=True, help="the base model that judges the replies")
    score.add_argument("--data", required=True, action="append", metavar="FILE", help="data file (repeatable)")
    score.add_argument("--output", help="report directory (default runs/data-score-<data file name>)")
    score.add_argument("--keep", help="write a filtered dataset of the best samples: top:K or top:P%%")
    score.add_argument("--min-score", type=float, dest="min_score", help="write a filtered dataset of samples >= this")
    score.add_argument("--batch-size", type=int, default=8, dest="batch_size", help="samples per forward pass")
    score.add_argument("--cutoff-len", type=int, dest="cutoff_len", help="longest sample in tokens (default: data.cutoff_len)")
    score.add_argument("--trust-remote-code", action="store_true", help="allow the model's own Python code")
    score.set_defaults(func=_cmd_data_score)

    ui = sub.add_parser("ui", help="a local web app: model, data, settings, runs, chat (needs framework[ui])")
    ui.add_argument("--host", dest="bind_host", metavar="ADDRESS", help="address to listen on (default 127.0.0.1; another address must be given here)")
    ui.add_argument("--port", type=int, default=7860, help="port to listen on (default 7860)")
    ui.add_argument("--share", action="store_true", help="also make a public Gradio share link")
    ui.add_argument("--runs", default="runs", help="folder of the runs the UI starts and lists (default runs)")
    ui.set_defaults(func=_cmd_ui)

    if host is not None:
        host.call_all("add_commands", subparsers=sub)
    return parser


def _host() -> Any:
    from framework.plugins import make_plugin_host

    return make_plugin_host()


def _quiet_libraries() -> None:
    """Silence import-time notices of optional kernels that do not concern the user's run."""
    import logging
    import warnings

    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    # deprecation notices inside the libraries are for their developers, not for this run's user
    warnings.filterwarnings("ignore", category=FutureWarning)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _quiet_libraries()
    debug = "--debug" in argv or os.environ.get("FRAMEWORK_DEBUG") == "1"
    try:
        host = _host()
        parser = build_parser(host)
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return EXIT_OK
        args.host = host
        args.argv = argv  # `run --nproc N` relaunches itself with these
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        return _report(exc, debug)


def _one_line(text: str) -> str:
    """Messages may quote user text with line breaks (a YAML key, a value): keep them on one line."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def _report(exc: BaseException, debug: bool) -> int:
    from framework.errors import FrameworkError, UserError

    if debug:
        traceback.print_exc()
    if isinstance(exc, UserError):
        print(f"error: {_one_line(exc.line())}", file=sys.stderr)
        return EXIT_USER
    if isinstance(exc, FrameworkError):
        print(f"error: {_one_line(str(exc))}", file=sys.stderr)
        return int(getattr(exc, "exit_code", EXIT_INTERNAL))  # e.g. a diverged run: 2, a plugin fault: 1
    if not debug:
        print(f"internal error: {type(exc).__name__}: {_one_line(str(exc))} (rerun with --debug for the traceback)",
              file=sys.stderr)
    return EXIT_INTERNAL


# ──────────────────────────────────────────────────────────────────────────────────────────
# Commands
# ──────────────────────────────────────────────────────────────────────────────────────────


def _cmd_plugins(args: argparse.Namespace) -> int:
    import json

    from framework.rewards import offered

    infos = sorted(args.host.infos.values(), key=lambda i: (i.builtin, i.name))
    rewards = offered(args.host)
    if args.json:
        print(json.dumps([{
            "name": i.name, "distribution": i.distribution, "version": i.version, "module": i.module,
            "status": i.status, "builtin": i.builtin, "hooks": i.hooks, "error": i.error,
            "rewards": {r.name: r.reward.description for r in rewards.values() if r.plugin == i.name},
        } for i in infos], indent=2))
        return EXIT_OK
    from framework.hookdata import HOOK_API_VERSION

    _say(f"hook API {HOOK_API_VERSION}")
    for info in infos:
        kind = "builtin" if info.builtin else "plugin"
        _say(f"{info.name:<14} {info.distribution} {info.version}  [{kind}, {info.status}]")
        if info.hooks:
            _say(f"{'':<14} hooks: {', '.join(info.hooks)}")
        if info.error:
            _say(f"{'':<14} error: {info.error}")
    if rewards:
        _say("rewards (--stage grpo --reward NAME[:weight]; module:function runs your own):")
        for reward in sorted(rewards.values(), key=lambda r: r.name):
            _say(f"  {reward.name:<14} [{reward.plugin}] {reward.reward.description}")
    return EXIT_OK


def _plan(args: argparse.Namespace, need_weights: bool) -> Any:
    from framework.run_plan import make_plan

    return make_plan(args, args.host, need_weights=need_weights)


def _chat_line(plan: Any) -> str:
    from framework.chat_format import chat_format_line

    return chat_format_line(plan)


def _format_bytes(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _named_method_fit(plan: Any, choice: Any) -> Any:
    """The method the user named, on the --gpu accelerator, when the planner's choice is another."""
    from framework.planning import choose_method, parse_size
    from framework.planning.memory import METHODS as PLANNED

    method = plan.config.method
    if not plan.config.plan.gpu or choice is None or choice.method == method or method not in PLANNED:
        return None
    return choose_method(plan.facts, gpu_bytes=parse_size(plan.config.plan.gpu), seq_len=plan.config.data.cutoff_len,
                         allowed=(method,), adapter_dim=plan.config.adapter.dim,
                         adapters_per_layer=2 if plan.config.adapter.placement == "both" else 1)


def _cmd_plan(args: argparse.Namespace) -> int:
    import json

    from framework.method_notes import method_notes

    if args.keys:
        from framework.config import describe_keys

        for key, text in describe_keys().items():
            _say(f"{key:<36} {text}")
        return EXIT_OK
    plan = _plan(args, need_weights=False)
    memory = plan.memory
    from framework.planning.unfreeze import for_plan

    unfreezing = for_plan(plan)  # progressive unfreezing: start and peak
    choice = plan.method_choice
    if choice is None and plan.config.plan.gpu:
        from framework.planning import choose_method, parse_size

        choice = choose_method(plan.facts, gpu_bytes=parse_size(plan.config.plan.gpu),
                               seq_len=plan.config.data.cutoff_len)
    own = _named_method_fit(plan, choice)
    if args.json:
        print(json.dumps({
            "model": {"name_or_path": plan.facts.name_or_path, "origin": plan.source.origin},
            "plugin": plan.plugin_record(),
            "candidates": [list(c) for c in plan.selection.candidates],
            "method": plan.config.method, "stage": plan.config.stage,
            "method_notes": list(method_notes(plan.config.method)),
            "unfreeze": None if unfreezing is None else {
                "start": unfreezing.start.total, "peak": unfreezing.peak.total,
                "start_layers": unfreezing.start_layers, "total_layers": unfreezing.total_layers},
            "settings": plan.resolved.to_json(),
            "attention": {"implementation": plan.attention[0], "why": plan.attention[1]},
            "dtype": {"dtype": plan.dtype[0], "why": plan.dtype[1]},
            "loss": None if plan.loss is None else {"kind": plan.loss.kind, "why": plan.loss.reason,
                                                    "head_dtype": plan.loss.head_dtype, "head_why": plan.loss.head_reason},
            "dropout": None if plan.dropout is None else {"kind": plan.dropout[0], "why": plan.dropout[1]},
            "rope": plan.rope.model_dump(),
            "load_settings": plan.load.model_dump(),
            "memory": None if memory is None else {"total": memory.total, "breakdown": memory.breakdown},
            "parameters": None if plan.parameters is None else {
                "total": plan.parameters.total, "active": plan.parameters.active,
                "trainable": plan.parameters.trainable, "trainable_by_role": plan.parameters.by_role},
            "router_loss": None if plan.router_loss is None else {
                "coef": plan.router_loss.coef, "source": plan.router_loss.source, "line": plan.router_loss.line()},
            "gpu_choice": None if choice is None else {"method": choice.method, "fits": choice.fits,
                                                        "micro_batch": choice.micro_batch, "grad_accum": choice.grad_accum,
                                                        "reason": choice.reason},
            "gpu_method": None if own is None else {"method": own.method, "fits": own.fits,
                                                    "micro_batch": own.micro_batch, "reason": own.reason},
            "distributed": None if plan.distributed is None else plan.distributed.record(),
            "warnings": plan.warnings,
        }, indent=2, default=str))
        return EXIT_OK
    info = plan.selection.info
    _say(f"model      {plan.facts.name_or_path}  ({plan.source.origin})")
    _say(f"plugin     {info.label()}" + ("  [forced]" if plan.selection.forced else ""))
    if plan.selection.match:
        _say(f"variant    {plan.selection.match.variant}: " + "; ".join(plan.selection.match.reasons))
    _say(f"candidates " + (", ".join(f"{n} ({s})" for n, s in plan.selection.candidates) or "none"))
    _say(f"chat       {_chat_line(plan)}")
    _say(f"method     {plan.config.method}  stage {plan.config.stage}")
    if plan.parameters is not None:
        _say(f"parameters {plan.parameters.size_line()}")
        _say(f"trainable  {plan.parameters.line()}")
    if plan.router_loss is not None:
        _say(f"moe        {plan.router_loss.line()}")
    for note in method_notes(plan.config.method):
        _say(f"note       {note}")
    _say(f"attention  {plan.attention[0]}  ({plan.attention[1]})")
    _say(f"dtype      {plan.dtype[0]}  ({plan.dtype[1]})")
    if plan.loss is not None:
        _say(f"loss       {plan.loss.line()}")
    if plan.dropout is not None:
        _say(f"dropout    {plan.dropout[0]}  ({plan.dropout[1]})")
    _say(f"rope       {plan.rope.action}: {plan.rope.reason}")
    for note in plan.load.notes:
        _say(f"note       {note}")
    _say("settings (value  <- source)")
    for key, value, source in plan.resolved.items():
        _say(f"  {key:<34} {value!r:<24} <- {source}")
    if memory is not None:
        _say(f"memory     {_format_bytes(memory.total)} estimated peak for {memory.method}")
        for part, amount in memory.breakdown.items():
            _say(f"  {part:<20} {_format_bytes(amount)}")
    if unfreezing is not None:
        _say(f"memory     {unfreezing.line()}")
    if choice is not None:
        _say(f"gpu {plan.config.plan.gpu}: {choice.method} (micro batch {choice.micro_batch}, grad accum "
             f"{choice.grad_accum}, checkpointing {'on' if choice.grad_checkpointing else 'off'}) - {choice.reason}")
    if own is not None:
        _say(f"gpu {plan.config.plan.gpu}: --method {own.method} {'fits' if own.fits else 'does not fit'} - {own.reason}")
    for line in plan.distributed.lines() if plan.distributed is not None else []:
        _say(line)
    for warning in plan.warnings:
        _say(f"warning    {warning}")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from framework.training.inputs import build_inputs

    plan = _plan(args, need_weights=True)
    _say(f"plugin {plan.selection.info.label()} variant {plan.facts.variant}")
    _say(f"chat {_chat_line(plan)}")
    for warning in plan.warnings:
        _say(f"[warning] {warning}")
    inputs = build_inputs(plan, _say, brief=False)  # check is where findings are read in full
    fixes, findings = inputs.fixes, inputs.findings
    errors = [f for f in fixes.findings + findings if f.severity == "error" and f.fix is None]
    return EXIT_USER if errors else EXIT_OK


def _cmd_render(args: argparse.Namespace) -> int:
    import json

    from framework.training.inputs import fixed_tokenizer, read_data

    from framework.render_view import in_file_order, marked, spans

    plan = _plan(args, need_weights=True)
    tokenizer, _ = fixed_tokenizer(plan)
    data = read_data(plan, tokenizer, with_kinds=True)
    rows = in_file_order(data.train, data.eval)  # file order, each sample once, with its split
    limit = len(rows) if args.limit is None else min(args.limit, len(rows))
    for i in range(limit):
        row, split = rows[i]
        kinds = row.get("kinds")
        source = row.get("source")
        if args.json:
            out = {"source": source, "split": split, "input_ids": row["input_ids"], "labels": row["labels"],
                   "spans": spans(row["input_ids"], row["labels"], kinds)}
            sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
            continue
        _say(f"── {source or f'sample {i}'} ({split}, {len(row['input_ids'])} tokens) " + "─" * 20)
        _say(marked(tokenizer, row["input_ids"], row["labels"], kinds))
    if not args.json:
        _say("(trained text between ⟦ and ⟧; reasoning, tool calls, tool results and tool declarations are "
             "named at their start, e.g. ⟦reasoning: …⟧, and shown between ⟨ and ⟩ when not trained)")
    return EXIT_OK


def _cmd_new_plugin(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framework.scaffold import create_plugin

    path = create_plugin(args.name, Path(args.dest))
    _say(f"created {path}")
    _say(f"next: pip install -e {path} && pytest {path}")
    return EXIT_OK


def _quiet(text: str) -> None:
    """What processes other than the first say: nothing (one voice per run)."""


def _cmd_run(args: argparse.Namespace) -> int:
    from framework import distributed

    distributed.init_process_group()  # under a launcher: join before planning
    with distributed.main_process_first():  # the demo model is built by one process
        plan = _plan(args, need_weights=True)
    distributed.check_supported(plan)
    if distributed.needs_launch(plan.config.distributed):
        strategy = plan.distributed.strategy if plan.distributed else None
        _say(f"launching {plan.config.distributed.nproc} process(es) per machine with torchrun, strategy {strategy}")
        return distributed.launch(plan.config.distributed, getattr(args, "argv", sys.argv[1:]))
    record = plan.plugin_record()
    distributed.check_agreement([record["name"], record["version"], record["variant"],
                                 plan.distributed.strategy if plan.distributed else None])
    say = _say if distributed.is_main_process() else _quiet
    info = plan.selection.info
    say(f"model  {plan.facts.name_or_path}" + (f"  ({plan.demo.name})" if plan.demo else ""))
    say(f"plugin {info.label()}, variant {plan.facts.variant}")
    say(f"chat   {_chat_line(plan)}")
    say(f"method {plan.config.method}, {plan.dtype[0]}, attention {plan.attention[0]}")
    if plan.distributed is not None and plan.distributed.strategy is not None:
        say(f"distributed {plan.distributed.strategy} over {plan.distributed.world_size} processes "
            f"({plan.distributed.reason})")
    for warning in plan.warnings:
        say(f"[warning] {warning}")
    from framework.checkpointing import RunComplete
    from framework.training import run

    try:
        result = run(plan, say)
    except RunComplete as done:
        say(str(done))
        return EXIT_OK
    if result.interrupted:
        return EXIT_INTERRUPTED
    from framework.progress import summary_lines

    m = result.metrics
    say("")
    say("── result " + "─" * 40)
    for line in summary_lines(m, result.output_dir):
        say(line)
    if result.before is not None:
        say(f"prompt          {m['identity_prompt']}")
        before = result.before if len(result.before) <= 100 else result.before[:100] + "…"
        say(f"before training {before!r}")
        say(f"after training  {result.after!r}")
    return EXIT_OK


def _cmd_merge(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framework.inference import merge

    path = merge(Path(args.output), Path(args.dest) if args.dest else None)
    _say(f"merged model written to {path}")
    return EXIT_OK


def _cmd_chat(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framework.data.messages import load_tools, reply_message
    from framework.errors import ConfigError
    from framework.inference import generate, load_run

    tools = load_tools(args.tools) if args.tools else None
    run = load_run(Path(args.output))
    if tools and run.features is not None and not run.features.tools:
        raise ConfigError("this run's chat template does not render tools", where="--tools",
                          hint="leave --tools out, or train a model whose template renders tools")
    history: list[dict[str, Any]] = [{"role": "system", "content": args.system}] if args.system else []
    if args.prompt is not None:
        _say(generate(run, history + [{"role": "user", "content": args.prompt}], args.max_new_tokens, tools))
        return EXIT_OK
    _say("chat with the trained model; an empty line or Ctrl-D ends")
    while True:
        try:
            prompt = input("you> ").strip()
        except EOFError:
            break
        if not prompt:
            break
        history.append({"role": "user", "content": prompt})
        reply = reply_message(generate(run, history, args.max_new_tokens, tools))
        history.append(reply)  # the reasoning kept apart: the template renders or drops it as in training
        if "reasoning_content" in reply:
            _say(f"model (thinking)> {reply['reasoning_content']}")
        _say(f"model> {reply['content']}")
    return EXIT_OK


def _cmd_eval(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from framework.evaluate import evaluate_run

    report = evaluate_run(Path(args.output), args.data, generate_answers=args.generate, limit=args.limit)
    _say(f"{'metric':<14} {'before':>10} {'after':>10}")
    for metric, (before, after) in report.items():
        _say(f"{metric:<14} {before:>10.4f} {after:>10.4f}")
    (Path(args.output) / "eval.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return EXIT_OK


def _cmd_tune(args: argparse.Namespace) -> int:
    from pathlib import Path

    from framework.config import parse_set
    from framework.extras import require

    require("tune", asked_by="framework tune")
    from framework.tune import tune
    from framework.tune.space import read_tune_file
    from framework.tune.study import check_trials

    tf = read_tune_file(args.config)
    trials = check_trials(args.trials, tf)
    overrides = parse_set(args.set or [])
    if args.gpu:
        overrides["plan.gpu"] = args.gpu
    study_dir = Path(args.output) if args.output else Path("runs") / f"tune-{Path(args.config).stem}"
    tune(tf, trials=trials, study_dir=study_dir, overrides=overrides, say=_say)
    return EXIT_OK


def _cmd_ui(args: argparse.Namespace) -> int:
    from framework.ui.serve import serve

    return serve(args)


def _cmd_data_score(args: argparse.Namespace) -> int:
    from framework.data_score import score_command

    return score_command(args, args.host, _say)
