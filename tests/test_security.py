"""Files and users stay apart: only the app's outputs and Gradio's cache are served, and users cannot reach each
other's runs. Everything runs against a launched app with raw HTTP, so no client library hides a bad answer."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
import uuid
from pathlib import Path

import pytest

from zimage.metadata import read_request
from zimage.tiny import ensure_tiny_model

from devtools.apphost import ROOT, running_app

gradio_client = pytest.importorskip("gradio_client")
from gradio_client.utils import Status  # noqa: E402

OUTPUT_MAX_MB = 0.5  # about three 256x256 PNGs from the tiny model
CANARY = f"ZIMAGE-CANARY-{uuid.uuid4().hex}"


class App:
    """The launched app, the folders it uses, a secret file outside them, and one image it generated."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url, self.tmp = url, tmp
        self.port = urllib.parse.urlsplit(url).port
        self.outputs, self.gradio_tmp, self.secret = tmp / "outputs", tmp / "gradio", tmp / "secret.txt"
        client = gradio_client.Client(url, verbose=False, download_files=False)
        gallery, _ = client.predict("security", 256, 256, 7, 1, 2, 3.0, api_name="/generate")
        self.image_url = gallery[0]["image"]["url"]
        self.image_path = gallery[0]["image"]["path"]

    def get(self, path: str, method: str = "GET") -> tuple[int, bytes]:
        """Send `path` byte for byte (no client-side normalisation of `..` or %-escapes)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("security")
    (tmp / "secret.txt").write_text(CANARY)
    with running_app(tmp, ZIMAGE_OUTPUT_MAX_MB=str(OUTPUT_MAX_MB), GRADIO_TEMP_DIR=str(tmp / "gradio")) as url:
        yield App(url, tmp)


def test_generated_images_are_served(app):
    # Without this the refusals below could pass against an app that serves nothing at all.
    status, body = app.get(urllib.parse.urlsplit(app.image_url).path)
    assert status == 200 and body.startswith(b"\x89PNG")
    assert Path(app.image_path).parent == app.outputs  # served from the app's own output folder, not a copy


def attack_paths(app: App) -> list[str]:
    secret, outputs, image, cache = str(app.secret), str(app.outputs), app.image_path, str(app.gradio_tmp)
    tiny = ensure_tiny_model() / "model_index.json"
    return [
        # absolute paths outside the allowed folders
        f"/gradio_api/file={secret}", f"/file={secret}", f"/gradio_api/file=/{secret}", f"/gradio_api/file=//{secret}",
        "/gradio_api/file=/etc/passwd", "/file=/etc/passwd", "/gradio_api/file=%2Fetc%2Fpasswd",
        f"/gradio_api/file={ROOT}/app.py", "/gradio_api/file=app.py", "/gradio_api/file=./app.py",
        f"/gradio_api/file={tiny}", f"/gradio_api/file={Path.home()}/.ssh/id_rsa", "/gradio_api/file=~/.ssh/id_rsa",
        "/gradio_api/file=file:///etc/passwd", f"/gradio_api/file={outputs}",
        # climbing out of the output folder, of a served image and of Gradio's cache, in every spelling
        f"/gradio_api/file={outputs}/../secret.txt", f"/file={outputs}/../secret.txt",
        f"/gradio_api/file={outputs}/..%2fsecret.txt", f"/gradio_api/file={outputs}/%2e%2e%2fsecret.txt",
        f"/gradio_api/file={outputs}/%2e%2e/secret.txt", f"/gradio_api/file={outputs}/%252e%252e%252fsecret.txt",
        f"/gradio_api/file={outputs}/..%252fsecret.txt", f"/gradio_api/file={outputs}/..\\secret.txt",
        f"/gradio_api/file={outputs}/..%5csecret.txt", f"/gradio_api/file={outputs}/....//secret.txt",
        f"/gradio_api/file={outputs}/..;/secret.txt", f"/gradio_api/file={outputs.upper()}/../secret.txt",
        f"/gradio_api/file={image}/../../secret.txt", f"/gradio_api/file={image}/..%2f..%2fsecret.txt",
        f"/gradio_api/file={image}%00/../../secret.txt", f"/gradio_api/file={image}%00.txt",
        f"/gradio_api/file={secret}%00.png", f"/gradio_api/file={cache}/../secret.txt",
        f"/GRADIO_API/FILE={secret}", f"/gradio_api/FILE={secret}", f"/Gradio_Api/file={outputs}/../secret.txt",
        # Gradio's other file-serving routes
        "/static/../../../../../etc/passwd", "/static/..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "/assets/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd", "/svelte/..%2f..%2f..%2fapp.py",
        f"/gradio_api/file/{secret}", "/gradio_api/file/..%2f..%2f..%2fetc%2fpasswd",
        # server-side fetches of local addresses (SSRF)
        f"/gradio_api/file=http://127.0.0.1:{app.port}/config", "/gradio_api/proxy=http://127.0.0.1:22/",
    ]


def test_no_other_path_is_readable_through_the_file_routes(app):
    markers = (CANARY.encode(), b"root:", b"def create_demo", b"_class_name", b"PRIVATE KEY")
    failures = []
    for path in attack_paths(app):
        status, body = app.get(path)
        if not 400 <= status < 500 or any(marker in body for marker in markers):
            failures.append(f"{status} {path}: {body[:80]!r}")
    assert not failures, "\n".join(failures)


def test_upload_keeps_only_the_file_name_and_refuses_huge_files(app):
    def upload(name: str, size: int) -> tuple[int, bytes]:
        boundary = uuid.uuid4().hex
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                "Content-Type: image/png\r\n\r\n")
        body = head.encode() + b"\x89PNG" + b"0" * size + f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=60)
        try:
            try:
                connection.request("POST", "/gradio_api/upload", body, headers)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may answer (413) and stop reading before the whole body is sent
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    status, body = upload("../../../escape.png", 100)
    assert status == 200
    stored = Path(json.loads(body)[0])
    assert stored.name == "escape.png" and stored.resolve().is_relative_to(app.gradio_tmp.resolve())
    status, _ = upload("big.png", 65 * 2**20)  # over max_file_size (64 MB: images to edit)
    assert status == 413


def wait_until_running(job, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while job.status().code not in (Status.PROCESSING, Status.PROGRESS):
        assert not job.done() and time.monotonic() < deadline, f"job never seen running: {job.status()}"
        time.sleep(0.02)


def test_a_cancel_and_results_stay_with_their_own_user(app, tmp_path):
    a = gradio_client.Client(app.url, verbose=False, download_files=False)
    b = gradio_client.Client(app.url, verbose=False, download_files=str(tmp_path))
    job_a = a.submit("user A", 512, 512, 100, 1, 9, 3.0, api_name="/generate")
    wait_until_running(job_a)
    job_b = b.submit("user B", 256, 256, 200, 1, 2, 3.0, api_name="/generate")
    job_a.cancel()
    gallery, info = job_b.result(timeout=300)
    assert job_a.status().code == Status.CANCELLED
    assert info["seeds"] == [200] and [item["caption"] for item in gallery] == ["seed 200"]
    assert read_request(gallery[0]["image"]).prompt == "user B"
    # A is served again afterwards and sees only its own new run.
    gallery, info = a.predict("user A again", 256, 256, 300, 1, 2, 3.0, api_name="/generate")
    assert info["seeds"] == [300] and [item["caption"] for item in gallery] == ["seed 300"]


def test_output_folder_stays_within_its_size_cap(app):
    client = gradio_client.Client(app.url, verbose=False, download_files=False)
    for seed in range(5):
        gallery, _ = client.predict("prune", 256, 256, seed, 1, 2, 3.0, api_name="/generate")
        assert app.get(urllib.parse.urlsplit(gallery[0]["image"]["url"]).path)[0] == 200  # the answer still works
    sizes = [path.stat().st_size for path in app.outputs.glob("*.png")]
    assert sizes and sum(sizes) <= OUTPUT_MAX_MB * 2**20
