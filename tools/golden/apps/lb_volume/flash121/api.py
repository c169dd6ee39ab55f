# Python Flash 1.21 twin of examples/05_load_balancer's CPU endpoint combined
# with examples/01_network_volumes' volume (Rust):
#   Resource::load_balanced("load_balancer_cpu").cpu(&["cpu3c-1-2"])
#       .datacenters(&["EU-RO-1"]).volumes(&[Volume::new("flash-volume", 50, "EU-RO-1")])
#       .env(&[("GREETING", "hello"), ("LOG_LEVEL", "info")]).workers(1, 3)
from runpod_flash import DataCenter, Endpoint, NetworkVolume

# record.py changes only this line for the code-only redeploy
CODE_VERSION = "v1"

api = Endpoint(
    name="load_balancer_cpu",
    cpu="cpu3c-1-2",
    workers=(1, 3),
    datacenter=DataCenter.EU_RO_1,
    volume=NetworkVolume(name="flash-volume", size=50, datacenter=DataCenter.EU_RO_1),
    env={"GREETING": "hello", "LOG_LEVEL": "info"},
)


@api.get("/health")
async def health() -> dict:
    return {"status": "ok", "version": CODE_VERSION}


@api.post("/transform")
async def transform(body: dict) -> dict:
    text = body.get("text", "")
    return {"result": text.upper()}
