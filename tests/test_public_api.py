"""The public namespace is curated: ``__all__`` is exactly what xcomlab exports."""

import xcomlab


def test_all_matches_public_names() -> None:
    """Every public attribute is listed in __all__ and every listed name exists."""
    public = {n for n in vars(xcomlab) if not n.startswith("_")} - {
        "analysis", "errors", "ingest", "schema", "cli", "synth", "backend", "models",
        "simulate", "plots", "widgets", "report", "recommend", "config",
    }
    assert set(xcomlab.__all__) - {"__version__"} == public
    assert all(hasattr(xcomlab, n) for n in xcomlab.__all__)
