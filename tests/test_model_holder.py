"""The model holder on stand-in builds: what the status line says, and what a failed load tells the user."""

from __future__ import annotations

import pytest

from zimage.errors import ModelLoadError, ValidationError
from zimage.model_holder import ModelHolder
from zimage.model_info import ModelInfo
from zimage.model_loader import LoadedModel

READY = LoadedModel(pipe=None, facts=ModelInfo("stand-in", "r1"))


def failing_once(error: Exception):
    """A build that raises `error` on its first call and succeeds after."""
    calls: list[int] = []

    def build(report_stage) -> LoadedModel:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return READY

    return build


def test_status_goes_from_loading_to_ready_with_the_model_facts():
    holder = ModelHolder(lambda report_stage: READY, expects_tiny=True)
    assert holder.status().state == "loading" and holder.status().is_tiny
    assert holder.load() is READY and holder.loaded is READY
    assert holder.status().state == "ready" and holder.status().info == READY.info


def test_a_failure_is_shown_then_retried_and_forgotten():
    holder = ModelHolder(failing_once(RuntimeError("disk unplugged")), expects_tiny=False)
    with pytest.raises(ModelLoadError, match="retried on the next request") as caught:
        holder.load()
    assert caught.value.code == "model_load"
    assert holder.status().state == "failed" and holder.status().error == "RuntimeError: disk unplugged"
    assert holder.load() is READY and holder.status().error == ""


def test_a_one_shot_run_promises_no_retry_and_keeps_a_clear_reason_as_is():
    holder = ModelHolder(failing_once(ValidationError("No such folder.", code="bad_setting")), expects_tiny=False,
                         retry_hint=False)
    with pytest.raises(ModelLoadError) as caught:
        holder.load()
    assert caught.value.code == "model_load_once" and "retried" not in str(caught.value)
    assert holder.status().error == "No such folder"


def test_a_retry_shows_its_progress_instead_of_the_last_failure():
    seen = []

    def build(report_stage) -> LoadedModel:
        if not seen:
            seen.append("failed")
            raise RuntimeError("network blip")
        report_stage("download")
        seen.append(holder.status())
        return READY

    holder = ModelHolder(build, expects_tiny=False)
    with pytest.raises(ModelLoadError):
        holder.load()
    assert holder.status().state == "failed"
    holder.load()
    assert (seen[1].state, seen[1].stage, seen[1].error) == ("loading", "download", "")
