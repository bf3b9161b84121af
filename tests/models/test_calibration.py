"""The committed latency calibration: its data, the defaults fitted on it, held-out error, a live rerun."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import xcomlab.measure as xm
from xcomlab.errors import SchemaMismatchError
from xcomlab.models.calibration import (
    CALIBRATION_COLUMNS,
    DEFAULT_CALIBRATION,
    DEFAULT_INTERPOLATION,
    NETWORKED,
    CalibrationData,
    default_codecs,
    default_params,
    load_default_calibration,
)
from xcomlab.models.latency import DEFAULT_PARAMS, LatencyModel
from xcomlab.models.latency_params import DOCUMENTED_PARAMS, ApiHop
from xcomlab.models.validation import fit_calibrated, held_out_errors, leave_one_size_out

#: Backends that run on this machine (cloud object stores cannot be measured here).
LOCAL = {"sqlite", "postgresql", "mysql", "file", "memory", "s3local"}
#: Goal of issue 14 item 5: held-out p50 within ±20 % for every local backend, 100 B – 64 MB.
GOAL = 0.20


@pytest.fixture(scope="module")
def committed() -> CalibrationData:
    return load_default_calibration()


@pytest.fixture(scope="module")
def errors(committed: CalibrationData) -> pd.DataFrame:
    return held_out_errors(committed)


def test_the_committed_data_says_when_where_and_what(committed: CalibrationData) -> None:
    assert DEFAULT_CALIBRATION.is_file()
    for key in ("date", "machine", "versions", "load", "repeats", "stand-in"):
        assert committed.meta.get(key), key
    assert "/proc/cpuinfo" not in committed.meta["machine"] and "×" in committed.meta["machine"]
    f = committed.frame
    assert list(f.columns) == CALIBRATION_COLUMNS
    assert set(f["backend"]) == LOCAL
    assert set(f["kind"]) == set(xm.KINDS) and set(f["op"]) == {"set", "get"}
    assert f["size"].min() == 100 and f["size"].max() == 64_000_000
    fit, held = committed.split()
    assert len(fit) and len(held) and not set(fit.index) & set(held.index)
    assert (fit["repeat"] % 2 == 1).all() and (held["repeat"] % 2 == 0).all()
    # every (store, kind, op, size) has repeats on both sides of the split
    keys = ["store", "kind", "op", "size"]
    assert fit.groupby(keys).ngroups == held.groupby(keys).ngroups == f.groupby(keys).ngroups


def test_defaults_are_fitted_on_the_committed_data_and_the_cloud_stays_documented() -> None:
    fitted = default_params()
    assert dict(DEFAULT_PARAMS) == fitted
    for name in LOCAL:
        assert "fitted on the committed calibration [L]" in DEFAULT_PARAMS[name].source, name
        assert DEFAULT_PARAMS[name] != DOCUMENTED_PARAMS[name]
    for name in ("s3", "gcs", "azure", "s3express"):
        assert DEFAULT_PARAMS[name] == DOCUMENTED_PARAMS[name]
    for name in NETWORKED:  # measured server side + the documented network a loopback cannot show
        p = DEFAULT_PARAMS[name]
        assert p.rtt_s == DOCUMENTED_PARAMS[name].rtt_s > 0
        assert p.transfer_s_per_byte == DOCUMENTED_PARAMS[name].transfer_s_per_byte
    # the codec speeds are this machine's, not the documented ones
    assert default_codecs().serialize_s_per_byte != DOCUMENTED_CODEC_SERIALIZE
    assert LatencyModel().fit().codecs_ == default_codecs()


DOCUMENTED_CODEC_SERIALIZE = 1 / 0.49e9


def test_held_out_p50_is_mostly_within_the_goal_and_never_wild(errors: pd.DataFrame) -> None:
    """The model fitted on odd repeats against the even repeats' medians (store step): the
    typical cell of every local backend is within ±20 %, most cells are, none is off by 2×."""
    assert set(errors.index.get_level_values("backend")) == LOCAL
    assert {100, 64_000_000} <= set(errors.index.get_level_values("size"))
    step = errors["step_error"].abs()
    assert (step.groupby(level="backend").median() <= GOAL).all(), step.groupby(level="backend").median()
    assert (step <= GOAL).mean() >= 0.8
    assert (step < 1.0).all(), errors.loc[step >= 1.0, ["step_measured_ms", "step_predicted_ms"]]
    # the whole operation adds the codec phases: wider, still never off by more than 2×
    assert (errors["error"].abs() < 1.0).all()


@pytest.mark.xfail(strict=True, reason=(
    "issue 14 item 5 goal met for sqlite, s3local, memory and mysql on the committed idle-machine run, "
    "not for postgresql (22 %, at its noise floor of 24 %) and file (40 %: 8/64 MB page-cache writes "
    "whose halves differ by 37-44 %); 187 of 196 cells within ±20 %. A second idle run measuring the file "
    "stores 2-3x as often did not close it (file 64 MB reads take one of two speeds, 17/19 of 36: noise floor "
    "43 %); see docs/latency.md#calibration. Strict: remove this marker once the data meets it."))
def test_held_out_p50_within_the_goal_for_every_local_backend(errors: pd.DataFrame) -> None:
    """Goal of issue 14 item 5: held-out p50 within ±20 % for every local backend, 100 B – 64 MB."""
    bad = errors[errors["step_error"].abs() > GOAL]
    assert bad.empty, bad[["step_measured_ms", "step_predicted_ms", "step_error"]].to_string()


@pytest.mark.slow
def test_the_model_predicts_a_grid_size_left_out_of_its_fit(committed: CalibrationData) -> None:
    """Each interior grid size (1 KB … 8 MB) left out of the fit, predicted from the others:
    not a lookup table of the grid — the typical cell stays within the goal, most cells do,
    and a missing decade (its knee unused) costs at most 5× (docs/latency.md#calibration)."""
    loso = leave_one_size_out(committed)
    assert set(loso.index.get_level_values("size")) == {1_000, 10_000, 100_000, 1_000_000, 8_000_000}
    step = loso["step_error"].abs()
    assert step.median() <= GOAL
    assert (step <= GOAL).mean() >= 0.7
    assert (step < 4.0).all(), loso.loc[step >= 4.0, ["step_measured_ms", "step_predicted_ms"]]


def test_held_out_table_matches_the_docs(errors: pd.DataFrame) -> None:
    """docs/latency.md carries the table this data gives (regenerate both together)."""
    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "latency.md").read_text(encoding="utf-8")
    worst = errors["step_error"].abs().groupby(level="backend").max()
    for backend, err in worst.items():
        assert f"| {backend} | {err:.0%} |" in doc, (backend, f"{err:.0%}")


def test_load_refuses_a_file_without_the_columns(tmp_path: Path) -> None:
    bad = tmp_path / "cal.csv"
    bad.write_text("# date: 2026-01-01\nstore,op\nsqlite,set\n", encoding="utf-8")
    with pytest.raises(SchemaMismatchError, match=r"cal\.csv.*lacks columns"):
        load_default_calibration(bad)


def _live_shape(model: LatencyModel, tmp_path: Path, sizes: tuple[int, ...]) -> tuple[float, pd.Series]:
    """(speed factor, per-(store, op, size) deviation around it) of one live rerun."""
    tmp_path.mkdir()
    os.sync()  # earlier tests' dirty pages would otherwise slow every commit's fsync for a while
    live = xm.run(xm.default_stores(tmp_path), sizes=sizes, repeats=9, rng=3)
    med = live.groupby(["store", "op", "size"])["total_s"].median()
    ratio = (live[(live["tier"] == "object") & (live["op"] == "set")]
             .assign(r=lambda d: d["bytes_stored"] / d["bytes_in"]).groupby("size")["r"].median())
    rel = {}
    for (store, op, size), measured in med.items():
        obj = store == "sqlite+file"
        pred = model.predict("push" if op == "set" else "pull", "file" if obj else "sqlite", [size],
                             airflow3=False, compression="zstd" if obj else None,
                             compression_ratio=float(ratio[size]) if obj else None)[0]
        rel[(store, op, size)] = pred / measured
    pm = pd.Series(rel)
    assert len(pm) == 2 * 2 * len(sizes) and np.isfinite(pm).all()
    speed = float(pm.median())  # this machine, now, against the committed one
    return speed, pm / speed - 1


@pytest.mark.slow
def test_committed_model_predicts_a_live_rerun(committed: CalibrationData, tmp_path: Path) -> None:
    """Rerun a small measurement (SQLite inline and SQLite + file objects, 3 sizes) on this
    machine now. Machines and their load differ, by a factor common to every operation: that
    factor is allowed within 4× either way (this VM's host ran every operation 3.1–3.2×
    slower than at the committed run on 7 Dec 2026 16:31–16:36 UTC, a JSON serialize of 1 MB
    38 ms against 13 ms, with nothing else running); around it, each (store, op, size) median is within
    ±50 % of the committed model — the shape across sizes and ops holds. A commit's fsync on
    a disk shared with other jobs swings 0.7 → 7 ms for seconds to minutes at a time, so up to
    five reruns, a few seconds apart, are tried and the best one counts."""
    fit, _ = committed.split()
    model = fit_calibrated(fit, "records")
    tries = []
    for attempt in range(5):
        if attempt:
            time.sleep(3)
        speed, shape = _live_shape(model, tmp_path / str(attempt), (1_000, 100_000, 1_000_000))
        tries.append((float(shape.abs().max()), speed, shape))
        if 1 / 4 <= speed <= 4 and tries[-1][0] <= 0.5:
            break
    worst, speed, shape = min(tries, key=lambda t: t[0])
    assert 1 / 4 <= speed <= 4, speed
    assert worst <= 0.5, f"speed factor {speed:.2f}\n{shape.round(2).to_string()}"


def test_fit_recovers_the_knees_and_the_median_fixed_time() -> None:
    """Synthetic store steps whose per-byte cost falls beyond 100 KB and rises beyond 8 MB."""
    from xcomlab.models.latency_params import KNEES_BYTES

    rng = np.random.default_rng(5)
    sizes = np.repeat([100, 10_000, 100_000, 1_000_000, 8_000_000, 64_000_000], 40).astype(float)
    fixed = 0.002 * np.exp(0.3 * rng.standard_normal(len(sizes)))  # median 2 ms
    step = (fixed + 40e-9 * sizes - 20e-9 * np.maximum(sizes - KNEES_BYTES[0], 0)
            + 10e-9 * np.maximum(sizes - KNEES_BYTES[2], 0))
    frame = pd.DataFrame({"op": "set", "tier": "db", "backend": "sqlite", "bytes_in": sizes,
                          "bytes_stored": sizes, "db_s": step, "total_s": step})
    m = LatencyModel().fit(frame)
    p = m.params_["sqlite"]
    assert p.fixed_s("push") == pytest.approx(0.002, rel=0.1)
    assert p.write_s_per_byte == pytest.approx(40e-9, rel=0.1)
    assert p.push_bends_s_per_byte == pytest.approx((-20e-9, 0.0, 10e-9), abs=1e-9)
    got = m.predict("push", "sqlite", [100, 500_000, 64_000_000], airflow3=False)
    assert got == pytest.approx([0.002, 0.002 + 0.004 + 0.008, 0.002 + 0.004 + 1.278 + 0.56], rel=0.1)
    # between the measured sizes the step is linear within its regime, never a lookup
    mid = m.predict("push", "sqlite", [3_000_000], airflow3=False)[0]
    assert mid == pytest.approx(0.002 + 0.004 + 20e-9 * 2_900_000, rel=0.1)
    # without sizes beyond the last knee there is no bend there
    small = frame[frame["bytes_in"] <= KNEES_BYTES[2]]
    assert LatencyModel().fit(small).params_["sqlite"].push_bends_s_per_byte[2] == 0.0
    # only small sizes: one line
    tiny = frame[frame["bytes_in"] <= 10_000]
    assert not any(LatencyModel().fit(tiny).params_["sqlite"].push_bends_s_per_byte)


def test_the_calibrate_script_reports_and_rewrites_only_between_markers(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import calibrate

    assert calibrate.main(["--report-only", str(DEFAULT_CALIBRATION)]) == 0
    out = capsys.readouterr().out
    assert "**Store step**" in out and "**Noise floor**" in out and "| sqlite |" in out
    page = tmp_path / "page.md"
    page.write_text("before\n<!-- calibration-table:start -->\nold\n<!-- calibration-table:end -->\nafter\n",
                    encoding="utf-8")
    calibrate.replace_between_markers(page, "new table")
    assert page.read_text(encoding="utf-8") == (
        "before\n<!-- calibration-table:start -->\nnew table\n<!-- calibration-table:end -->\nafter\n")
    assert calibrate.plan_repeats((100, 1_000_000, 8_000_000, 64_000_000), 12) == {
        100: 48, 1_000_000: 36, 8_000_000: 24, 64_000_000: 12}


def test_the_model_predicts_sizes_between_the_grid_points(committed: CalibrationData) -> None:
    """Sizes never fitted (30 KB, 300 KB, 3 MB, 24 MB, measured after the grid in the same run):
    the typical cell within the goal, most cells within it, none off by 2× or more — the
    regimes interpolate (docs/latency.md#calibration)."""
    between = load_default_calibration(DEFAULT_INTERPOLATION)
    assert sorted(int(s) for s in between.frame["size"].unique()) == [30_000, 300_000, 3_000_000, 24_000_000]
    assert between.meta.get("date") == committed.meta.get("date")  # measured in the same run
    errors = held_out_errors(committed, against=between)
    step = errors["step_error"].abs()
    assert step.median() <= GOAL
    assert (step <= GOAL).mean() >= 0.75
    assert (step < 1.0).all(), errors.loc[step >= 1.0, ["step_measured_ms", "step_predicted_ms"]]


def _file_frame(rng: np.random.Generator) -> pd.DataFrame:
    """Offloaded sets on one disk: plain and encrypted values, the same per-byte cost, the
    encrypted ones 0.3 ms slower per write (as sqlite+file and sqlite+file+fernet measure)."""
    sizes = np.repeat([100, 1_000, 10_000, 100_000, 1_000_000, 8_000_000], 30).astype(float)
    parts = []
    for chain, extra in (("json+zstd", 0.0), ("json+zstd+fernet", 0.3e-3)):
        noise = np.exp(0.1 * rng.standard_normal(len(sizes)))
        obj = (0.4e-3 + extra) * noise + 2e-9 * sizes
        parts.append(pd.DataFrame({"op": "set", "tier": "object", "backend": "file", "codec": chain,
                                   "bytes_in": sizes, "bytes_stored": sizes, "serialize_s": 0.0,
                                   "compress_s": 0.0, "encrypt_s": 0.0, "object_s": obj, "db_s": 0.0,
                                   "total_s": obj}))
    return pd.concat(parts, ignore_index=True)


def test_encrypted_values_get_a_store_step_of_their_own() -> None:
    """Where plain and encrypted values were measured on one backend, the encrypted ones keep
    their own fixed part (the per-byte line is the disk's, shared) and predict(encrypted=True)
    uses it; a backend measured one way only has one step (docs/latency.md#calibration)."""
    frame = _file_frame(np.random.default_rng(11))
    m = LatencyModel(metadata="sqlite").fit(frame)
    p = m.params_["file"]
    assert p.encrypted_step is not None
    assert p.fixed_s("push") == pytest.approx(0.4e-3, rel=0.05)
    assert p.encrypted_step.fixed_s("push") == pytest.approx(0.7e-3, rel=0.05)
    assert p.encrypted_step.bytes_s("push", np.array([5e6])) == pytest.approx(p.bytes_s("push", np.array([5e6])))
    assert {("push", "file"), ("push", "file+fernet")} <= set(m.fits_.index)
    plain = m.predict("push", "file", [100], airflow3=False)[0]
    sealed = m.predict("push", "file", [100], airflow3=False, encrypted=True)[0]
    free = LatencyModel(m.params_, metadata="sqlite", codecs=replace(m.codecs_, encrypt_call_s=0.0)).fit()
    assert (free.predict("push", "file", [100], airflow3=False, encrypted=True)[0]
            - free.predict("push", "file", [100], airflow3=False)[0]) == pytest.approx(0.3e-3, rel=0.1)
    assert sealed > plain
    # measured one way only: one step, as before
    one = LatencyModel(metadata="sqlite").fit(frame[frame["codec"] == "json+zstd+fernet"])
    assert one.params_["file"].encrypted_step is None
    assert one.params_["file"].fixed_s("push") == pytest.approx(0.7e-3, rel=0.05)


def test_a_db_read_keeps_its_driver_parse_and_the_client_only_walks() -> None:
    """A DB-tier read: the driver parses inside db_s (here 1 ns/B, a single string), the
    client's serialize_s is only the walk after it (0.1 ns/B); object-tier reads parse at
    4 ns/B. The fitted model books the DB read as measured, not the object tier's parse; on
    Airflow 3 the hop adds its own JSON round (ApiHop), not a second driver parse."""
    sizes = np.repeat([100, 10_000, 100_000, 1_000_000, 8_000_000], 20).astype(float)
    db = pd.DataFrame({"op": "get", "tier": "db", "backend": "sqlite", "codec": "json",
                       "bytes_in": sizes, "bytes_stored": sizes, "serialize_s": 0.1e-9 * sizes,
                       "compress_s": 0.0, "encrypt_s": 0.0, "db_s": 0.2e-3 + 1.5e-9 * sizes, "object_s": np.nan})
    obj = db.assign(tier="object", backend="file", codec="json", serialize_s=4e-9 * sizes,
                    db_s=0.2e-3, object_s=0.1e-3 + 0.5e-9 * sizes)
    frame = pd.concat([db, obj], ignore_index=True)
    frame["total_s"] = frame[["serialize_s", "db_s", "object_s"]].fillna(0).sum(axis=1)
    m = LatencyModel(metadata="sqlite").fit(frame)
    assert m.codecs_.deserialize_s_per_byte == pytest.approx(4e-9, rel=0.01)
    assert m.codecs_.db_deserialize_s_per_byte == pytest.approx(0.1e-9, rel=0.01)
    got = m.predict("pull", "sqlite", [1e6, 8e6], airflow3=False)
    assert got == pytest.approx(0.2e-3 + 1.6e-9 * np.array([1e6, 8e6]), rel=0.03)
    hop = m.predict("pull", "sqlite", [8e6], airflow3=True)[0] - m.predict("pull", "sqlite", [8e6], airflow3=False)[0]
    assert hop == pytest.approx(ApiHop().per_byte_s * 8e6, rel=0.03)


def test_the_random_text_sqlite_read_is_within_the_goal(errors: pd.DataFrame) -> None:
    """The cell the object tier's parse used to spoil (+31 %): a 1 MB string read from SQLite."""
    cell = errors.loc[("sqlite", "sqlite", "random", "get", "json", 1_000_000)]
    assert abs(cell["step_error"]) <= GOAL and abs(cell["error"]) <= GOAL
