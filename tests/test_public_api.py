"""The public namespace is curated: ``__all__`` is exactly what xcomlab exports."""

import inspect

import xcomlab


def test_all_matches_public_names() -> None:
    """Every public attribute is listed in __all__ and every listed name exists.

    Submodules (``xcomlab.analysis``, ``xcomlab.backend``, ...) appear as attributes once
    imported anywhere; they are namespaces, not exports, so they are left out.
    """
    public = {n for n, v in vars(xcomlab).items()
              if not n.startswith("_") and not inspect.ismodule(v)}
    assert set(xcomlab.__all__) - {"__version__"} == public
    assert all(hasattr(xcomlab, n) for n in xcomlab.__all__)
