"""A throwaway JupyterLab server on loopback, sealed off from the user's and the internet's state."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: JupyterLab plugins that would reach the internet (news, update checks): disabled in the
#: throwaway config dir's ``labconfig/page_config.json``.
OFFLINE_DISABLED = ("@jupyterlab/apputils-extension:announcements",)

#: User settings written into the throwaway settings dir. ``windowingMode: none`` keeps every
#: cell in the DOM (the default windowing detaches cells scrolled out of view);
#: ``autoStartDefaultKernel`` starts the notebook's kernel without the "Select Kernel" dialog.
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none",
                                               "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it listens, its token, its root dir and its log."""

    url: str
    token: str
    root: Path
    log: Path

    def tree(self, path: str) -> str:
        """URL that opens ``path`` (relative to the root dir) in the Lab UI, logged in."""
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    def log_tail(self, n: int = 40) -> str:
        """The server log's last ``n`` lines (for failure messages)."""
        lines = self.log.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workdir(base: Path) -> Path:
    """``base/notebooks`` (tmp copies of the repo's notebooks) next to the data they read.

    The notebooks find the repo by ``Path.cwd().parent / "data"``; only the bundled samples are
    copied. Running and saving in the Lab touches these copies, never the committed files.
    """
    nbdir = base / "notebooks"
    nbdir.mkdir()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy2(nb, nbdir / nb.name)
    shutil.copytree(ROOT / "data" / "samples", base / "data" / "samples")
    return nbdir


def _jupyter_env(base: Path) -> dict[str, str]:
    """Environment with every Jupyter/IPython state dir inside ``base``."""
    dirs = {name: base / name.lower() for name in
            ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR",
             "MPLCONFIGDIR")}
    for d in dirs.values():
        d.mkdir()
    labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
    labconfig.mkdir()
    (labconfig / "page_config.json").write_text(
        json.dumps({"disabledExtensions": dict.fromkeys(OFFLINE_DISABLED, True)}))
    settings = dirs["JUPYTER_CONFIG_DIR"] / "lab" / "user-settings"
    for plugin, values in USER_SETTINGS.items():
        f = settings / f"{plugin}.jupyterlab-settings"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "XCOMLAB_"))}
    env.update({k: str(v) for k, v in dirs.items()})
    env.update(JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTER_PLATFORM_DIRS="1",
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"), PYTHONUNBUFFERED="1")
    return env


def _wait_ready(proc: subprocess.Popen[bytes], url: str, token: str, log: Path,
                timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            req = urllib.request.Request(f"{url}/api/status",
                                         headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer /api/status in {timeout:.0f} s:\n"
                f"{log.read_text()[-3000:]}")


@pytest.fixture
def jupyter_lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab (the venv's) on 127.0.0.1, over tmp copies of the notebooks; killed afterwards."""
    exe = Path(sys.executable).with_name("jupyter-lab")
    if not exe.exists():
        pytest.skip(f"jupyterlab is not installed in {sys.prefix} (pip install -e '.[dev]')")
    port, token = _free_port(), secrets.token_hex(16)
    root = _workdir(tmp_path)
    log = tmp_path / "jupyter.log"
    cmd = [str(exe), "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
           # nothing reaches the internet: no news, no update check, no PyPI extension manager
           "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=root, env=_jupyter_env(tmp_path), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_ready(proc, url, token, log, timeout=90)
        yield Lab(url=url, token=token, root=root, log=log)
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (it shuts its kernels down), then SIGKILL its process group."""
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):  # the group is ours (start_new_session)
        os.killpg(proc.pid, signal.SIGKILL)  # whatever survived, e.g. an orphaned kernel
    proc.wait(timeout=10)
