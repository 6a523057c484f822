"""Edge deployment (``deploy/agent/``): install.sh, the systemd unit, the edge compose file.

``install.sh`` runs for real (venv, pip, files, modes) into a staging root
(``CAMNET_ROOT``) with the root-only steps switched off (apt, useradd, systemctl). pip
installs camnet without its dependencies (``--no-deps``): they would be downloaded, and the
agent's are large. So the installed ``camnet`` cannot run here; the installed config is
checked with the repository's ``camnet`` instead, and the script's own check is off
(``CAMNET_SKIP_CHECK=1``). The unit is checked by ``systemd-analyze``, the compose file by
``docker-compose config``, the script by ``bash -n`` and shellcheck, each when installed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
AGENT_DIR = ROOT / "deploy" / "agent"
SCRIPT = AGENT_DIR / "install.sh"
UNIT = AGENT_DIR / "camnet-agent.service"
COMPOSE = AGENT_DIR / "docker-compose.yml"
EXAMPLE = AGENT_DIR / "agent.example.yaml"
#: The repository's own camnet (the venv running the tests has every dependency).
REPO_CAMNET = Path(sys.prefix) / "bin" / "camnet"
#: The interpreter behind the test venv: the new venv must not inherit the test venv.
BASE_PYTHON = getattr(sys, "_base_executable", sys.executable)


def stage_source(dest: Path) -> Path:
    """Copy what pip builds (as pyproject.toml lists it) and ``deploy/agent/`` to ``dest``.

    pip builds a local directory in place (setuptools writes ``build/`` and
    ``camnet.egg-info/`` into it), so the test installs from a copy and never writes into
    the checkout. The script runs from the copy too, so its default ``--source`` (the
    repository it lives in) is what gets installed. Returns the copied install.sh.
    """
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = project["tool"]["setuptools"]
    dest.mkdir(parents=True)
    files = ["pyproject.toml", project["project"]["readme"]]
    files += [f"{module}.py" for module in setuptools["py-modules"]]
    for name in files:
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for pattern in setuptools["packages"]["find"]["include"]:  # "agent*" → agent/
        top = pattern.rstrip("*.")
        shutil.copytree(ROOT / top, dest / top, ignore=ignore)
    shutil.copytree(AGENT_DIR, dest / "deploy" / "agent", ignore=ignore)
    return dest / "deploy" / "agent" / "install.sh"


def build_wheel(source: Path, out: Path) -> Path:
    """camnet's wheel, built offline by the test venv's setuptools (a dev dependency)."""
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*command, "--quiet", "-w", str(out), str(source)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("camnet-*.whl")
    return wheel


def install_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a staged, non-root install into ``root`` (a Debian 12 box)."""
    os_release = root.parent / "os-release"
    if not os_release.exists():  # apt is skipped, so the test box need not be Debian
        os_release.parent.mkdir(parents=True, exist_ok=True)
        os_release.write_text('ID=debian\nVERSION_ID="12"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(
        CAMNET_ROOT=str(root),
        CAMNET_SKIP_APT="1",
        CAMNET_SKIP_USER="1",
        CAMNET_SKIP_SYSTEMCTL="1",
        CAMNET_SKIP_CHECK="1",
        CAMNET_PYTHON=BASE_PYTHON,
        CAMNET_OS_RELEASE=str(os_release),
        # No dependencies (see the module docstring) and no index: the test installs a wheel
        # built beforehand from the staged copy, so nothing leaves this machine.
        CAMNET_PIP_ARGS="--no-deps --no-index --quiet",
    )
    env.update(extra)
    return env


def run_script(
    script: Path, env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Install once into a staging root: (the copied install.sh, the root, its stdout)."""
    base = tmp_path_factory.mktemp("edge")
    script = stage_source(base / "src")
    wheel = build_wheel(base / "src", base / "dist")
    root = base / "root"
    done = run_script(script, install_env(root), "--source", str(wheel))
    assert done.returncode == 0, done.stdout + done.stderr
    return script, root, done.stdout


def test_install_sh_installs_into_a_root_and_runs_again(staged: tuple[Path, Path, str]) -> None:
    script, root, output = staged
    venv = root / "opt" / "camnet"
    camnet = venv / "bin" / "camnet"
    assert camnet.is_file()
    assert os.access(camnet, os.X_OK)
    # the console script runs the new venv's interpreter, not the test venv's
    shebang = camnet.read_text(encoding="utf-8").splitlines()[0]
    assert shebang.startswith(f"#!{venv}/bin/python"), shebang
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-I",  # isolated: the checkout in the working directory must not count
            "-c",
            "import importlib.metadata as m, importlib.util as u;"
            "print(m.version('camnet'), u.find_spec('agent.daemon').origin)",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    installed_version, daemon = found.stdout.split()
    assert installed_version == version["version"]
    assert Path(daemon).is_relative_to(venv), daemon  # the package went into the venv

    unit = root / "etc" / "systemd" / "system" / "camnet-agent.service"
    assert unit.read_bytes() == UNIT.read_bytes()
    config = root / "etc" / "camnet" / "agent.yaml"
    assert config.read_bytes() == EXAMPLE.read_bytes()
    assert stat.S_IMODE(config.stat().st_mode) == 0o640  # it holds passwords
    state = root / "var" / "lib" / "camnet" / "agent"
    assert state.is_dir()
    assert stat.S_IMODE(state.stat().st_mode) == 0o750
    for hint in ("--check-config", "journalctl -u camnet-agent -f", "127.0.0.1:9108/metrics"):
        assert hint in output

    # the installed config is valid (checked by the repository's camnet, see the docstring)
    check = subprocess.run(
        [str(REPO_CAMNET), "agent", "--config", str(config), "--check-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "config OK" in check.stdout

    # a second run (an upgrade) reuses the venv and keeps the edited config
    edited = config.read_text(encoding="utf-8") + "# sửa tay / edited by hand\n"
    config.write_text(edited, encoding="utf-8")
    (wheel,) = (script.parents[3] / "dist").glob("camnet-*.whl")  # built by `staged`
    again = run_script(script, install_env(root), "--source", str(wheel))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "reusing the venv" in again.stdout
    assert "keeping" in again.stdout
    assert config.read_text(encoding="utf-8") == edited
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert camnet.is_file()


def test_install_sh_help_and_a_wrong_option() -> None:
    done = run_script(SCRIPT, dict(os.environ), "--help", timeout=30)
    assert done.returncode == 0, done.stderr
    for word in ("--source", "--no-start", "CAMNET_ROOT", "CAMNET_PIP_ARGS"):
        assert word in done.stdout
    wrong = run_script(SCRIPT, dict(os.environ), "--frobnicate", timeout=30)
    assert wrong.returncode == 2
    assert "--frobnicate" in wrong.stderr


@pytest.mark.parametrize(
    ("os_release", "why"),
    [
        ('ID=fedora\nVERSION_ID="40"\n', "Debian or Ubuntu only"),
        ('ID=debian\nVERSION_ID="11"\n', "needs Debian 12 or later"),
        ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="20.04"\n', "needs Ubuntu 22.04 or later"),
    ],
)
def test_install_sh_refuses_other_systems(tmp_path: Path, os_release: str, why: str) -> None:
    (tmp_path / "os-release").write_text(os_release, encoding="utf-8")
    env = install_env(tmp_path / "root", CAMNET_OS_RELEASE=str(tmp_path / "os-release"))
    done = run_script(SCRIPT, env, timeout=30)
    assert done.returncode == 1
    assert why in done.stderr
    assert not (tmp_path / "root").exists()  # refused before touching anything


def test_unit_names_the_installed_paths() -> None:
    lines = [line for line in UNIT.read_text(encoding="utf-8").splitlines() if "=" in line]
    settings = [line.split("=", 1) for line in lines if not line.startswith("#")]
    assert ["User", "camnet"] in settings
    assert ["StateDirectory", "camnet/agent"] in settings
    assert ["ConfigurationDirectory", "camnet"] in settings
    run = "/opt/camnet/bin/camnet agent --config /etc/camnet/agent.yaml"
    assert ["ExecStartPre", f"{run} --check-config"] in settings
    assert ["ExecStart", run] in settings
    # the state_dir the example config names is the unit's writable state directory
    state_dir = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["state_dir"]
    assert state_dir == "/var/lib/camnet/agent"
    assert ["ReadWritePaths", state_dir] in settings


@pytest.mark.skipif(
    not Path("/usr/bin/systemd-analyze").exists(), reason="needs systemd-analyze (Debian: systemd)"
)
def test_unit_passes_systemd_analyze(staged: tuple[Path, Path, str], tmp_path: Path) -> None:
    # `verify` fails when an Exec*= binary is missing, and /opt/camnet does not exist on a
    # test box: check a copy whose paths point at the venv install.sh just made. The file
    # keeps its name: systemd takes the unit's name from it.
    _, root, _ = staged
    venv = root / "opt" / "camnet"
    unit = tmp_path / "camnet-agent.service"
    unit.write_text(UNIT.read_text(encoding="utf-8").replace("/opt/camnet", str(venv)))
    done = subprocess.run(
        ["/usr/bin/systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # Warnings (an unknown key, a key in the wrong section) still exit 0: none may name us.
    said = done.stdout + done.stderr
    assert done.returncode == 0, said
    assert "camnet-agent" not in said, said

    # The hardening as systemd scores it (0 = locked down, 10 = nothing): 2.8 when written.
    security = subprocess.run(
        ["/usr/bin/systemd-analyze", "security", "--offline=yes", "--no-pager", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "Overall exposure level" not in security.stdout:
        pytest.skip(f"systemd-analyze security --offline needs systemd 250+: {security.stderr}")
    overall = security.stdout.split("Overall exposure level for camnet-agent.service:")[1]
    assert float(overall.split()[0]) <= 4.0, security.stdout


def compose_command() -> list[str]:
    """``docker compose`` (v2) if it works, else Debian's ``docker-compose``; skip if neither."""
    if shutil.which("docker"):
        v2 = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if v2.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("needs docker compose or Debian's package docker-compose")


def mount(volume: str | dict[str, object]) -> list[str]:
    """[source, target, rw|ro] of a volume as `config` prints it (short syntax in 1.x)."""
    if isinstance(volume, str):
        return volume.split(":")
    return [str(volume["source"]), str(volume["target"]), "ro" if volume.get("read_only") else "rw"]


def test_edge_compose_file_is_valid(tmp_path: Path) -> None:
    command = [*compose_command(), "-f", str(COMPOSE)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMNET_")}
    quiet = subprocess.run(
        [*command, "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert quiet.returncode == 0, quiet.stderr
    resolved = subprocess.run(
        [*command, "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
        cwd=tmp_path,
    )
    agent = yaml.safe_load(resolved.stdout)["services"]["agent"]
    assert agent["network_mode"] == "host"
    assert agent["build"]["args"]["EXTRAS"] == "agent"
    assert Path(agent["build"]["context"]) == ROOT
    config_path = agent["command"][agent["command"].index("--config") + 1]
    mounts = [mount(v) for v in agent["volumes"]]
    assert [str(AGENT_DIR / "agent.yaml"), config_path, "ro"] in mounts
    # the example's state_dir lies inside a named volume (kept across container upgrades)
    state_dir = Path(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))["state_dir"])
    named = [Path(m[1]) for m in mounts if not m[0].startswith("/")]
    assert any(state_dir.is_relative_to(target) for target in named), mounts
    assert "9108/metrics" in " ".join(agent["healthcheck"]["test"])


def test_install_sh_is_clean_shell() -> None:
    done = subprocess.run(
        ["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert os.access(SCRIPT, os.X_OK)


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="needs shellcheck (Debian: shellcheck)")
def test_install_sh_passes_shellcheck() -> None:
    done = subprocess.run(
        ["shellcheck", str(SCRIPT)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout
