# runpod 2.0.0rc2 twin of examples/01_hello_world (Rust):
#   Resource::queue("gpu_worker").gpu(&[GpuGroup::Ada24]).workers(0, 1)
from runpod import App, GpuGroup

# record.py changes only this line for the code-only redeploy
CODE_VERSION = "v1"

app = App("gpu_queue")


@app.queue(name="gpu_worker", gpu=GpuGroup.ADA_24, workers=(0, 1))
async def gpu_hello(name: str) -> dict:
    """Says hello and reports the worker's GPUs."""
    import subprocess

    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
        ).stdout
    except FileNotFoundError:
        out = ""
    return {"message": f"Hello, {name}!", "gpus": out.splitlines(), "version": CODE_VERSION}
