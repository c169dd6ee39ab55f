"""Runpod's Python Flash load-balancer images (runpod/flash-lb, runpod/flash-lb-cpu), as the
flash emulator starts them: `uvicorn flash_emulator_lb_handler:app`.

The images run `uvicorn lb_handler:app --host 0.0.0.0 --port 80 --timeout-keep-alive 600` in
/app (runpod-workers/flash: Dockerfile-lb, Dockerfile-lb-cpu; src/lb_handler.py). With
FLASH_ENDPOINT_TYPE=lb, lb_handler.py unpacks the mounted build artifact into /app
(src/unpack_volume.py: the emulator has done that already, with its checked reader, into
FLASH_APP_DIR), imports the FastAPI `app` of the generated /app/handler_<FLASH_RESOURCE_NAME>.py
that `flash build` wrote (runpod_flash/cli/commands/build_utils/lb_handler_generator.py) and
adds a /ping route when it has none. The emulator binds it to 127.0.0.1 on the worker's PORT.

Left out: the queue-mode app (FLASH_ENDPOINT_TYPE not "lb"), which serves Live Serverless
/execute requests through the image's own executor.
"""

import importlib.util
import os
from pathlib import Path

from fastapi import FastAPI

from flash_emulator_parent import exit_with_parent

exit_with_parent()

APP_DIR = Path(os.environ.get("FLASH_APP_DIR") or "/app")


def load_app() -> FastAPI:
    if os.getenv("FLASH_ENDPOINT_TYPE") != "lb":
        raise RuntimeError(
            "FLASH_ENDPOINT_TYPE is not 'lb': the image would serve Live Serverless "
            "/execute requests, which the emulator does not run. Deploy with 'flash deploy'."
        )
    resource_name = os.getenv("FLASH_RESOURCE_NAME")
    if not resource_name:
        raise RuntimeError("FLASH_RESOURCE_NAME not set. Cannot discover generated LB handler.")
    handler_file = APP_DIR / f"handler_{resource_name}.py"
    if not handler_file.resolve().is_relative_to(APP_DIR.resolve()) or not handler_file.exists():
        raise ImportError(f"Cannot find or load {handler_file}")
    spec = importlib.util.spec_from_file_location("user_main", handler_file)
    if spec is None or spec.loader is None:
        raise ImportError(f"Cannot find or load {handler_file}")
    user_module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(user_module)
    if not hasattr(user_module, "app"):
        raise AttributeError(f"Module {handler_file} does not have 'app' attribute")
    app = getattr(user_module, "app")
    if not isinstance(app, FastAPI):
        raise TypeError(f"Expected FastAPI instance, got {type(app).__name__} for app")
    if not any(getattr(route, "path", None) == "/ping" for route in app.routes):

        @app.get("/ping")
        async def ping_lb():
            return {
                "status": "healthy",
                "endpoint": "lb",
                "id": os.getenv("RUNPOD_ENDPOINT_ID", "unknown"),
            }

    return app


app = load_app()
