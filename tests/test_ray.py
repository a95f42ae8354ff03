"""Two Ray Serve replicas of the tiny model: both serve, edits too, Stop reaches the replica, a full queue says
"busy", and killing a replica mid-load loses no request. Runs tests/ray_scenario.py in a loopback-only network
namespace."""

from __future__ import annotations

import importlib.util
import json

import pytest

from devtools.netns import can_isolate, run_isolated

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed: pip install -r requirements-ray.txt")
    reason = can_isolate()
    if reason:
        pytest.skip(f"{reason} (local Ray runs need a loopback-only network namespace)")
    out = tmp_path_factory.mktemp("ray") / "report.json"
    done = run_isolated(["-m", "tests.ray_scenario", str(out)], timeout=540,
                        env={"ZIMAGE_CACHE_DIR": str(out.parent / "cache"), "HF_HUB_OFFLINE": "1"})
    assert out.exists(), f"the scenario wrote nothing (exit {done.returncode}):\n{done.stderr[-3000:]}"
    data = json.loads(out.read_text())
    assert done.returncode == 0, f"scenario failed after {list(data)}:\n{done.stderr[-3000:]}"
    return data


def test_concurrent_requests_are_served_by_both_replicas(report):
    results = report["concurrent"]
    assert [r["kind"] for r in results] == ["ok"] * 6
    assert [r["seed"] for r in results] == list(range(10, 16))
    assert all(r["size"] == [256, 256] for r in results)
    assert len({r["replica"] for r in results}) == 2, results


def test_a_replica_makes_the_same_pixels_as_this_process(report):
    assert report["max_pixel_diff_vs_local"] <= 1


def test_an_edit_runs_on_a_replica_like_in_this_process(report):
    edit = report["edit"]
    assert edit["replica"] and edit["steps"] >= 1 and len(edit["mask_sha256"]) == 64
    assert edit["max_pixel_diff_vs_local"] <= 1 and edit["max_diff_outside_mask"] == 0


def test_a_full_serve_queue_answers_busy_and_nothing_else(report):
    kinds = [r["kind"] for r in report["busy"]]
    assert set(kinds) <= {"ok", "busy"}, report["busy"]
    # Serve counts a request as queued until a replica takes it, so a burst always gets its 6 queue places.
    assert kinds.count("busy") >= 1 and kinds.count("ok") >= 6
    message = next(r["message"] for r in report["busy"] if r["kind"] == "busy")
    assert message == "The server is busy. Please try again in a moment."


def test_stop_cancels_the_run_on_its_replica(report):
    stop = report["stop"]
    assert stop["result"] == "cancelled"
    assert stop["last_step"] < 10 and stop["seconds_after_stop"] < 5  # set at step 2 of 50: it ends within a few steps
    assert stop["next"] == "ok"


def test_killing_a_replica_mid_load_loses_no_request(report):
    kill = report["kill"]
    assert [r["kind"] for r in kill["results"]] == ["ok"] * 6, kill["results"]
    assert [r["seed"] for r in kill["results"]] == list(range(100, 106))
    assert report["retries"] >= 1  # the kill hit a request in flight, which was retried on the other replica
    assert f"pid {kill['victim']}" not in report["replacement"]
    assert report["replacement"], "Serve did not replace the dead replica within 120 s"
