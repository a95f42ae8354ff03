"""Run a command in a fresh network namespace with only loopback up, for local Ray Serve runs.

Ray binds its node to the machine's external interface address even when told 127.0.0.1, and tests and
benchmarks here may only talk to loopback. Inside `unshare -n` (root or CAP_SYS_ADMIN) there is nothing else to
bind, so Ray and its replicas use 127.0.0.1 throughout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from .apphost import ROOT


def can_isolate() -> str:
    """Empty when a loopback-only namespace can be made here, else why not."""
    try:
        done = subprocess.run(["unshare", "-n", "bash", "-c", "ip link set lo up"], capture_output=True, text=True,
                              timeout=20)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unshare failed: {error}"
    return "" if done.returncode == 0 else f"unshare -n not permitted: {done.stderr.strip()[:200]}"


def run_isolated(python_args: list[str], timeout: float, env: dict[str, str] | None = None,
                 capture: bool = True) -> subprocess.CompletedProcess:
    """`python PYTHON_ARGS...` from the repository root, in its own loopback-only network namespace.

    Ray's session folder goes to a fresh short temp dir (its socket paths are length-limited), so a run never
    meets another run's cluster.
    """
    command = ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "bash", sys.executable, *python_args]
    environment = {**os.environ, "RAY_TMPDIR": tempfile.mkdtemp(prefix="zr-"), **(env or {})}
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=capture, text=True, timeout=timeout)
