"""A full queue and a rate limit end in clear busy messages, and the app keeps serving everyone else.

Each simulated user gets its own client IP through X-Forwarded-For, which the server trusts from 127.0.0.1 only.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from devtools.apphost import running_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.utils import QueueError  # noqa: E402 - raised when the server answers 503 (queue full)

QUEUE_SIZE = 2
SMALL = ("queue", 256, 256, 1, 1, 2, 3.0)


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("queue")
    with running_app(tmp, ZIMAGE_QUEUE_SIZE=str(QUEUE_SIZE), ZIMAGE_RATE_LIMIT="2/60",
                     GRADIO_TEMP_DIR=str(tmp / "gradio")) as app_url:
        user(app_url, "10.9.9.9").predict(*SMALL, api_name="/generate")  # the model is loaded before timing
        yield app_url


def user(url: str, ip: str):
    return gradio_client.Client(url, verbose=False, download_files=False, headers={"X-Forwarded-For": ip})


def outcome(client, seed: int) -> str:
    try:
        gallery, info = client.submit("queue", 512, 512, seed, 1, 6, 3.0, api_name="/generate").result(timeout=300)
    except QueueError as error:  # the queue refused it: HTTP 503, not a 500
        assert re.search(r"queue is full.*try again", str(error), re.IGNORECASE), error
        return "busy"
    assert info["seeds"] == [seed] and len(gallery) == 1
    return "ok"


def test_full_queue_gives_a_clear_busy_message_and_loses_nothing(url):
    clients = [user(url, f"10.1.0.{i}") for i in range(8)]
    with ThreadPoolExecutor(len(clients)) as pool:
        results = list(pool.map(outcome, clients, range(len(clients))))
    # At least QUEUE_SIZE get in and finish (plus the one running, if it started before the burst); the rest
    # hear "busy" at once.
    assert results.count("ok") >= QUEUE_SIZE
    assert results.count("busy") >= 1
    assert results.count("ok") + results.count("busy") == len(clients)
    _, info = clients[-1].predict(*SMALL, api_name="/generate")
    assert info["seeds"] == [1]


def test_rate_limit_stops_the_third_call_and_not_the_others(url):
    flooder = user(url, "10.2.0.1")
    for _ in range(2):
        flooder.predict(*SMALL, api_name="/generate")
    with pytest.raises(gradio_client.exceptions.AppError,
                       match=r"Too many requests: at most 2 runs per 60 seconds\. Try again in \d+ s\.") as caught:
        flooder.predict(*SMALL, api_name="/generate")
    assert "Traceback" not in str(caught.value)
    _, info = user(url, "10.2.0.2").predict(*SMALL, api_name="/generate")
    assert info["seeds"] == [1]
