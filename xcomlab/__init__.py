"""xcomlab: size Apache Airflow XComs — how big, how fast they grow, what breaks, what it costs.

The top-level names load on first use (PEP 562): ``import xcomlab`` and the reference
backend (``xcomlab.backend``, its Airflow adapters) stay free of pandas, pyarrow and
matplotlib, which an Airflow worker would otherwise pay for in every task process.
``xcomlab.profile`` and the other names below import their module when first touched.
"""

import importlib as _importlib
import sys as _sys
import types as _types
import typing as _typing
from typing import TYPE_CHECKING as _TYPE_CHECKING

from xcomlab.errors import (
    ExportFormatError,
    NotFittedError,
    SchemaMismatchError,
    UnsupportedSourceError,
    XcomlabError,
    XComTooLargeError,
)

if _TYPE_CHECKING:  # what the lazy names resolve to, for type checkers and IDEs
    from xcomlab.analysis import (
        Profile,
        RetentionPolicy,
        check_limits,
        estimate_disk,
        forecast,
        migration_audit,
        on_disk_bytes,
        profile,
        retention,
        scan_secrets,
        summarize,
    )
    from xcomlab.ingest import LoadReport, load_audit, load_export, load_report
    from xcomlab.recommend import recommend
    from xcomlab.schema import validate_frame

__version__ = "0.1.0"

#: Lazy public name → the module that defines it.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("Profile", "RetentionPolicy", "check_limits", "estimate_disk", "forecast",
                     "migration_audit", "on_disk_bytes", "profile", "retention", "scan_secrets",
                     "summarize"), "xcomlab.analysis"),
    **dict.fromkeys(("LoadReport", "load_audit", "load_export", "load_report"), "xcomlab.ingest"),
    "recommend": "xcomlab.recommend",
    "validate_frame": "xcomlab.schema",
}

__all__ = [
    "ExportFormatError",
    "LoadReport",
    "NotFittedError",
    "Profile",
    "RetentionPolicy",
    "SchemaMismatchError",
    "UnsupportedSourceError",
    "XComTooLargeError",
    "XcomlabError",
    "__version__",
    "check_limits",
    "estimate_disk",
    "forecast",
    "load_audit",
    "load_export",
    "load_report",
    "migration_audit",
    "on_disk_bytes",
    "profile",
    "recommend",
    "retention",
    "scan_secrets",
    "summarize",
    "validate_frame",
]


def __getattr__(name: str) -> _typing.Any:
    """Import the module behind a lazy public name on first use, then keep the name."""
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'xcomlab' has no attribute {name!r}"
        raise AttributeError(msg)
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names and the submodules loaded so far (not this module's helpers)."""
    loaded = {n for n, v in globals().items() if isinstance(v, _types.ModuleType)
              and v.__name__ == f"{__name__}.{n}"}
    return sorted({*__all__, *loaded})


class _Package(_types.ModuleType):
    """Keeps a public function from being shadowed by its same-named submodule: importing
    ``xcomlab.recommend`` (the module) binds it on the package, which would hide the
    function ``xcomlab.recommend`` that the eager imports used to bind last."""

    def __setattr__(self, name: str, value: _typing.Any) -> None:
        if (isinstance(value, _types.ModuleType) and _LAZY.get(name) == value.__name__
                and hasattr(value, name)):
            value = getattr(value, name)
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
