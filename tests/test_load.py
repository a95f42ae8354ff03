"""A small run of bench.load: 8 concurrent API users x 3 requests, and not one request may be lost."""

from __future__ import annotations

import json

import pytest

from bench import load as bench
from devtools.apphost import running_app

pytest.importorskip("gradio_client")


def test_eight_users_three_requests_each_lose_nothing(tmp_path):
    with running_app(tmp_path) as url:
        code = bench.main(["--users", "8", "--requests", "3", "--url", url, "--out", str(tmp_path / "out"),
                           "--timeout", "300"])
    summary = json.loads((tmp_path / "out" / "load.json").read_text())
    assert summary["lost"] == 0 and summary["error"] == 0, summary["failures"]
    assert summary["ok"] + summary["busy"] == summary["total"] == 24
    assert summary["ok"] == 24  # the default queue (20) holds all 8 users: nobody should even be told "busy"
    assert code == 0 and "PASS" in (tmp_path / "out" / "load.md").read_text()


def test_a_lost_request_fails_the_run():
    args = bench.parse_args(["--users", "1", "--requests", "2"])
    outcomes = [bench.Outcome(0, 0, "ok", 1.0), bench.Outcome(0, 1, "lost", 600.0, "no answer")]
    summary = bench.summarize(outcomes, 10.0, args, "http://x")
    assert not summary["passed"] and summary["lost"] == 1
    assert bench.classify_error(RuntimeError("Queue is full! Please try again.")) == "busy"
    assert bench.classify_error(RuntimeError("Unexpected error (OSError).")) == "error"
