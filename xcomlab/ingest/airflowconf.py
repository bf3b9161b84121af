"""The metadata database Airflow itself would connect to, read as Airflow reads it.

Airflow resolves ``[database] sql_alchemy_conn`` in this order (``AirflowConfigParser``
in ``airflow/configuration.py``, apache/airflow main, read 2026-12-07):

1. ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``, with ``$VARS`` and ``~`` expanded;
2. ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_CMD``: a command run *without a shell*
   (``shlex.split``), its standard output is the URL;
3. ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_SECRET``: a key in the configured secrets
   backend;
4. ``airflow.cfg`` (``$AIRFLOW_CONFIG``, else ``$AIRFLOW_HOME/airflow.cfg``, where
   ``AIRFLOW_HOME`` defaults to ``~/airflow``): ``[database] sql_alchemy_conn``, then
   its ``_cmd`` and ``_secret`` forms;
5. the pre-2.3 location ``[core] sql_alchemy_conn`` (environment, then file);
6. Airflow's default, ``sqlite:///$AIRFLOW_HOME/airflow.db``.

xcomlab follows the same order with two deliberate limits: it runs a ``_cmd`` only
when the user passes it through the environment variable (a command written in a
configuration file is refused with the export line to use instead), and it cannot
reach a secrets backend (that needs Airflow's backend classes and their
credentials), so a ``_secret`` setting ends with a message naming the command that
prints the URL: ``airflow config get-value database sql_alchemy_conn``.
"""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from xcomlab.errors import AirflowConfigError, mask_url

__all__ = ["AirflowConnection", "airflow_connection"]

_ENV = "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
_ENV_CORE = "AIRFLOW__CORE__SQL_ALCHEMY_CONN"
#: Seconds a ``_CMD`` may run; its output is capped (a URL is short).
CMD_TIMEOUT_S = 30
_CMD_MAX_BYTES = 64 * 1024
_GET_VALUE = "airflow config get-value database sql_alchemy_conn"


@dataclass(frozen=True)
class AirflowConnection:
    """A connection URL and where it came from (``origin``); its repr masks the password."""

    url: str
    origin: str

    def __repr__(self) -> str:
        return f"AirflowConnection({mask_url(self.url)!r} from {self.origin})"

    def describe(self) -> str:
        """``<masked url> (from <origin>)``, for a status line."""
        return f"{mask_url(self.url)} (from {self.origin})"


def _expand(value: str, env: Mapping[str, str]) -> str:
    """``$VAR`` / ``${VAR}`` and ``~`` expanded until stable, as Airflow's ``expand_env_var``."""
    for _ in range(10):
        out = _expandvars(value, env)
        out = os.path.expanduser(out)
        if out == value:
            break
        value = out
    return value


_VAR = re.compile(r"\$(\w+|\{[^}]*\})")


def _expandvars(value: str, env: Mapping[str, str]) -> str:
    """``os.path.expandvars`` over ``env``: unknown variables stay as written."""
    def one(m: re.Match[str]) -> str:
        name = m.group(1).strip("{}")
        return env.get(name, m.group(0))

    return _VAR.sub(one, value)


def _run(command: str, origin: str) -> str:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        msg = f"{origin}: cannot split the command ({exc}); expected a command line such as 'cat /run/secrets/db_url'"
        raise AirflowConfigError(msg) from exc
    if not argv:
        msg = f"{origin} is empty; expected a command that prints the database URL"
        raise AirflowConfigError(msg)
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=CMD_TIMEOUT_S, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        msg = f"{origin}: no program {argv[0]!r} (the command runs without a shell, as Airflow runs it)"
        raise AirflowConfigError(msg) from exc
    except subprocess.TimeoutExpired as exc:
        msg = f"{origin}: the command ran over {CMD_TIMEOUT_S} s; expected it to print the URL and exit"
        raise AirflowConfigError(msg) from exc
    if proc.returncode != 0:
        msg = (f"{origin}: the command exited with code {proc.returncode}; run it yourself to see "
               "why (its output is not shown: it may hold the password)")
        raise AirflowConfigError(msg)
    out = proc.stdout[:_CMD_MAX_BYTES].decode("utf-8", "replace").strip()
    if not out:
        msg = f"{origin}: the command printed nothing; expected it to print the database URL"
        raise AirflowConfigError(msg)
    return out


def _secret_unreachable(origin: str) -> AirflowConfigError:
    return AirflowConfigError(
        f"{origin} asks Airflow's secrets backend for the URL; xcomlab cannot reach a secrets "
        f"backend (it needs Airflow's backend classes and their credentials). On a machine with "
        f"Airflow, run `{_GET_VALUE}` and pass the URL it prints as SOURCE")


def _config_file(home: Path, env: Mapping[str, str], explicit_home: bool) -> Path:
    if not explicit_home and env.get("AIRFLOW_CONFIG"):
        return Path(_expand(env["AIRFLOW_CONFIG"], env))
    return home / "airflow.cfg"


def _read_cfg(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False)
    try:
        with path.open(encoding="utf-8") as f:
            parser.read_file(f)
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        msg = f"{path}: not a readable airflow.cfg ({mask_url(first)}); expected an INI file with a [database] section"
        raise AirflowConfigError(msg) from exc
    except OSError as exc:
        msg = f"{path}: cannot read it ({exc.strerror}); check the path and its permissions"
        raise AirflowConfigError(msg) from exc
    return parser


def _from_cfg(parser: configparser.ConfigParser, path: Path, home: Path,
              env: Mapping[str, str]) -> AirflowConnection | None:
    for section in ("database", "core"):
        if not parser.has_section(section):
            continue
        origin = f"{path} [{section}] sql_alchemy_conn"
        try:
            value = parser.get(section, "sql_alchemy_conn", fallback=None)
        except configparser.Error as exc:  # e.g. a lone % in a password (Airflow writes %%)
            msg = f"{origin}: {exc}; a literal % in the URL must be written %% in airflow.cfg"
            raise AirflowConfigError(msg) from exc
        if value:
            value = _expand(value.replace("{AIRFLOW_HOME}", str(home)), env)
            return AirflowConnection(value, origin)
        if parser.has_option(section, "sql_alchemy_conn_cmd"):
            cmd = parser.get(section, "sql_alchemy_conn_cmd", raw=True)
            msg = (f"{origin}_cmd is set; xcomlab runs a command only when you pass it yourself: "
                   f"export {_ENV}_CMD={shlex.quote(cmd)}, or pass the URL as SOURCE")
            raise AirflowConfigError(msg)
        if parser.has_option(section, "sql_alchemy_conn_secret"):
            where = f"{origin}_secret"
            raise _secret_unreachable(where)
    return None


def airflow_connection(airflow_home: str | os.PathLike[str] | None = None,
                       environ: Mapping[str, str] | None = None) -> AirflowConnection:
    """The metadata DB URL Airflow would use here, and where it was found.

    Parameters
    ----------
    airflow_home
        Airflow's home directory (``--airflow-home``); default ``$AIRFLOW_HOME`` or
        ``~/airflow``. When given, ``$AIRFLOW_CONFIG`` is ignored and
        ``airflow_home/airflow.cfg`` is read.
    environ
        The environment to read (default ``os.environ``).

    Raises
    ------
    AirflowConfigError
        No setting names a database, a ``_CMD`` failed, a ``_SECRET`` is set (out of
        reach), or ``airflow.cfg`` cannot be read.
    """
    env = os.environ if environ is None else environ
    if airflow_home is None:
        for name in (_ENV, _ENV_CORE):
            if env.get(name):
                return AirflowConnection(_expand(env[name], env), name)
            if env.get(f"{name}_CMD"):
                return AirflowConnection(_run(env[f"{name}_CMD"], f"{name}_CMD"), f"{name}_CMD")
            if env.get(f"{name}_SECRET"):
                where = f"{name}_SECRET"
                raise _secret_unreachable(where)
    explicit = airflow_home is not None
    home_text = os.fspath(airflow_home) if airflow_home is not None else \
        env.get("AIRFLOW_HOME") or "~/airflow"
    home = Path(_expand(str(home_text), env))
    if explicit and not home.is_dir():
        msg = f"--airflow-home {home}: no such directory; expected the folder holding airflow.cfg"
        raise AirflowConfigError(msg)
    cfg = _config_file(home, env, explicit)
    if cfg.is_file():
        found = _from_cfg(_read_cfg(cfg), cfg, home, env)
        if found is not None:
            return found
    default_db = home / "airflow.db"
    if default_db.is_file():
        return AirflowConnection(f"sqlite:///{default_db}", f"Airflow's default database {default_db}")
    looked = ("" if explicit else f"{_ENV} (and its _CMD / _SECRET forms), ") + \
        f"{cfg} ({'no sql_alchemy_conn in it' if cfg.is_file() else 'no such file'}), {default_db}"
    msg = (f"no source given and no Airflow configuration found: looked at {looked}. Pass an "
           "export file or a database URL as SOURCE, or --airflow-home DIR")
    raise AirflowConfigError(msg)
