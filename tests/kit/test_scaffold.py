"""``framework new-plugin``: names are validated, nothing is overwritten, the result is a real plugin.

Installing the generated distribution and running its own tests happens in
test_external_plugin.py (in a fresh virtualenv); here it is loaded in-process.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

from framework.errors import UserError
from framework.scaffold import TEMPLATES, create_plugin, validate_name
from framework.testing import PluginUnderTest
from framework.testing import problems as P


@pytest.mark.parametrize("name", ["", "My-Family", "9lives", "has space", "a" * 41, "émoji", "x.y"])
def test_invalid_names_are_one_line_user_errors(name: str, tmp_path: Path) -> None:
    with pytest.raises(UserError) as raised:
        create_plugin(name, tmp_path)
    line = raised.value.line()
    assert "\n" not in line and "invalid plugin name" in line and "lowercase letters" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["generic", "class", "testing"])
def test_reserved_names_are_refused(name: str) -> None:
    with pytest.raises(UserError, match="reserved"):
        validate_name(name)


def test_an_installed_plugin_name_is_refused() -> None:
    installed = sorted(ep.name for ep in importlib.metadata.entry_points(group="framework"))
    if not installed:
        pytest.skip("no plugin is installed in this environment")
    with pytest.raises(UserError, match="already installed"):
        validate_name(installed[0])


def test_existing_directory_is_never_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "framework-kitfamily"
    target.mkdir()
    (target / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(UserError, match="already exists") as raised:
        create_plugin("kitfamily", tmp_path)
    assert "nothing was overwritten" in raised.value.line()
    assert [p.name for p in target.iterdir()] == ["mine.txt"]


def test_destination_that_is_a_file_is_refused(tmp_path: Path) -> None:
    afile = tmp_path / "file"
    afile.write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="is a file"):
        create_plugin("kitfamily", afile)


def test_generated_distribution(tmp_path: Path) -> None:
    root = create_plugin("kit_family", tmp_path / "new" / "dest")
    assert root == tmp_path / "new" / "dest" / "framework-kit_family"
    assert [p.name for p in (tmp_path / "new" / "dest").iterdir()] == ["framework-kit_family"]  # no staging left
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == sorted([*(t.replace("__NAME__", "kit_family") for t in TEMPLATES.values()),
                            "framework_kit_family/py.typed"])
    for path in root.rglob("*"):
        if path.is_file():
            assert not re.search(r"__[A-Z][A-Z_]*__", path.read_text(encoding="utf-8")), path
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert 'name = "framework-kit_family"' in pyproject
    assert '[project.entry-points.framework]\nkit_family = "framework_kit_family.plugin"' in pyproject
    assert "class TestKitFamilyContract(PluginContract)" in (root / "tests" / "test_contract.py").read_text("utf-8")


def test_generated_plugin_satisfies_the_wiring_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = create_plugin("kitfamily", tmp_path)
    monkeypatch.syspath_prepend(str(root))
    for name in [m for m in sys.modules if m.startswith("framework_kitfamily")]:
        monkeypatch.delitem(sys.modules, name)
    from framework_kitfamily import plugin  # type: ignore[import-not-found]

    assert P.hookimpl_problems(plugin) == [] and P.api_range_problem(plugin) is None
    _, claim = PluginUnderTest(plugin, "kitfamily").match({"model_type": "kitfamily"}, "x")
    assert claim.score == 50 and claim.variant == "1"


def test_cli_new_plugin_creates_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from framework.cli import main

    assert main(["new-plugin", "clifamily", "--dest", str(tmp_path)]) == 0
    assert (tmp_path / "framework-clifamily" / "framework_clifamily" / "plugin.py").is_file()
    assert f"created {tmp_path / 'framework-clifamily'}" in capsys.readouterr().out
    assert main(["new-plugin", "Bad-Name", "--dest", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: new-plugin: invalid plugin name 'Bad-Name'")
