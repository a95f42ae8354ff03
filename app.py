"""The Gradio app's entry point (the Space's app_file): parse flags, build the engine, launch the UI.

Run `python app.py --help`. The UI itself lives in the ui/ package; the logic in zimage/.
"""

import os
import tempfile

# Gradio serves its cache folder over HTTP and reads this at import: keep it private to this app, not /tmp/gradio.
os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(tempfile.gettempdir(), "zimage-gradio"))

import spaces  # noqa: E402,F401 - must come before torch: ZeroGPU patches CUDA initialisation

from zimage.devices import prefer_expandable_segments  # noqa: E402

prefer_expandable_segments()  # before anything allocates on the GPU

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
from dataclasses import replace  # noqa: E402

from zimage.config import AppSettings, on_zero_gpu  # noqa: E402
from zimage.engine import Engine  # noqa: E402
from zimage.errors import ZImageError  # noqa: E402
from zimage.flags import add_engine_flags, settings_from_args  # noqa: E402
from zimage.runner import Runner  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Z-Image-Turbo web app")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1, or GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or GRADIO_SERVER_PORT)")
    parser.add_argument("--mcp", action="store_true", help="also serve the API as an MCP server (ZIMAGE_MCP)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    add_engine_flags(parser)
    ray = parser.add_argument_group("replicas (Ray Serve; needs requirements-ray.txt; RAY_ADDRESS joins a cluster)")
    ray.add_argument("--replicas", type=int, help="run generation on N Ray Serve replicas (ZIMAGE_REPLICAS)")
    ray.add_argument("--min-replicas", type=int, help="autoscale: at least this many replicas")
    ray.add_argument("--max-replicas", type=int, help="autoscale: at most this many replicas")
    return parser.parse_args(argv)


def build_runner(args: argparse.Namespace, engine: Engine, app_settings: AppSettings) -> tuple[Runner, AppSettings]:
    """In this process (or ZeroGPU's workers), or on Ray Serve replicas (each with its own engine) when asked.
    Replicas check the safety setting themselves: a missing image checker fails their deployment."""
    from ui import make_runner

    if all(value is None for value in (args.replicas, args.min_replicas, args.max_replicas)) \
            and not os.environ.get("ZIMAGE_REPLICAS", "").strip():
        try:
            engine.prepare_safety()  # ZIMAGE_SAFETY=full without its image checker must not serve unfiltered images
        except ZImageError as error:
            raise SystemExit(f"Error: {error}") from None
        return make_runner(engine), app_settings
    if importlib.util.find_spec("ray") is None:
        raise SystemExit("Error: replicas need Ray Serve: pip install -r requirements-ray.txt")
    from zimage.config import ReplicaSettings
    from zimage.ray_runner import RayRunner

    try:
        replicas = ReplicaSettings.from_env(args.replicas, args.min_replicas, args.max_replicas)
    except ZImageError as error:
        raise SystemExit(f"Error: {error}") from None
    # Serve queues and refuses ("busy") by itself, so the app hands it every request it could hold.
    return RayRunner(engine.settings, replicas), replace(app_settings, concurrency=replicas.capacity)


def main(argv: list[str] | None = None) -> None:
    from ui import create_demo, launch_kwargs

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings_from_args(args)
    runner, app_settings = build_runner(args, Engine(settings), AppSettings.from_env())
    if on_zero_gpu():
        runner.start()  # ZeroGPU workers fork from this process, so the weights must be here before serving
    demo = create_demo(runner, app_settings, settings.output_dir)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True,
                **launch_kwargs(settings.output_dir, args.mcp or app_settings.mcp))
    if not on_zero_gpu():
        runner.start()  # the page is already being served; torch, diffusers and the weights load behind it
    demo.block_thread()


if __name__ == "__main__":
    main()
