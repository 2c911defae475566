"""``framework new-plugin NAME``: write a ready-to-publish family plugin distribution.

The files come from templates under ``framework/resources/scaffold`` in which ``__NAME__``
stands for the plugin name and ``__CLASS__`` for its CamelCase form. The result installs with
pip, registers the ``framework`` entry point, and passes its own tests (the core's plugin
contract) before its author has changed a line; the blocks marked TODO are where the family's
facts go.
"""

from __future__ import annotations

import keyword
import re
import shutil
import tempfile
from importlib import resources
from importlib.metadata import entry_points
from pathlib import Path

from framework.errors import UserError
from framework.hookspecs import NAME

#: A name that works as entry-point name, distribution suffix and import-name suffix alike.
NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: Names the core's own plugins use: an entry point with one of them would never load.
RESERVED_NAMES = frozenset({"generic", "framework", "testing"})

#: template path -> path in the generated distribution (``__NAME__`` replaced in both).
TEMPLATES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "package/__init__.py.tmpl": "framework___NAME__/__init__.py",
    # the module shape every in-tree plugin has (tests/test_plugin_shape.py keeps them equal)
    "package/detect.py.tmpl": "framework___NAME__/detect.py",
    "package/chat.py.tmpl": "framework___NAME__/chat.py",
    "package/tools.py.tmpl": "framework___NAME__/tools.py",
    "package/vocab.py.tmpl": "framework___NAME__/vocab.py",
    "package/tokenizer.py.tmpl": "framework___NAME__/tokenizer.py",
    "package/checks.py.tmpl": "framework___NAME__/checks.py",
    "package/presets.py.tmpl": "framework___NAME__/presets.py",
    "package/checkpoints.py.tmpl": "framework___NAME__/checkpoints.py",
    "package/rope.py.tmpl": "framework___NAME__/rope.py",
    "package/plugin.py.tmpl": "framework___NAME__/plugin.py",
    # one test module per knowledge module, plus the core's contract
    "tests/test_contract.py.tmpl": "tests/test_contract.py",
    "tests/test_detect.py.tmpl": "tests/test_detect.py",
    "tests/test_chat.py.tmpl": "tests/test_chat.py",
    "tests/test_tools.py.tmpl": "tests/test_tools.py",
    "tests/test_vocab.py.tmpl": "tests/test_vocab.py",
    "tests/test_tokenizer.py.tmpl": "tests/test_tokenizer.py",
    "tests/test_checks.py.tmpl": "tests/test_checks.py",
    "tests/test_presets.py.tmpl": "tests/test_presets.py",
    "tests/test_checkpoints.py.tmpl": "tests/test_checkpoints.py",
    "tests/test_rope.py.tmpl": "tests/test_rope.py",
}
_LEFTOVER = re.compile(r"__[A-Z][A-Z_]*__")


def validate_name(name: str) -> str:
    """The plugin name, or a one-line ``UserError`` saying what a valid one looks like."""
    hint = "use lowercase letters, digits and underscores, starting with a letter (e.g. myfamily)"
    if not NAME_PATTERN.fullmatch(name or ""):
        raise UserError(f"invalid plugin name {name!r}", where="new-plugin", hint=hint)
    if name in RESERVED_NAMES or keyword.iskeyword(name):
        raise UserError(f"plugin name {name!r} is reserved", where="new-plugin", hint="choose another name")
    installed = {ep.name: ep.dist.name if ep.dist else "?" for ep in entry_points(group=NAME)}
    if name in installed:
        raise UserError(f"a plugin named {name!r} is already installed ({installed[name]})", where="new-plugin",
                        hint="choose another name: two plugins cannot share an entry-point name")
    return name


def _class_name(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _render(template: str, name: str) -> str:
    from framework import __version__

    core_minor = ".".join(__version__.split(".")[:2])
    text = (template.replace("__NAME__", name).replace("__CLASS__", _class_name(name))
            .replace("__CORE_VERSION__", core_minor))
    leftover = _LEFTOVER.search(text)
    assert leftover is None, f"scaffold template placeholder {leftover.group()} was not replaced"
    return text


def create_plugin(name: str, dest: Path) -> Path:
    """Write the distribution ``framework-NAME`` under ``dest`` and return its directory.

    Refuses (``UserError``) an invalid or reserved name, a ``dest`` that is a file, and an
    existing target directory: nothing is ever overwritten. The files are written to a
    temporary directory beside the target and moved into place at the end, so a failure
    leaves no half-written plugin behind.
    """
    validate_name(name)
    dest = Path(dest).expanduser()
    if dest.exists() and not dest.is_dir():
        raise UserError("the destination is a file", where=str(dest), hint="pass a directory with --dest")
    target = dest / f"framework-{name}"
    if target.exists():
        raise UserError(f"{target} already exists", where="new-plugin",
                        hint="choose another --dest or name; nothing was overwritten")
    dest.mkdir(parents=True, exist_ok=True)
    templates = resources.files("framework").joinpath("resources").joinpath("scaffold")
    staging = Path(tempfile.mkdtemp(prefix=f".framework-{name}-", dir=dest))
    try:
        for source, relative in TEMPLATES.items():
            path = staging / relative.replace("__NAME__", name)
            path.parent.mkdir(parents=True, exist_ok=True)
            template = templates
            for part in source.split("/"):
                template = template.joinpath(part)
            path.write_text(_render(template.read_text(encoding="utf-8"), name), encoding="utf-8")
        (staging / f"framework_{name}" / "py.typed").write_text("", encoding="utf-8")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target
