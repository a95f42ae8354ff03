"""What an operator sets for Ray Serve replicas turns into the deployment they expect; bad counts are one clear
error. No Ray needed: these are the options handed to `serve.deployment`."""

from __future__ import annotations

import pytest

from zimage.config import ReplicaSettings
from zimage.errors import ValidationError
from zimage.replicas import deployment_options


def test_a_fixed_count_on_a_gpu_cluster_takes_one_gpu_per_replica(monkeypatch):
    monkeypatch.setenv("ZIMAGE_QUEUE_SIZE", "7")
    options = deployment_options(ReplicaSettings.from_env(replicas=4), cluster_gpus=8)
    assert options["num_replicas"] == 4 and "autoscaling_config" not in options
    assert options["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert options["max_ongoing_requests"] == 1 and options["max_queued_requests"] == 7


def test_cpu_clusters_get_cpu_replicas_and_bounds_autoscale(monkeypatch):
    monkeypatch.setenv("ZIMAGE_RAY_MAX_QUEUED", "50")
    replicas = ReplicaSettings.from_env(min_replicas=1, max_replicas=6)
    options = deployment_options(replicas, cluster_gpus=0)
    assert options["ray_actor_options"]["num_gpus"] == 0.0 and "num_replicas" not in options
    scaling = options["autoscaling_config"]
    assert (scaling["min_replicas"], scaling["max_replicas"], scaling["target_ongoing_requests"]) == (1, 6, 1.0)
    assert replicas.capacity == 6 * 1 + 50  # what the app lets through to Serve before Serve says "busy"


def test_address_and_per_replica_resources_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    monkeypatch.setenv("ZIMAGE_RAY_GPUS_PER_REPLICA", "0.5")
    replicas = ReplicaSettings.from_env(replicas=2)
    assert replicas.ray_address == "ray://head:10001"
    assert deployment_options(replicas, cluster_gpus=0)["ray_actor_options"]["num_gpus"] == 0.5


@pytest.mark.parametrize("counts", [dict(replicas=0), dict(min_replicas=3, max_replicas=2), dict(min_replicas=-1)])
def test_impossible_counts_are_one_clear_error(counts):
    with pytest.raises(ValidationError, match="Replicas need 1 <= min") as caught:
        ReplicaSettings.from_env(**counts)
    assert caught.value.code == "bad_replicas"
