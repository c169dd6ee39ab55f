#!/usr/bin/env python3
"""Record what the official Python clients send on deploy, into golden fixtures.

Runs each client against tools/golden/recorder.py on 127.0.0.1. Every Runpod URL the
clients read is pointed at the recorder; the only other traffic is pip reaching PyPI for
the build's dependency vendoring (runpod 2.0 always vendors its runtime dependencies).

  flash-1.21       runpod-flash 1.21 CLI, apps/<app>/flash121/
  runpod-2.0.0rc2  runpod 2.0.0rc2 `rp` CLI, apps/<app>/runpod20/

Per app (SESSIONS below), one recorder process and one scratch project directory, named
after the app (Flash 1.21 takes the app name from it), run these steps in order:

  deploy       `flash deploy` (it runs `flash build` itself) / `rp flash deploy`
  code-change  the same deploy again after changing only `CODE_VERSION = "v1"` to "v2"
  undeploy     `flash undeploy --all --force` / `rp flash undeploy --yes`
  app-delete   `flash app delete <app>` / `rp flash app delete <app> --yes`

Each step's requests go to tests/fixtures/golden/<client>/<app>.json (deploy) or
<app>-<step>.json: JSON arrays in arrival order, secrets stripped by the recorder,
volatile values normalized here (normalize_* below; documented in NOTES.md).
tests/fixtures/golden/INDEX.json records each step's command, exit code and request count.

Usage:  python3 tools/golden/record.py [--venvs DIR] [--work DIR] [--only CLIENT]
        (tools/golden/record.sh is the same; both create the virtualenvs when missing)

The virtualenvs live outside the repository: DIR/flash121 (runpod-flash==1.21.*) and
DIR/runpod20 (runpod==2.0.0rc2), DIR defaulting to /work/venvs ($GOLDEN_VENVS).
Scratch projects, client logs and raw JSONL go to --work (default /tmp/golden-run).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
APPS = HERE / "apps"
FIXTURES = REPO / "tests" / "fixtures" / "golden"

# A fake key: it only ever reaches the recorder, which redacts it anyway.
FAKE_API_KEY = "rpa_GOLDENFAKEKEY0000000000000000000000000000"

CLIENTS = {
    "flash-1.21": {
        "venv": "flash121",
        "pip": ["runpod-flash==1.21.*"],
        "subdir": "flash121",
        "exe": "flash",
        "steps": {
            "deploy": ["flash", "deploy"],
            "undeploy": ["flash", "undeploy", "--all", "--force"],
            "app-delete": ["flash", "app", "delete", "{app}"],
        },
    },
    "runpod-2.0.0rc2": {
        "venv": "runpod20",
        "pip": ["--pre", "runpod==2.0.0rc2"],
        "subdir": "runpod20",
        "exe": "rp",
        # --python-version pins the runtime image tag (py3.12, as Flash 1.21's
        # default); without it rp uses the local interpreter's version.
        "steps": {
            "deploy": ["rp", "flash", "deploy", "--python-version", "3.12"],
            "undeploy": ["rp", "flash", "undeploy", "--yes"],
            "app-delete": ["rp", "flash", "app", "delete", "{app}", "--yes"],
        },
    },
}

# per app: the steps, in order; "code-change" is a deploy after a code-only edit.
# Each step's requests go to tests/fixtures/golden/<client>/<app>[-<step>].json.
SESSIONS = [
    ("gpu_queue", ["deploy", "code-change", "undeploy"]),
    ("cpu_queue", ["deploy"]),
    ("lb_volume", ["deploy", "code-change", "app-delete"]),
]

# every app returns CODE_VERSION; the second deploy changes only that constant
CODE_CHANGE_FROM = 'CODE_VERSION = "v1"'
CODE_CHANGE_TO = 'CODE_VERSION = "v2"'

# environment passed through to the clients: pip/TLS configuration only
PASS_ENV = re.compile(r"^(PIP_.*|SSL_CERT_FILE|SSL_CERT_DIR|REQUESTS_CA_BUNDLE|CURL_CA_BUNDLE|LANG|LC_ALL|TZ)$")


def ensure_venv(venvs: Path, client: dict) -> Path:
    venv = venvs / client["venv"]
    exe = venv / "bin" / client["exe"]
    if not exe.exists():
        print(f"[golden] creating {venv}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *client["pip"]], check=True)
    return venv


def start_recorder(work: Path, jsonl: Path) -> tuple[subprocess.Popen, int]:
    port_file = work / "recorder.port"
    port_file.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "recorder.py"), "--port", "0", "--out", str(jsonl),
         "--port-file", str(port_file), "--api-key", FAKE_API_KEY],
        stdout=open(work / "recorder.log", "a"), stderr=subprocess.STDOUT,
    )
    for _ in range(100):
        if port_file.exists() and port_file.read_text().strip():
            return proc, int(port_file.read_text())
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("recorder did not start")


def control(port: int, path: str, body: dict | None = None) -> None:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/__golden/{path}", method="POST",
        data=json.dumps(body or {}).encode(), headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        resp.read()


def client_env(venv: Path, home: Path, port: int) -> dict:
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if PASS_ENV.match(k)}
    env.update({
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "VIRTUAL_ENV": str(venv),
        "RUNPOD_API_KEY": FAKE_API_KEY,
        # runpod-flash 1.21 core/urls.py; runpod 2.0 api/graphql.py + api/rest.py
        "RUNPOD_API_BASE_URL": base,
        "RUNPOD_REST_API_URL": f"{base}/v1",
        "RUNPOD_ENDPOINT_BASE_URL": f"{base}/v2",
        "RUNPOD_HAPI_URL": base,
        "RUNPOD_CONSOLE_URL": base,
        # quiet and offline: no sunset banner, no PyPI update check
        "RUNPOD_FLASH_SILENCE_DEPRECATION": "1",
        "FLASH_NO_UPDATE_CHECK": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "COLUMNS": "200",
    })
    return env


def run_client(cmd: list, cwd: Path, env: dict, log: Path) -> int:
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(cmd)}   (in {cwd})\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=1500)
    return proc.returncode


# ----------------------------------------------------------------------------- #
# normalization
# ----------------------------------------------------------------------------- #
UA_FLASH = re.compile(r"\(Python [^;]+; [^;)]+; [^)]+\)")
UA_SDK = re.compile(r"\([^;()]+; [^)]+\) Language/Python \S+")
CONCURRENT_OPS = {"CpuStock", "ServerlessGpuTypes", "SecureCpuTypes"}


def normalize_value(value, key=None, port=None):
    if isinstance(value, dict):
        return {k: normalize_value(v, k, port) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize_value(v, key, port) for v in value]
    if key == "generated_at" and isinstance(value, str):
        return "<generated_at>"
    if key == "tarballSize" and isinstance(value, int):
        return "<tarballSize>"
    if isinstance(value, str) and port is not None:
        value = value.replace(f"127.0.0.1:{port}", "127.0.0.1:<port>")
    return value


def normalize_headers(headers: dict, port: int) -> dict:
    out = {}
    for k, v in headers.items():
        lk = k.lower()
        if lk == "host":
            v = "127.0.0.1:<port>"
        elif lk == "content-length":
            v = "<length>"
        elif lk == "user-agent":
            v = UA_FLASH.sub("(Python <version>; <os> <release>; <arch>)", v)
            v = UA_SDK.sub("(<os> <release>; <arch>) Language/Python <version>", v)
            v = re.sub(r"(aiohttp|python-requests|Python)/[0-9][^ ]*", r"\1/<version>", v)
        out[k] = v
    return out


def normalize_entry(e: dict, port: int) -> dict:
    body = e.get("body")
    if e["method"] == "PUT" and isinstance(body, dict) and "bytes" in body:
        body = {**body, "bytes": "<tarballSize>"}
    return {
        "method": e["method"],
        "path": e["path"],
        "query": normalize_value(e.get("query") or {}, port=port),
        "headers": normalize_headers(e.get("headers") or {}, port),
        "body": normalize_value(body, port=port),
    }


def sort_concurrent(entries: list) -> list:
    """Runs of concurrently issued look-ups (stock queries) arrive in any order: sort them."""
    def key(e):
        b = e.get("body") or {}
        op = b.get("operationName") if isinstance(b, dict) else None
        if op in CONCURRENT_OPS or e["path"].startswith("/v2/catalog/gpus/") or \
                e["path"].startswith("/v2/catalog/cpus/"):
            return ("concurrent", op or e["path"])
        return None

    out, i = [], 0
    while i < len(entries):
        k = key(entries[i])
        j = i + 1
        if k is not None:
            while j < len(entries) and key(entries[j]) == k:
                j += 1
            out.extend(sorted(entries[i:j], key=lambda e: json.dumps(e, sort_keys=True)))
        else:
            out.append(entries[i])
        i = j
    return out


def split_sections(jsonl: Path) -> dict:
    sections, current = {}, None
    for line in jsonl.read_text().splitlines():
        entry = json.loads(line)
        if "_marker" in entry:
            current = entry["_marker"]
            sections[current] = []
        elif current is not None:
            sections[current].append(entry)
    return sections


def write_fixture(path: Path, entries: list, port: int) -> int:
    normalized = sort_concurrent([normalize_entry(e, port) for e in entries])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(normalized, indent=2, ensure_ascii=False) + "\n")
    return len(normalized)


# ----------------------------------------------------------------------------- #
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venvs", type=Path, default=Path(os.environ.get("GOLDEN_VENVS", "/work/venvs")))
    ap.add_argument("--work", type=Path, default=Path(os.environ.get("GOLDEN_WORK", "/tmp/golden-run")))
    ap.add_argument("--only", choices=sorted(CLIENTS), help="record one client only")
    ap.add_argument("--fixtures", type=Path, default=FIXTURES)
    args = ap.parse_args()

    index_path = args.fixtures / "INDEX.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    failures = 0
    for client_name, client in CLIENTS.items():
        if args.only and client_name != args.only:
            continue
        venv = ensure_venv(args.venvs, client)
        for app, steps in SESSIONS:
            work = args.work / client_name / app
            if work.exists():
                shutil.rmtree(work)
            (work / "home").mkdir(parents=True)
            project = work / app  # the directory name is the Flash 1.21 app name
            shutil.copytree(APPS / app / client["subdir"], project)
            jsonl = work / "requests.jsonl"
            log = work / "client.log"
            proc, port = start_recorder(work, jsonl)
            env = client_env(venv, work / "home", port)
            try:
                for label in steps:
                    if label == "code-change":
                        for f in project.rglob("*.py"):
                            text = f.read_text()
                            if CODE_CHANGE_FROM in text:
                                f.write_text(text.replace(CODE_CHANGE_FROM, CODE_CHANGE_TO))
                    control(port, "mark", {"label": label})
                    step = "deploy" if label == "code-change" else label
                    cmd = [a.replace("{app}", app) for a in client["steps"][step]]
                    rc = run_client(cmd, project, env, log)
                    print(f"[golden] {client_name} {app} {label}: exit {rc}", flush=True)
                    failures += rc != 0
                    index.setdefault(client_name, {})[app if label == "deploy" else f"{app}-{label}"] = {
                        "command": " ".join(cmd),
                        "exit_code": rc,
                    }
            finally:
                try:
                    control(port, "shutdown")
                except OSError:
                    pass
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for label, entries in split_sections(jsonl).items():
                name = app if label == "deploy" else f"{app}-{label}"
                n = write_fixture(args.fixtures / client_name / f"{name}.json", entries, port)
                index[client_name][name]["requests"] = n
                print(f"[golden]   -> {client_name}/{name}.json ({n} requests)", flush=True)
    index_path.parent.mkdir(parents=True, exist_ok=True)
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
