"""The UI's settings form as the command line would write it.

One ``Form`` is what a person filled in; from it come the ``argparse.Namespace`` the plan is
made from (the same ``framework.run_plan.make_plan`` the CLI calls), the ``framework run``
argument list the run subprocess gets, the command a person could paste into a terminal and
the YAML file that says the same. A field left empty is not set at all, so its value keeps
the source it has without the UI (core, plugin, planner) and ``framework plan`` shows the same.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass, field
from typing import Any

import yaml

from framework.errors import ConfigError

#: The most used keys, shown as form fields; every other key goes in the advanced ``KEY=VALUE`` lines.
COMMON_KEYS = ("training.learning_rate", "training.epochs", "training.max_steps", "training.micro_batch_size",
               "lora.r", "data.cutoff_len")


@dataclass
class Form:
    """What the UI's fields hold; empty strings and ``None`` mean 'not set'."""

    model: str = ""
    data: list[str] = field(default_factory=list)
    method: str = ""
    stage: str = ""
    gpu: str = ""
    output: str = ""
    common: dict[str, Any] = field(default_factory=dict)  # COMMON_KEYS -> value
    advanced: str = ""  # one KEY=VALUE per line, as --set takes them

    def sets(self) -> list[str]:
        """Every ``--set KEY=VALUE``: the common fields that hold a value, then the advanced lines."""
        out = [f"{key}={_text(value)}" for key, value in self.common.items() if _given(value)]
        for number, raw in enumerate(self.advanced.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise ConfigError(f"{line!r} is not KEY=VALUE", where=f"advanced settings, line {number}",
                                  hint="write one setting per line, e.g. training.warmup=0.1")
            out.append(line)
        return out

    def namespace(self, **more: Any) -> argparse.Namespace:
        """The arguments ``make_plan`` reads, as the CLI's parser would have built them."""
        values: dict[str, Any] = {
            "config": None, "model": self.model.strip() or None, "data": [d for d in self.data if d] or None,
            "method": self.method or None, "stage": self.stage or None, "gpu": self.gpu.strip() or None,
            "output": self.output.strip() or None, "set": self.sets(),
        }
        values.update(more)
        return argparse.Namespace(**values)

    def run_arguments(self, *, output: str | None = None, resume: bool = False) -> list[str]:
        """``framework run`` arguments (after ``run``) that make exactly this run."""
        args: list[str] = []
        if self.model.strip():
            args += ["--model", self.model.strip()]
        for path in self.data:
            if path:
                args += ["--data", path]
        for flag, value in (("--method", self.method), ("--stage", self.stage), ("--gpu", self.gpu.strip())):
            if value:
                args += [flag, value]
        destination = output or self.output.strip()
        if destination:
            args += ["--output", destination]
        for item in self.sets():
            args += ["--set", item]
        if resume:
            args.append("--resume")
        return args

    def command_line(self) -> str:
        """The same run typed in a terminal."""
        return shlex.join(["framework", "run", *self.run_arguments()])

    def yaml_text(self) -> str:
        """The same run as a YAML file (``framework run run.yaml``): nested sections, as config files are."""
        from framework.config import nest, parse_set

        flat: dict[str, Any] = {}
        if self.model.strip():
            flat["model.name_or_path"] = self.model.strip()
        if [d for d in self.data if d]:
            flat["data.paths"] = [d for d in self.data if d]
        for key, value in (("method", self.method), ("stage", self.stage), ("plan.gpu", self.gpu.strip()),
                           ("output.dir", self.output.strip())):
            if value:
                flat[key] = value
        flat.update(parse_set(self.sets()))
        return yaml.safe_dump(nest(flat), sort_keys=False, allow_unicode=True)


def _given(value: Any) -> bool:
    return value is not None and str(value).strip() != ""


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
