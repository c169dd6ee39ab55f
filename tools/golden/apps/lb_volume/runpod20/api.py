# runpod 2.0.0rc2 twin of examples/05_load_balancer's CPU endpoint combined
# with examples/01_network_volumes' volume (Rust):
#   Resource::load_balanced("load_balancer_cpu").cpu(&["cpu3c-1-2"])
#       .datacenters(&["EU-RO-1"]).volumes(&[Volume::new("flash-volume", 50, "EU-RO-1")])
#       .env(&[("GREETING", "hello"), ("LOG_LEVEL", "info")]).workers(1, 3)
from runpod import App, NetworkVolume, get, post

# record.py changes only this line for the code-only redeploy
CODE_VERSION = "v1"

app = App("lb_volume")


@app.api(
    name="load_balancer_cpu",
    cpu="cpu3c-1-2",
    workers=(1, 3),
    datacenter="EU-RO-1",
    mounts={"/runpod-volume": NetworkVolume("flash-volume", size=50, datacenter="EU-RO-1")},
    env={"GREETING": "hello", "LOG_LEVEL": "info"},
)
class Api:
    @get("/health")
    async def health(self) -> dict:
        return {"status": "ok", "version": CODE_VERSION}

    @post("/transform")
    async def transform(self, body: dict) -> dict:
        return {"result": body.get("text", "").upper()}
