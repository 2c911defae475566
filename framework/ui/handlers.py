"""The UI's event handlers as plain functions: widget values in, widget values out.

No Gradio here, so every handler is unit-tested without a browser, and ``app.py`` only lays
out widgets and wires them to these. Each handler returns its error as the CLI's one-line
message (``error: where: what. hint``) for the field it concerns, never a traceback: a
``UserError`` is the user's to fix; anything else is reported as ``internal error: ...`` in one
line, as ``framework`` without ``--debug`` does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from framework.ui.form import COMMON_KEYS, Form

T = TypeVar("T")


def error_text(exc: BaseException) -> str:
    """The line ``framework`` would print for this error."""
    from framework.errors import FrameworkError, UserError

    if isinstance(exc, UserError):
        text = f"error: {exc.line()}"
    elif isinstance(exc, FrameworkError):
        text = f"error: {exc}"
    else:
        text = f"internal error: {type(exc).__name__}: {exc}"
    return text.replace("\r", " ").replace("\n", " ")


def attempt(action: Callable[[], T]) -> tuple[T | None, str]:
    """(result, "") or (None, the one-line error)."""
    try:
        return action(), ""
    except Exception as exc:  # noqa: BLE001 - the UI's one place that turns errors into lines
        return None, error_text(exc)


def data_list(text: str | None) -> list[str]:
    """The data field: one path per line (commas also separate)."""
    out: list[str] = []
    for line in (text or "").replace(",", "\n").splitlines():
        if line.strip():
            out.append(line.strip())
    return out


def make_form(model: str | None, gpu: str | None, data: str | None, method: str | None, stage: str | None,
              output: str | None, advanced: str | None, *common: Any) -> Form:
    """The ``Form`` from the widgets, in the order ``app.FORM_FIELDS`` lists them."""
    return Form(model=model or "", data=data_list(data), method=method or "", stage=stage or "", gpu=gpu or "",
                output=output or "", common=dict(zip(COMMON_KEYS, common)), advanced=advanced or "")


# ── Model and data ───────────────────────────────────────────────────────────────────────


def show_plan(host: Any, form: Form) -> tuple[str, list[list[Any]], list[list[Any]], list[list[Any]], str]:
    """Model panel: (summary, findings, memory, settings, error)."""
    from framework.ui.views import plan_view

    view, error = attempt(lambda: plan_view(host, form))
    if view is None:
        return "", [], [], [], error
    return view.summary, view.findings, view.memory, view.settings, ""


def show_data(host: Any, form: Form) -> tuple[str, str, list[list[Any]], str, str]:
    """Data panel: (format line, report, findings, rendered samples HTML, error)."""
    from framework.ui.views import data_view

    view, error = attempt(lambda: data_view(host, form))
    if view is None:
        return "", "", [], "", error
    return f"**format** {view.format} — {view.samples} training samples", view.report, view.findings, \
        view.sample_html, ""


def add_uploads(current: str | None, uploaded: list[Any] | None) -> str:
    """Uploaded files join the data field as paths."""
    paths = data_list(current)
    for item in uploaded or []:
        path = str(getattr(item, "name", item))
        if path not in paths:
            paths.append(path)
    return "\n".join(paths)


def export_settings(form: Form, directory: Path) -> tuple[str, str, str | None, str]:
    """(command line, YAML, path of run.yaml to download, error)."""
    def build() -> tuple[str, str, str]:
        text = form.yaml_text()
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "run.yaml"
        path.write_text(text, encoding="utf-8")
        return form.command_line(), text, str(path)

    done, error = attempt(build)
    if done is None:
        return "", "", None, error
    return done[0], done[1], done[2], ""


# ── Runs ─────────────────────────────────────────────────────────────────────────────────


def start_run(manager: Any, host: Any, form: Form) -> tuple[str, str]:
    """(the new run's directory, error). The plan is made first, so a bad setting is refused here in
    one line next to the button instead of in the run's log."""
    def begin() -> str:
        from framework.run_plan import make_plan

        make_plan(form.namespace(), host, need_weights=False)
        return str(manager.start(form))

    directory, error = attempt(begin)
    return directory or "", error


def stop_run(manager: Any, directory: str | None) -> str:
    """A message saying the stop was requested, or the error."""
    if not directory:
        return "error: no run selected. Pick one in the runs list"
    message, error = attempt(lambda: manager.stop(Path(directory)))
    return message or error


def resume_run(manager: Any, directory: str | None) -> tuple[str, str]:
    if not directory:
        return "", "error: no run selected. Pick one in the runs list"
    done, error = attempt(lambda: str(manager.resume(Path(directory))))
    return done or "", error


@dataclass
class RunView:
    """What the Run panel shows for the selected run."""

    progress: str
    points: list[dict[str, Any]]  # {"step", "loss", "series"} for the plot
    log: str
    error: str


def run_view(directory: str | None) -> RunView:
    """Progress line, plot points and log tail of one run, read from its output directory."""
    from framework import progress_file
    from framework.ui.runs import error_line, log_tail, run_status

    if not directory:
        return RunView("no run selected", [], "", "")
    path = Path(directory)
    status = run_status(path)
    seen = progress_file.read(path)
    parts = [f"**{status.status}**", f"step {seen.step}/{seen.max_steps or '?'}"]
    if seen.loss is not None:
        parts.append(f"loss {seen.loss:.4f}")
    if seen.eval_loss is not None:
        parts.append(f"validation loss {seen.eval_loss:.4f}")
    if seen.lr is not None:
        parts.append(f"lr {float(seen.lr):.2e}")
    if seen.tokens_per_second:
        parts.append(f"{seen.tokens_per_second:.0f} tokens/s")
    if seen.eta_s is not None and status.status in ("running", "starting"):
        parts.append("ETA " + time.strftime("%H:%M:%S", time.gmtime(seen.eta_s)))
    parts.append(f"{len(seen.losses)} loss points")
    points = [{"step": s, "loss": v, "series": "train"} for s, v in seen.losses]
    points += [{"step": s, "loss": v, "series": "validation"} for s, v in seen.eval_losses]
    failed = error_line(path) if status.status in ("failed", "stopped (resumable)", "finished", "empty") else None
    return RunView(" · ".join(parts), points, log_tail(path), failed or "")


def run_rows(manager: Any) -> list[list[Any]]:
    """The runs table: directory, status, steps, last loss."""
    return [status.row() for status in manager.list_runs()]


# ── After training ───────────────────────────────────────────────────────────────────────


def send_chat(directory: str | None, history: list[dict[str, Any]] | None, message: str,
              system: str = "") -> tuple[list[dict[str, Any]], str, str]:
    """(history with the reply, cleared message box, error)."""
    from framework.ui import after

    if not directory:
        return history or [], message, "error: no run selected. Pick a finished run in the runs list"
    done, error = attempt(lambda: after.chat(Path(directory), history or [], message, system=system))
    if done is None:
        return history or [], message, error
    return done, "", ""


def evaluate(directory: str | None, data: str | None) -> tuple[list[list[Any]], str]:
    from framework.ui import after

    if not directory:
        return [], "error: no run selected. Pick a finished run in the runs list"
    rows, error = attempt(lambda: after.evaluate(Path(directory), data_list(data)))
    return rows or [], error


def merge(directory: str | None) -> str:
    from framework.ui import after

    if not directory:
        return "error: no run selected. Pick a finished run in the runs list"
    message, error = attempt(lambda: after.merge(Path(directory)))
    return message or error


def export(directory: str | None) -> tuple[str | None, str]:
    from framework.ui import after

    if not directory:
        return None, "error: no run selected. Pick a finished run in the runs list"
    path, error = attempt(lambda: str(after.export(Path(directory))))
    return path, error
