"""The Gradio layout: five tabs (Model, Data, Settings, Run, Use) wired to ``handlers``.

Only this module imports Gradio, and only ``framework ui`` imports this module. Every value
shown comes from a handler; this file places widgets and says which handler each event calls.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from framework.config import describe_keys
from framework.run_plan import EXAMPLE_DATA
from framework.ui import handlers
from framework.ui.form import COMMON_KEYS
from framework.ui.runs import RunManager

METHODS = ["", "lora", "qlora", "qlora8", "dora", "rslora", "full", "freeze", "prefix", "prompt", "ptuning", "hybrid"]
STAGES = ["", "sft", "pt", "dpo"]
REFRESH_SECONDS = 1.0

CSS = """
.fw-error p { color: #b91c1c; font-family: monospace; }
.fw-render pre { white-space: pre-wrap; font-size: 0.9em; }
.fw-trained { background: #fde68a; color: #111; border-bottom: 2px solid #d97706; }
.fw-context { color: #6b7280; }
.fw-kind { font-size: 0.75em; background: #dbeafe; color: #1e3a8a; padding: 0 3px; margin-right: 3px; }
.fw-sample-head { font-weight: 600; margin-top: 0.5em; }
.fw-legend span { padding: 0 4px; margin-right: 8px; }
"""


def launch_options() -> dict[str, Any]:
    """Theme and CSS (Gradio 6 takes them at launch); system fonts, so the page loads offline."""
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["ui-monospace", "monospace"])
    return {"theme": theme, "css": CSS}


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame | None:
    """The plot's points; None before the first (an empty frame leaves Gradio's plot unable to draw
    lines or colours once points arrive)."""
    if not rows:
        return None
    frame = pd.DataFrame(rows, columns=["step", "loss", "series"])
    return frame.astype({"step": "int64", "loss": "float64", "series": "str"})


def build_app(host: Any, runs_root: Path) -> gr.Blocks:
    """The app for one plugin host and one directory of runs."""
    manager = RunManager(runs_root)
    runs_root.mkdir(parents=True, exist_ok=True)
    exports = runs_root / ".ui"

    with gr.Blocks(title="framework: fine-tune") as app:
        gr.Markdown("# framework — fine-tune a language model\nPick a model and data, check the plan and what "
                    "will be trained, then run. Every run is a `framework run` you can also continue from a terminal.")
        with gr.Tab("1 · Model", id="model"):
            with gr.Row():
                model = gr.Textbox(label="Model: a local directory or a hub id", scale=4, elem_id="model",
                                   placeholder="empty: the bundled demo model")
                gpu = gr.Textbox(label="GPU memory to plan for", placeholder="e.g. 24GB", scale=1, elem_id="gpu")
            with gr.Row():
                demo = gr.Button("Use the demo model", elem_id="use-demo")
                plan_button = gr.Button("Show the plan", variant="primary", elem_id="show-plan")
            model_error = gr.Markdown(elem_id="model-error", elem_classes="fw-error")
            plan_text = gr.Markdown(elem_id="plan")
            findings = gr.Dataframe(headers=["severity", "message"], label="findings", wrap=True, interactive=False)
            memory = gr.Dataframe(headers=["part", "GiB"], label="memory", interactive=False)
        with gr.Tab("2 · Data", id="data"):
            data = gr.Textbox(label="Data files or directories (one per line)", lines=3, elem_id="data")
            with gr.Row():
                bundled = gr.Button("Use the bundled example data", elem_id="use-bundled")
                upload = gr.File(label="or upload files", file_count="multiple")
                data_button = gr.Button("Check the data and render samples", variant="primary", elem_id="check-data")
            data_error = gr.Markdown(elem_id="data-error", elem_classes="fw-error")
            data_format = gr.Markdown(elem_id="data-format")
            report = gr.Textbox(label="data report (kept, dropped with reasons and file:line examples)", lines=6,
                                interactive=False, elem_id="data-report")
            data_findings = gr.Dataframe(headers=["severity", "message"], label="tokenizer findings", wrap=True,
                                         interactive=False)
            rendered = gr.HTML(elem_id="rendered")
        with gr.Tab("3 · Settings", id="settings"):
            with gr.Row():
                method = gr.Dropdown(METHODS, value="", label="method (empty: plugin or planner decides)",
                                     elem_id="method")
                stage = gr.Dropdown(STAGES, value="", label="stage (empty: sft)", elem_id="stage")
                output = gr.Textbox(label="output directory (empty: a new folder under the runs folder)",
                                    elem_id="output")
            with gr.Row():
                # text, not gr.Number: an empty number field reads as 0, and empty must mean "not set"
                common = [gr.Textbox(label=key, placeholder="default", elem_id=key.replace(".", "-"), min_width=120)
                          for key in COMMON_KEYS]
            with gr.Accordion("Advanced: every other key", open=False):
                advanced = gr.Textbox(label="KEY=VALUE, one per line (as --set)", lines=5, elem_id="advanced")
                gr.Dataframe(value=[[k, v] for k, v in describe_keys().items()], headers=["key", "description"],
                             label="all keys", wrap=True, interactive=False, max_height=300)
            settings_button = gr.Button("Show settings, command and YAML", elem_id="show-settings")
            settings_error = gr.Markdown(elem_id="settings-error", elem_classes="fw-error")
            settings = gr.Dataframe(headers=["key", "value", "source"], label="settings and their source",
                                    interactive=False, max_height=400, elem_id="settings")
            command = gr.Code(label="the same run from a terminal", language="shell", interactive=False,
                              elem_id="command")
            yaml_text = gr.Code(label="the same run as run.yaml", language="yaml", interactive=False)
            yaml_file = gr.File(label="download run.yaml", interactive=False)
        with gr.Tab("4 · Run", id="run"):
            with gr.Row():
                start = gr.Button("Start training", variant="primary", elem_id="start")
                stop = gr.Button("Stop (saves a checkpoint)", variant="stop", elem_id="stop")
                resume = gr.Button("Resume", elem_id="resume")
            run_error = gr.Markdown(elem_id="run-error", elem_classes="fw-error")
            selected = gr.Dropdown(label="run", choices=[], allow_custom_value=True, elem_id="selected-run")
            progress = gr.Markdown(elem_id="progress")
            plot = gr.LinePlot(x="step", y="loss", color="series", title="loss", elem_id="loss-plot", height=300)
            log = gr.Textbox(label="log (last lines)", lines=15, max_lines=30, interactive=False, elem_id="log",
                             autoscroll=True)
            runs_table = gr.Dataframe(headers=["directory", "status", "steps", "loss"], label="runs",
                                      interactive=False, elem_id="runs")
        with gr.Tab("5 · Use", id="use"):
            use_error = gr.Markdown(elem_id="use-error", elem_classes="fw-error")
            chatbot = gr.Chatbot(label="chat with the trained model (its family's template and stop tokens)",
                                 elem_id="chat", height=300)
            with gr.Row():
                message = gr.Textbox(label="message", scale=4, elem_id="message")
                send = gr.Button("Send", variant="primary", elem_id="send")
            with gr.Row():
                eval_data = gr.Textbox(label="held-out data for perplexity before/after", elem_id="eval-data")
                eval_button = gr.Button("Perplexity before/after", elem_id="evaluate")
            eval_table = gr.Dataframe(headers=["metric", "before", "after"], interactive=False, elem_id="eval")
            with gr.Row():
                merge_button = gr.Button("Merge the adapter", elem_id="merge")
                export_button = gr.Button("Export (zip)", elem_id="export")
            after_text = gr.Markdown(elem_id="after")
            exported = gr.File(label="export", interactive=False)

        form_fields = [model, gpu, data, method, stage, output, advanced, *common]

        def plan(*values: Any) -> tuple[Any, ...]:
            return handlers.show_plan(host, handlers.make_form(*values))

        plan_outputs = [plan_text, findings, memory, settings, model_error]
        demo.click(lambda: "", outputs=model).then(plan, form_fields, plan_outputs)
        plan_button.click(plan, form_fields, plan_outputs)
        model.submit(plan, form_fields, plan_outputs)
        gpu.submit(plan, form_fields, plan_outputs)

        def check_data(*values: Any) -> tuple[Any, ...]:
            return handlers.show_data(host, handlers.make_form(*values))

        data_outputs = [data_format, report, data_findings, rendered, data_error]
        bundled.click(lambda: str(EXAMPLE_DATA), outputs=data).then(check_data, form_fields, data_outputs)
        data_button.click(check_data, form_fields, data_outputs)
        upload.upload(handlers.add_uploads, [data, upload], data)

        def show_settings(*values: Any) -> tuple[Any, ...]:
            form = handlers.make_form(*values)
            summary, _, _, rows, error = handlers.show_plan(host, form)
            line, text, path, export_error = handlers.export_settings(form, exports)
            return rows, line, text, path, error or export_error

        settings_button.click(show_settings, form_fields, [settings, command, yaml_text, yaml_file, settings_error])

        def begin(*values: Any) -> tuple[Any, ...]:
            directory, error = handlers.start_run(manager, host, handlers.make_form(*values))
            choices = [row[0] for row in handlers.run_rows(manager)]
            return gr.update(choices=choices, value=directory or None), error

        start.click(begin, form_fields, [selected, run_error])
        stop.click(lambda d: handlers.stop_run(manager, d), selected, run_error)

        def again(directory: str | None) -> tuple[Any, ...]:
            done, error = handlers.resume_run(manager, directory)
            return error or f"resumed {done}"

        resume.click(again, selected, run_error)

        shown = gr.State("")  # the run and points the plot shows: redrawn only when they change

        def refresh(directory: str | None, key: str) -> tuple[Any, ...]:
            view = handlers.run_view(directory)
            now = f"{directory}|{view.points}"
            points = _frame(view.points) if now != key else gr.update()
            return view.progress, points, view.log, view.error or gr.update(), now

        watched = [progress, plot, log, run_error, shown]
        timer = gr.Timer(REFRESH_SECONDS)
        timer.tick(refresh, [selected, shown], watched, show_progress="hidden")
        selected.change(refresh, [selected, shown], watched)

        def list_runs(current: str | None) -> tuple[Any, ...]:
            rows = handlers.run_rows(manager)
            choices = [row[0] for row in rows]
            if current and current not in choices:
                choices.insert(0, current)
            return rows, gr.update(choices=choices)

        slow = gr.Timer(REFRESH_SECONDS * 3)
        slow.tick(list_runs, selected, [runs_table, selected], show_progress="hidden")
        app.load(list_runs, selected, [runs_table, selected])

        send.click(handlers.send_chat, [selected, chatbot, message], [chatbot, message, use_error])
        message.submit(handlers.send_chat, [selected, chatbot, message], [chatbot, message, use_error])
        eval_button.click(handlers.evaluate, [selected, eval_data], [eval_table, use_error])
        merge_button.click(handlers.merge, selected, after_text)
        export_button.click(handlers.export, selected, [exported, use_error])
    return app
