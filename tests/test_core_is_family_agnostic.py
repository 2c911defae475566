"""The core must not know any model family by name: family knowledge lives in plugins only."""

from __future__ import annotations

import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "framework"
FAMILY_NAMES = ["llama", "qwen", "mistral", "mixtral", "gemma", "phi", "internlm", "baichuan", "chatglm",
                "deepseek", "falcon", "yi-", "cohere", "olmo", "starcoder"]
PATTERN = re.compile(r"\b(" + "|".join(re.escape(n) for n in FAMILY_NAMES) + ")", re.IGNORECASE)


def test_no_module_under_framework_names_a_family() -> None:
    offenders = []
    for path in CORE.rglob("*"):
        if path.is_file() and path.suffix in {".py", ".md", ".txt", ".json", ".jsonl", ".yaml", ".toml", ".jinja", ".tmpl"}:  # .tmpl: the plugin scaffold
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if PATTERN.search(line):
                    offenders.append(f"{path.relative_to(CORE.parent)}:{number}: {line.strip()[:80]}")
    assert not offenders, "family names in the core:\n" + "\n".join(offenders)


def test_the_check_catches_a_family_name(tmp_path: Path) -> None:
    assert PATTERN.search("if config.model_type == 'gemma2':")
    assert not PATTERN.search("if config.model_type == family:")
