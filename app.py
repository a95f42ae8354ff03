"""The Gradio app's entry point (the Space's app_file): parse flags, build the engine, launch the UI.

Run `python app.py --help`. The UI itself lives in the ui/ package; the logic in zimage/.
"""

import os
import tempfile

# Gradio serves its cache folder over HTTP and reads this at import: keep it private to this app, not /tmp/gradio.
os.environ.setdefault("GRADIO_TEMP_DIR", os.path.join(tempfile.gettempdir(), "zimage-gradio"))

import spaces  # noqa: E402,F401 - must come before torch: ZeroGPU patches CUDA initialisation

import argparse  # noqa: E402
import logging  # noqa: E402

from zimage.config import AppSettings, on_zero_gpu  # noqa: E402
from zimage.engine import Engine  # noqa: E402
from zimage.errors import ZImageError  # noqa: E402
from zimage.flags import add_engine_flags, settings_from_args  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Z-Image-Turbo web app")
    parser.add_argument("--host", default=None, help="bind address (default 127.0.0.1, or GRADIO_SERVER_NAME)")
    parser.add_argument("--port", type=int, default=None, help="port (default 7860, or GRADIO_SERVER_PORT)")
    parser.add_argument("--mcp", action="store_true", help="also serve the API as an MCP server (ZIMAGE_MCP)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link")
    add_engine_flags(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    from ui import create_demo, launch_kwargs, make_runner

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings, app_settings = settings_from_args(args), AppSettings.from_env()
    engine = Engine(settings)
    try:
        engine.prepare_safety()  # ZIMAGE_SAFETY=full without its image checker must not serve unfiltered images
    except ZImageError as error:
        raise SystemExit(f"Error: {error}") from None
    runner = make_runner(engine)
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
