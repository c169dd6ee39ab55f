"""Runpod's Python Flash queue images (runpod/flash, runpod/flash-cpu), as the flash emulator
starts them.

The images run `python handler.py` in /app (runpod-workers/flash: Dockerfile, Dockerfile-cpu;
src/handler.py). In deployed mode (FLASH_RESOURCE_NAME set), handler.py unpacks the mounted
build artifact into /app (src/unpack_volume.py: the emulator has done that already, with its
checked reader, into FLASH_APP_DIR), loads the generated /app/handler_<FLASH_RESOURCE_NAME>.py
that `flash build` wrote (runpod_flash/cli/commands/build_utils/handler_generator.py), and
starts the runpod serverless worker with an async wrapper around its `handler`.

Left out: the image's on-the-fly `pip install` of a package missing from the artifact, its
log formatting and version banner, and the Live Serverless path (no FLASH_RESOURCE_NAME).
"""

import importlib.util
import os
from collections.abc import Awaitable
from pathlib import Path

from flash_emulator_parent import exit_with_parent

exit_with_parent()

APP_DIR = Path(os.environ.get("FLASH_APP_DIR") or "/app")


def load_generated_handler():
    """src/handler.py `_load_generated_handler`: failures are fatal in deployed mode."""
    resource_name = os.getenv("FLASH_RESOURCE_NAME")
    if not resource_name:
        raise RuntimeError(
            "FLASH_RESOURCE_NAME is not set: the image would serve Live Serverless "
            "requests, which the emulator does not run. Deploy with 'flash deploy'."
        )
    handler_file = APP_DIR / f"handler_{resource_name}.py"
    if not handler_file.resolve().is_relative_to(APP_DIR.resolve()):
        raise RuntimeError(
            f"FLASH_RESOURCE_NAME '{resource_name}' resolves outside {APP_DIR}. "
            "This is a security violation. Check the endpoint environment variables."
        )
    if not handler_file.exists():
        raise RuntimeError(
            f"Generated handler {handler_file} not found for resource '{resource_name}'. "
            "The build artifact is incomplete. Redeploy with 'flash deploy'."
        )
    spec = importlib.util.spec_from_file_location(f"handler_{resource_name}", handler_file)
    if not spec or not spec.loader:
        raise RuntimeError(
            f"Failed to create module spec for {handler_file}. "
            "The file may be corrupted. Redeploy with 'flash deploy'."
        )
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise RuntimeError(
            f"Generated handler {handler_file} failed to load: {e} ({type(e).__name__}). "
            "Redeploy with 'flash deploy'."
        ) from e
    generated = getattr(module, "handler", None)
    if generated is None or not callable(generated):
        raise RuntimeError(
            f"Generated handler {handler_file} has no callable 'handler'. "
            "This indicates a bug in the flash build pipeline."
        )
    return generated


def main():
    generated = load_generated_handler()

    async def handler(event):
        result = generated(event)
        if isinstance(result, Awaitable):
            return await result
        return result

    import runpod

    runpod.serverless.start({"handler": handler})


if __name__ == "__main__":
    main()
