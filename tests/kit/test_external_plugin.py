"""Third-party plugins installed the way a user installs them, then used through the CLI.

Each test module builds a fresh virtualenv on top of the interpreter running the tests: with
``--system-site-packages`` and this environment's own site-packages added (``site.addsitedir``
in a .pth file, so the editable installs of the core and the in-tree plugins work there too),
nothing is downloaded and creating it takes a fraction of a second. The plugin is then built
and installed from a copy of its source with ``pip install --no-deps --no-build-isolation``,
and everything else runs in subprocesses of that environment's python.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "framework-phi3"
USER_TOKEN, SYSTEM_TOKEN, ASSISTANT_TOKEN, END_TOKEN, EOS_TOKEN = 32010, 32006, 32001, 32007, 32000


class Env:
    """A virtualenv layered on the running one, with helpers to run its python."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cache = directory.parent / f"{directory.name}-cache"
        venv.EnvBuilder(system_site_packages=True, with_pip=False, symlinks=os.name != "nt").create(directory)
        self.python = directory / ("Scripts" if os.name == "nt" else "bin") / "python"
        purelib = Path(self.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
        if sys.prefix != sys.base_prefix:  # --system-site-packages reaches only the base interpreter's packages
            lines = [f"import site; site.addsitedir({path!r})\n" for path in site.getsitepackages()]
            (purelib / "_layered_on_parent_env.pth").write_text("".join(lines), encoding="utf-8")
        self.purelib = purelib

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAMEWORK_")}
        env.update(HF_HUB_OFFLINE="1", HF_HOME=str(self.cache / "hf"), XDG_CACHE_HOME=str(self.cache),
                   TOKENIZERS_PARALLELISM="false", PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONDONTWRITEBYTECODE="1")
        return env

    def run(self, *args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(self.python), *args], cwd=cwd, env=self.environ(), capture_output=True,
                              text=True, timeout=300)
        if check and done.returncode != 0:
            pytest.fail(f"{' '.join(args)} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}",
                        pytrace=False)
        return done

    def install(self, source: Path) -> Path:
        """Build and install a copy of ``source`` (so no build files land in the repository)."""
        copy = self.directory.parent / f"src-{source.name}"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                     ".pytest_cache"))
        self.run("-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(copy))
        return copy

    def framework(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "framework", *args, check=check)


def save_tiny_phi3(directory: Path) -> Path:
    """The example's tiny-model builder, run in this process (torch is already imported here)."""
    sys.path.insert(0, str(EXAMPLE))
    try:
        from framework_phi3.checkpoints import save_tiny_model

        return save_tiny_model(directory)
    finally:
        sys.path.remove(str(EXAMPLE))
        for name in [m for m in sys.modules if m == "framework_phi3" or m.startswith("framework_phi3.")]:
            del sys.modules[name]


@pytest.fixture(scope="module")
def phi3(tmp_path_factory: pytest.TempPathFactory) -> tuple[Env, Path, Path, Path]:
    """(environment with framework-phi3 installed, its source copy, a tiny Phi-3 model dir, a data file)."""
    base = tmp_path_factory.mktemp("phi3")
    env = Env(base / "venv")
    source = env.install(EXAMPLE)
    model = save_tiny_phi3(base / "tiny-phi3")
    data = base / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                          {"role": "assistant", "content": f"It is {2 * i}."}]} for i in range(6)]
    rows.append({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello."}]})
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return env, source, model, data


def test_plugins_lists_the_installed_plugin(phi3) -> None:
    env, _, _, _ = phi3
    location = env.run("-c", "import framework_phi3; print(framework_phi3.__file__)").stdout.strip()
    assert Path(location).is_relative_to(env.purelib), "the plugin must come from the fresh environment"
    listed = {p["name"]: p for p in json.loads(env.framework("plugins", "--json").stdout)}
    phi3_info = listed["phi3"]
    assert (phi3_info["status"], phi3_info["distribution"], phi3_info["version"]) == ("loaded", "framework-phi3", "0.1.0")
    assert phi3_info["module"] == "framework_phi3.plugin" and not phi3_info["builtin"]
    assert {"match_model", "render_chat", "lora_target_modules", "rope_scaling"} <= set(phi3_info["hooks"])


def test_plan_selects_the_plugin_with_its_settings(phi3) -> None:
    env, _, model, _ = phi3
    plan = json.loads(env.framework("plan", "--model", str(model), "--json").stdout)
    assert plan["plugin"]["name"] == "phi3" and plan["plugin"]["variant"] == "3-4k"
    assert plan["plugin"]["distribution"] == "framework-phi3"
    assert any("vocab_size=32064" in r for r in plan["plugin"]["reasons"])
    assert plan["settings"]["lora.r"] == {"value": 16, "source": "plugin:phi3"}
    assert plan["settings"]["training.warmup"]["source"] == "plugin:phi3"
    assert plan["load_settings"]["trust_remote_code"] is False
    assert any("sliding window of 2047" in note for note in plan["load_settings"]["notes"])


#: One process for the two extra plan calls (each CLI process pays the torch import again).
TWO_PLANS = """
import contextlib, io, json, sys
from framework.cli import main
out, err = io.StringIO(), io.StringIO()
with contextlib.redirect_stdout(out):
    offline = main(["plan", "--model", "microsoft/Phi-3-mini-4k-instruct", "--json"])
with contextlib.redirect_stderr(err):
    too_long = main(["plan", "--model", sys.argv[1], "--cutoff-len", "8192"])
print(json.dumps({"offline": offline, "plan": json.loads(out.getvalue()), "too_long": too_long,
                  "error": err.getvalue()}))
"""


def test_plan_offline_from_published_facts_and_refusal_of_a_long_cutoff(phi3) -> None:
    env, _, model, _ = phi3
    result = json.loads(env.run("-c", TWO_PLANS, str(model)).stdout.strip().splitlines()[-1])
    assert result["offline"] == 0 and result["plan"]["plugin"]["name"] == "phi3"
    assert result["plan"]["model"]["origin"] == "published facts (phi3)"
    lines = [line for line in result["error"].strip().splitlines() if line.startswith("error:")]
    assert result["too_long"] == 2 and len(lines) == 1 and "128k checkpoint" in lines[0]


def test_render_uses_the_plugins_chat_format(phi3) -> None:
    """The saved tokenizer has no chat template: only the plugin can render these samples."""
    env, _, model, data = phi3
    rows = [json.loads(line) for line in env.framework("render", "--model", str(model), "--data", str(data),
                                                       "--json").stdout.splitlines() if line.strip()]
    assert len(rows) == 7
    for row in rows:
        ids, labels = row["input_ids"], row["labels"]
        assert ids[0] in (USER_TOKEN, SYSTEM_TOKEN) and ids[-1] == EOS_TOKEN and ASSISTANT_TOKEN in ids
        trained = [t for t, label in zip(ids, labels) if label != -100]
        assert trained and trained[-1] == END_TOKEN and trained.count(END_TOKEN) == 1
        assert USER_TOKEN not in trained and ASSISTANT_TOKEN not in trained


def test_the_plugins_own_tests_pass_where_it_is_installed(phi3) -> None:
    env, source, _, _ = phi3
    done = env.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=source, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_a_scaffolded_plugin_installs_and_passes_its_own_tests(tmp_path: Path) -> None:
    from framework.scaffold import create_plugin

    generated = create_plugin("kitscaffold", tmp_path / "dest")
    env = Env(tmp_path / "venv")
    source = env.install(generated)
    listed = {p["name"]: p for p in json.loads(env.framework("plugins", "--json").stdout)}
    assert listed["kitscaffold"]["status"] == "loaded"
    assert listed["kitscaffold"]["distribution"] == "framework-kitscaffold"
    done = env.run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=source, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "failed" not in done.stdout
