# runpod 2.0.0rc2 twin of examples/02_cpu_worker (Rust):
#   Resource::queue("cpu_worker").cpu(&["cpu3c-1-2"]).workers(0, 1)
from runpod import App

# record.py changes only this line for the code-only redeploy
CODE_VERSION = "v1"

app = App("cpu_queue")


@app.queue(name="cpu_worker", cpu="cpu3c-1-2", workers=(0, 1))
async def cpu_info(payload: dict) -> dict:
    """Reports what the worker's machine is."""
    import os
    import platform

    return {"cores": os.cpu_count(), "machine": platform.machine(), "version": CODE_VERSION}
