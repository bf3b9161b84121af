"""Which Airflow interpreters the operations tests (metrics, maintenance DAG) run under.

``XCOMLAB_AIRFLOW_PYTHONS`` lists them (``os.pathsep``-separated, e.g. an Airflow 3.3 and an
Airflow 2.10 venv's python); else ``XCOMLAB_AIRFLOW_PYTHON``; else ``.venv-airflow`` of the
checkout (``make airflow-env``). Each test is parametrized by interpreter and runs it in a
subprocess with ``PYTHONPATH`` set to this checkout, so the code under test is this tree's
even when the venv holds an editable install of another one. A missing interpreter skips,
unless ``XCOMLAB_REQUIRE_AIRFLOW=1``.
"""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_AIRFLOW = os.environ.get("XCOMLAB_REQUIRE_AIRFLOW") == "1"


def pythons() -> list[str]:
    """The interpreters named by the environment (see the module docstring)."""
    listed = os.environ.get("XCOMLAB_AIRFLOW_PYTHONS") or os.environ.get("XCOMLAB_AIRFLOW_PYTHON")
    if listed:
        return [p for p in listed.split(os.pathsep) if p]
    return [str(ROOT / ".venv-airflow" / "bin" / "python")]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment minus Airflow/xcomlab settings, with this checkout first."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "XCOMLAB_", "PYTHONPATH"))}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


@functools.cache
def version(py: str) -> str:
    """Airflow's version under ``py`` ("" when it cannot run Airflow)."""
    if not Path(py).exists():
        return ""
    proc = subprocess.run([py, "-c", "import airflow, xcomlab.backend; print(airflow.__version__)"],
                          capture_output=True, text=True, timeout=180, check=False,
                          env=clean_env())
    return proc.stdout.strip().splitlines()[-1] if proc.returncode == 0 and proc.stdout.strip() else ""


def require(py: str, *modules: str) -> str:
    """Airflow's version under ``py``, or skip (fail under XCOMLAB_REQUIRE_AIRFLOW=1)."""
    v = version(py)
    reason = "" if v else f"no usable Airflow at {py} (set XCOMLAB_AIRFLOW_PYTHONS)"
    if v and modules:
        probe = subprocess.run([py, "-c", "; ".join(f"import {m}" for m in modules)],
                               capture_output=True, text=True, timeout=120, check=False,
                               env=clean_env())
        if probe.returncode:
            reason = f"{py} lacks {', '.join(modules)}: {probe.stderr.strip()[-300:]}"
    if reason:
        if REQUIRE_AIRFLOW:
            pytest.fail(f"XCOMLAB_REQUIRE_AIRFLOW=1 but {reason}")
        pytest.skip(reason)
    return v


class StatsdListener:
    """A UDP socket on 127.0.0.1 collecting StatsD lines while a subprocess runs."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.lines: list[str] = []

    def env(self, prefix: str = "af") -> dict[str, str]:
        """Airflow settings that send its metrics here."""
        return {"AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
                "AIRFLOW__METRICS__STATSD_PORT": str(self.port),
                "AIRFLOW__METRICS__STATSD_PREFIX": prefix}

    def drain(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            try:
                self.lines += self.sock.recv(65536).decode().splitlines()
            except TimeoutError:
                continue

    def run(self, cmd: list[str], log: Path, *, timeout: float = 600,
            **kw: object) -> subprocess.CompletedProcess[str]:
        """Run ``cmd`` (output to ``log``) while collecting; then drain one more second."""
        with log.open("w") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    **kw)  # type: ignore[call-overload]
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                self.drain(0.5)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.drain(1.0)
        self.sock.close()
        return subprocess.CompletedProcess(cmd, proc.returncode, log.read_text(errors="replace"), "")

    def values(self, kind: str) -> dict[str, list[float]]:
        """Values per metric name of one StatsD type (``c``, ``ms``, ``g``)."""
        out: dict[str, list[float]] = {}
        for line in self.lines:
            name, _, rest = line.partition(":")
            value, _, typ = rest.partition("|")
            if typ.split("|")[0] == kind:
                out.setdefault(name, []).append(float(value))
        return out
