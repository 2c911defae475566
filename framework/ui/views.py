"""What the Model and Data panels show: ``framework plan`` and ``framework render`` as data.

Plain functions of a ``PluginHost`` and a ``Form``, returning plain values (markdown, table
rows, HTML), so they are tested without a browser and the Gradio layer only places them.
They call the same code as the CLI commands (``make_plan``, ``fixed_tokenizer``,
``read_data``, ``render_view.runs``): what the UI shows is what ``framework run`` will do.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from framework.ui.form import Form

#: How the UI names a settings layer (``framework plan`` prints the raw names).
SOURCE_NAMES = {"cli": "you", "demo": "demo"}


def source_name(source: str) -> str:
    """``core``, ``plugin:NAME``, ``planner``, ``demo``, ``you`` (the form or its YAML file)."""
    if source.startswith("file:"):
        return "you"
    return SOURCE_NAMES.get(source, source)


@dataclass
class PlanView:
    """The Model panel: a summary, the settings with sources, the memory table."""

    summary: str
    settings: list[list[Any]]  # [key, value, source]
    memory: list[list[Any]]  # [part, GiB]
    findings: list[list[str]] = field(default_factory=list)  # [severity, message]


def plan_view(host: Any, form: Form) -> PlanView:
    """The plan ``framework plan`` prints, for the form's model, data, method and GPU size."""
    from framework.planning import choose_method, parse_size
    from framework.run_plan import make_plan

    plan = make_plan(form.namespace(), host, need_weights=False)
    info = plan.selection.info
    config = plan.config
    lines = [f"**model** `{plan.facts.name_or_path}` ({plan.source.origin})"
             + (f" — {plan.demo.name}" if plan.demo else ""),
             f"**plugin** {info.label()}" + (" [forced]" if plan.selection.forced else "")]
    if plan.selection.match:
        lines.append(f"**variant** {plan.selection.match.variant}: " + "; ".join(plan.selection.match.reasons))
    from framework.chat_format import chat_format_line

    lines += [f"**chat** {chat_format_line(plan)}",
              f"**method** {config.method}, **stage** {config.stage}",
              f"**attention** {plan.attention[0]} ({plan.attention[1]})",
              f"**dtype** {plan.dtype[0]} ({plan.dtype[1]})",
              f"**RoPE** {plan.rope.action}: {plan.rope.reason}"]
    choice = plan.method_choice
    if choice is None and config.plan.gpu:
        choice = choose_method(plan.facts, gpu_bytes=parse_size(config.plan.gpu), seq_len=config.data.cutoff_len)
    if choice is not None:
        lines.append(f"**GPU {config.plan.gpu or 'detected'}** {choice.method} (micro batch {choice.micro_batch}, "
                     f"grad accum {choice.grad_accum}) — {choice.reason}")
    memory: list[list[Any]] = []
    if plan.memory is not None:
        lines.append(f"**memory** {plan.memory.total / 2**30:.2f} GiB estimated peak for {plan.memory.method}")
        memory = [[part, round(amount / 2**30, 3)] for part, amount in plan.memory.breakdown.items()]
        memory.append(["total", round(plan.memory.total / 2**30, 3)])
    for method, peak, fits in getattr(choice, "alternatives", None) or []:
        memory.append([f"{method} on the GPU ({'fits' if fits else 'does not fit'})", round(peak / 2**30, 3)])
    findings = [["note", note] for note in plan.load.notes] + [["warning", w] for w in plan.warnings]
    settings = [[key, _shown(value), source_name(source)] for key, value, source in plan.resolved.items()]
    return PlanView("\n\n".join(lines), settings, memory, findings)


def _shown(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass
class DataView:
    """The Data panel: the detected format, the report, and rendered samples with trained spans marked."""

    format: str
    report: str
    findings: list[list[str]]
    sample_html: str
    samples: int


def data_view(host: Any, form: Form, *, limit: int = 2) -> DataView:
    """What ``framework check`` says about the tokenizer and data and what ``framework render`` shows."""
    from framework.run_plan import make_plan
    from framework.training.inputs import fixed_tokenizer, read_data

    plan = make_plan(form.namespace(), host, need_weights=True)
    tokenizer, fixes = fixed_tokenizer(plan)
    data = read_data(plan, tokenizer, with_kinds=True)
    rows = data.train
    shown = [rows[i] for i in range(min(limit, len(rows)))]
    findings = [[f.severity, f"{f.code}: {f.message}"] for f in fixes.findings]
    findings += [["fixed", applied] for applied in fixes.applied]
    body = "".join(sample_html(tokenizer, i, row) for i, row in enumerate(shown))
    legend = ('<div class="fw-legend"><span class="fw-trained">trained</span> '
              '<span class="fw-context">context (not trained)</span></div>')
    return DataView(data.report.format or "?", "\n".join(data.report.lines()), findings,
                    f'<div class="fw-render">{legend}{body}</div>', len(rows))


def sample_html(tokenizer: Any, index: int, row: dict[str, Any]) -> str:
    """One rendered sample: trained runs highlighted (the ⟦ ⟧ of ``framework render``), kinds named."""
    from framework.render_view import runs

    ids, labels, kinds = row["input_ids"], row["labels"], row.get("kinds")
    parts = [f'<div class="fw-sample"><div class="fw-sample-head">sample {index} ({len(ids)} tokens)</div><pre>']
    for start, end, kind, trained in runs(labels, kinds):
        text = html.escape(tokenizer.decode(list(ids[start:end])))
        css = "fw-trained" if trained else "fw-context"
        tag = "" if kind == "text" else f'<span class="fw-kind">{html.escape(kind)}</span>'
        parts.append(f'<span class="{css}" data-kind="{html.escape(kind)}">{tag}{text}</span>')
    parts.append("</pre></div>")
    return "".join(parts)
