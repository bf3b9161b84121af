"""BackendExplorer: set widget values as a user would and check what the outputs do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

import xcomlab
from xcomlab import plots, synth
from xcomlab.constants import REFERENCE_ROW_BYTES as REF_BYTES
from xcomlab.errors import XcomlabError
from xcomlab.recommend import POLICY_48KB, evaluate
from xcomlab.widgets import THRESHOLDS, BackendExplorer

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "samples" / "af3" / "airflow.db"


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return xcomlab.load_export(SAMPLE)


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """A seeded deployment whose offenders (1.5 MB values) make offloading worth it."""
    dep = synth.generate(synth.SynthConfig(seed=7, dags=4, days=30, offenders=20,
                                           offender_bytes=1_500_000, median_value_bytes=1500))
    path = tmp_path_factory.mktemp("big") / "xcom.parquet"
    synth.write(dep, "parquet", path)
    return xcomlab.load_export(path)


@pytest.fixture(scope="module")
def explorer(sample: pd.DataFrame) -> BackendExplorer:
    return BackendExplorer(sample, cost_tolerance_usd=0.0)


@pytest.fixture
def fresh(explorer: BackendExplorer) -> Iterator[BackendExplorer]:
    """The module's explorer, put back to its initial values after the test."""
    start = {w: w.value for w in (explorer.threshold, explorer.compression, explorer.retention,
                                  explorer.object_store, explorer.db_price)}
    yield explorer
    for widget, value in start.items():
        widget.value = value
    explorer.object_store.value = "gcs"
    explorer.object_store.value = "s3"  # resets the object price sliders


def test_builds_widgets_with_stable_classes(explorer: BackendExplorer) -> None:
    import ipywidgets as w

    assert isinstance(explorer.widget, w.VBox)
    for widget, cls in ((explorer.threshold, "xcomlab-threshold"),
                        (explorer.db_price, "xcomlab-db-price"),
                        (explorer.object_price, "xcomlab-object-price"),
                        (explorer.put_price, "xcomlab-put-price"),
                        (explorer.retention, "xcomlab-retention"),
                        (explorer.recommendation_html, "xcomlab-recommendation")):
        assert cls in widget._dom_classes
    assert explorer.threshold.value == POLICY_48KB and explorer.backend.value == "tiered"
    assert "1 MiB" in explorer.threshold.options[6] and explorer.threshold.options[-1][0] == "never"
    assert explorer.db_price.value == pytest.approx(0.115)  # bundled rds-postgresql-gp3 row
    assert explorer.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<table" in explorer.table.value and "Recommended: " in explorer.recommendation_html.value
    assert explorer.recommendation_text.startswith("Recommended: db.")  # tiny values: DB only
    assert explorer.current["name"] == "tiered-s3@48 KB"
    assert list(explorer.curve["threshold"]) == [label for label, _ in THRESHOLDS]


@pytest.mark.slow
def test_threshold_and_backend_stay_consistent(fresh: BackendExplorer) -> None:
    fresh.backend.value = "db"
    assert fresh.threshold.value == -1 and fresh.current["kind"] == "db+compression"
    fresh.compression.value = "none"
    assert fresh.current["name"] == "db" and fresh.current["offloaded_share"] == 0
    fresh.backend.value = "tiered"
    assert fresh.threshold.value == POLICY_48KB
    fresh.threshold.value = 0
    assert fresh.backend.value == "object" and fresh.current["name"] == "object-s3"


@pytest.mark.slow
def test_object_price_raises_object_cost(fresh: BackendExplorer) -> None:
    fresh.threshold.value = 0
    before = dict(fresh.current)
    fresh.object_price.value = fresh.object_price.value * 10
    after = fresh.current
    assert after["object_storage_usd"] == pytest.approx(10 * before["object_storage_usd"], rel=1e-6)
    assert after["monthly_cost_usd"] > before["monthly_cost_usd"]
    assert after["db_storage_usd"] == before["db_storage_usd"]
    assert after["push_p99_ms"] == before["push_p99_ms"]  # prices do not move latency
    put = fresh.current["requests_usd"]
    fresh.put_price.value = fresh.put_price.value * 4
    assert fresh.current["requests_usd"] > put


@pytest.mark.slow
def test_repriced_curve_matches_evaluate(fresh: BackendExplorer, sample: pd.DataFrame) -> None:
    fresh.db_price.value = 3.0
    fresh.put_price.value = 0.05
    cands = list(fresh.curve.attrs["candidates"].values())
    direct = evaluate(sample, cands, prices=fresh.prices(), rng=0)
    cols = ["monthly_cost_usd", "db_storage_usd", "object_storage_usd", "requests_usd"]
    np.testing.assert_allclose(fresh.curve[cols].to_numpy(float), direct[cols].to_numpy(float),
                               rtol=1e-9)


@pytest.mark.slow
def test_store_change_resets_object_prices(fresh: BackendExplorer) -> None:
    fresh.object_store.value = "azure"
    assert fresh.put_price.value == pytest.approx(0.0055)  # blob.put, bundled pricing.csv
    assert fresh.current["name"].startswith("tiered-azure@")
    assert fresh.recommendation is not None
    assert set(fresh.recommendation.table["object_store"]) <= {"", "azure"}


@pytest.mark.slow
def test_shorter_retention_shrinks_the_db(fresh: BackendExplorer) -> None:
    forever = fresh.current["peak_db_bytes"]
    fresh.retention.value = 30
    month = fresh.current["peak_db_bytes"]
    fresh.retention.value = 3
    assert fresh.current["peak_db_bytes"] < month < forever
    assert fresh.current["retention_days"] == 3 and fresh.current["db_storage_usd"] > 0


@pytest.mark.slow
def test_updates_are_fast_once_cached(fresh: BackendExplorer) -> None:
    fresh.threshold.value = 2**10
    fresh.threshold.value = 2**20
    assert fresh.last_update_s < 3.0  # ~0.3 s on an idle core; the machine is shared


@pytest.mark.slow
def test_deterministic(sample: pd.DataFrame, explorer: BackendExplorer) -> None:
    again = BackendExplorer(sample, cost_tolerance_usd=0.0)
    assert again.current == explorer.current
    assert again.recommendation_text == explorer.recommendation_text
    pd.testing.assert_frame_equal(again.curve, explorer.curve)


@pytest.mark.slow
def test_big_offenders_db_price_moves_recommendation_off_the_db(big: pd.DataFrame) -> None:
    e = BackendExplorer(big, cost_tolerance_usd=0.0)
    assert e.recommendation is not None
    text = e.recommendation_text
    db_usd = e.curve["db_storage_usd"].copy()
    obj_usd = e.curve["object_storage_usd"].copy()
    e.db_price.value = e.db_price.value * 100
    assert e.recommendation.best.kind in ("tiered", "object")
    assert e.recommendation_text != text
    np.testing.assert_allclose(e.curve["db_storage_usd"], db_usd * 100, rtol=1e-9)
    np.testing.assert_allclose(e.curve["object_storage_usd"], obj_usd, rtol=1e-12)
    # the extreme of the slider: object storage wins outright
    e.db_price.value = 10 ** e.db_price.max
    assert e.recommendation.best.kind == "object"
    # and the threshold's extreme changes the text too (the current choice is part of it)
    text = e.recommendation_text
    e.threshold.value = -1
    assert e.recommendation_text != text and "Your choice db+zstd" in e.recommendation_text


@pytest.mark.slow
def test_always_offload_leaves_only_reference_rows(big: pd.DataFrame) -> None:
    e = BackendExplorer(big, threshold=0, compression="none")
    c = e.current
    live = big[big["source_table"] == "xcom"]
    assert c["offloaded_share"] == pytest.approx(1 - live["internal"].mean(), abs=0.01)
    per_row = c["peak_db_bytes"] / (c["objects"] / c["offloaded_share"])
    assert REF_BYTES < per_row < REF_BYTES + 1024  # reference + row/index overhead, no values
    never = e.curve.loc["db"]
    assert never["peak_db_bytes"] > 2 * c["peak_db_bytes"]
    assert c["object_bytes"] > 0.5 * float(live["value_bytes"].sum())


def test_bad_input() -> None:
    frame = xcomlab.load_export(SAMPLE)
    with pytest.raises(ValueError, match="dialect='oracle'"):
        BackendExplorer(frame, dialect="oracle")
    with pytest.raises(ValueError, match="threshold=123"):
        BackendExplorer(frame, threshold=123)
    with pytest.raises(XcomlabError, match="expected the XCom frame"):
        BackendExplorer([1, 2, 3])  # type: ignore[arg-type]


def test_trade_off_plots(explorer: BackendExplorer) -> None:
    assert explorer.recommendation is not None
    fig = Figure()
    ax = plots.pareto(explorer.recommendation.table, best=explorer.recommendation.best.name,
                      ax=fig.subplots())
    front = int(explorer.recommendation.table["pareto"].sum())
    assert len(ax.lines[0].get_xdata()) == front
    table = pd.DataFrame({"query": ["a"] * 3 + ["b"] * 3, "n": [10**3, 10**4, 10**5] * 2,
                          "median_s": [1e-5, 1.1e-5, 1.2e-5, 1e-5, 1e-4, 1e-3]})
    fits = pd.DataFrame({"model": ["log n", "n"], "a": [1e-6, 1e-8], "b": [3e-6, 0.0]},
                        index=["a", "b"])
    ax = plots.complexity(table, fits, ax=Figure().subplots())
    assert len(ax.lines) == 4 and ax.get_xscale() == "log"
