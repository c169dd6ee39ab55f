#!/usr/bin/env python3
"""A recording stand-in for Runpod's control plane, on 127.0.0.1 only.

It answers every GraphQL operation and REST call that the official Python
clients' deploys make (runpod-flash 1.21 `flash deploy`, runpod 2.0.0rc2
`rp flash deploy`), with plausible, deterministic ids and the response shapes
the clients parse, and appends every request it receives to a JSONL file:

    {"seq", "method", "path", "query", "headers", "body"}

where `body` is, for GraphQL, {"operationName", "query", "variables"}
(operationName taken from the request or else from the document's
`query NAME` / `mutation NAME`), the parsed JSON for REST calls, and a
summary ({"bytes", "gzip"}) for the artifact PUT.

Secrets never reach the file: the Authorization header, the presigned URL
signature, every value whose key looks like a credential (api key, aiKey,
token, password, secret), every {"key": "RUNPOD_API_KEY", "value": ...} env
entry, and every occurrence of the API key given with --api-key are replaced
by "<redacted>".

Standard library only. Usage:

    recorder.py --port 0 --out requests.jsonl --port-file port.txt [--api-key KEY]

Control endpoints (not recorded as client traffic; `mark` writes a marker line):
    POST /__golden/mark      {"label": "..."}   starts a new section of the log
    GET  /__golden/state                        the emulated account, as JSON
    POST /__golden/shutdown

What is emulated is documented in tools/golden/NOTES.md ("The recorder").
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

REDACTED = "<redacted>"
FIXED_TIME = "2026-01-01T00:00:00.000Z"
FIXED_EXPIRY = "2026-01-01T01:00:00.000Z"
USER_ID = "user_golden0000000000000000"

# Datacenters as the clients list them (runpod_flash/core/resources/datacenter.py,
# runpod/apps/datacenter.py); all of them take network volumes here.
DATACENTERS = [
    "US-CA-2", "US-IL-1", "US-KS-2", "US-MO-1", "US-MO-2", "US-NC-2",
    "US-NE-1", "US-WA-1", "EU-CZ-1", "EU-RO-1", "EUR-NO-1",
]

_SECRET_KEY_RE = re.compile(r"(?i)(api[_-]?key|aikey|authorization|password|secret|token)")


class GraphQLError(Exception):
    def __init__(self, message: str, path: Optional[List[str]] = None):
        super().__init__(message)
        self.path = path


# --------------------------------------------------------------------------- #
# A small GraphQL document parser: enough for the clients' documents (named
# operations, variables, nested selections, arguments). No fragments.
# --------------------------------------------------------------------------- #
_TOKEN_RE = re.compile(
    r'\s+|,|#[^\n]*|(?P<str>"(?:\\.|[^"\\])*")|(?P<num>-?\d+(?:\.\d+)?)'
    r"|(?P<name>[_A-Za-z][_0-9A-Za-z]*)|(?P<punct>\.\.\.|[{}()\[\]:!$=@])"
)


def _tokenize(doc: str) -> List[Tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(doc):
        m = _TOKEN_RE.match(doc, pos)
        if not m:
            raise GraphQLError(f"Syntax Error: unexpected character {doc[pos]!r}")
        pos = m.end()
        for kind in ("str", "num", "name", "punct"):
            if m.group(kind) is not None:
                tokens.append((kind, m.group(kind)))
                break
    return tokens


class Field:
    def __init__(self, name: str, alias: str, args: Dict[str, Any], sub: Optional[List["Field"]]):
        self.name, self.alias, self.args, self.sub = name, alias, args, sub


class _Parser:
    def __init__(self, doc: str):
        self.t = _tokenize(doc)
        self.i = 0

    def peek(self) -> Optional[str]:
        return self.t[self.i][1] if self.i < len(self.t) else None

    def take(self, expect: Optional[str] = None) -> Tuple[str, str]:
        if self.i >= len(self.t):
            raise GraphQLError("Syntax Error: unexpected end of document")
        tok = self.t[self.i]
        if expect is not None and tok[1] != expect:
            raise GraphQLError(f"Syntax Error: expected {expect!r}, found {tok[1]!r}")
        self.i += 1
        return tok

    def operation(self) -> Tuple[str, Optional[str], Dict[str, str], List[Field]]:
        op_type, op_name, var_types = "query", None, {}
        if self.peek() in ("query", "mutation", "subscription"):
            op_type = self.take()[1]
            if self.t[self.i][0] == "name":
                op_name = self.take()[1]
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    self.take("$")
                    var = self.take()[1]
                    self.take(":")
                    var_types[var] = self.type_ref()
                    if self.peek() == "=":
                        self.take("=")
                        self.value()
                self.take(")")
        return op_type, op_name, var_types, self.selection_set()

    def type_ref(self) -> str:
        if self.peek() == "[":
            self.take("[")
            inner = self.type_ref()
            self.take("]")
            out = f"[{inner}]"
        else:
            out = self.take()[1]
        if self.peek() == "!":
            self.take("!")
            out += "!"
        return out

    def value(self) -> Any:
        kind, tok = self.take()
        if tok == "$":
            return ("$", self.take()[1])
        if kind == "str":
            return json.loads(tok)
        if kind == "num":
            return float(tok) if "." in tok else int(tok)
        if tok == "[":
            out = []
            while self.peek() != "]":
                out.append(self.value())
            self.take("]")
            return out
        if tok == "{":
            obj = {}
            while self.peek() != "}":
                key = self.take()[1]
                self.take(":")
                obj[key] = self.value()
            self.take("}")
            return obj
        return {"true": True, "false": False, "null": None}.get(tok, tok)

    def selection_set(self) -> List[Field]:
        self.take("{")
        fields = []
        while self.peek() != "}":
            name = self.take()[1]
            alias = name
            if self.peek() == ":":
                self.take(":")
                name = self.take()[1]
            args = {}
            if self.peek() == "(":
                self.take("(")
                while self.peek() != ")":
                    arg = self.take()[1]
                    self.take(":")
                    args[arg] = self.value()
                self.take(")")
            sub = self.selection_set() if self.peek() == "{" else None
            fields.append(Field(name, alias, args, sub))
        self.take("}")
        return fields


def parse_operation(doc: str):
    return _Parser(doc).operation()


def _resolve_args(args: Dict[str, Any], variables: Dict[str, Any]) -> Dict[str, Any]:
    def res(v):
        if isinstance(v, tuple) and v and v[0] == "$":
            return variables.get(v[1])
        if isinstance(v, list):
            return [res(x) for x in v]
        if isinstance(v, dict):
            return {k: res(x) for k, x in v.items()}
        return v

    return {k: res(v) for k, v in args.items()}


def project(value: Any, fields: Optional[List[Field]], variables: Dict[str, Any]) -> Any:
    """The value as GraphQL returns it for this selection set."""
    if fields is None or value is None:
        return value
    if isinstance(value, list):
        return [project(v, fields, variables) for v in value]
    out = {}
    for f in fields:
        if f.name == "__typename":
            out[f.alias] = value.get("__typename", "Object")
            continue
        v = value.get(f.name)
        if callable(v):
            v = v(_resolve_args(f.args, variables))
        out[f.alias] = project(v, f.sub, variables)
    return out


# --------------------------------------------------------------------------- #
# Redaction
# --------------------------------------------------------------------------- #
def redact(value: Any, api_key: Optional[str]) -> Any:
    if isinstance(value, dict):
        out = {}
        is_env_pair = set(value.keys()) >= {"key", "value"}
        for k, v in value.items():
            if is_env_pair and k == "value" and isinstance(value.get("key"), str) and (
                _SECRET_KEY_RE.search(value["key"])
            ):
                out[k] = REDACTED if v else v
            elif isinstance(v, str) and _SECRET_KEY_RE.search(k) and v and REDACTED not in v:
                out[k] = REDACTED
            else:
                out[k] = redact(v, api_key)
        return out
    if isinstance(value, list):
        return [redact(v, api_key) for v in value]
    if isinstance(value, str) and api_key and api_key in value:
        return value.replace(api_key, REDACTED)
    return value


# --------------------------------------------------------------------------- #
# The emulated account
# --------------------------------------------------------------------------- #
class Account:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.lock = threading.RLock()
        self.counters: Dict[str, int] = {}
        self.apps: Dict[str, dict] = {}
        self.envs: Dict[str, dict] = {}
        self.builds: Dict[str, dict] = {}
        self.endpoints: Dict[str, dict] = {}
        self.templates: Dict[str, dict] = {}
        self.volumes: Dict[str, dict] = {}
        self.uploads: Dict[str, int] = {}

    # deterministic ids, so that fixtures are stable across recordings
    def _n(self, kind: str) -> int:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return self.counters[kind]

    def uuid_id(self, kind: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"golden:{kind}:{self._n(kind)}"))

    def short_id(self, kind: str, length: int) -> str:
        digest = hashlib.sha256(f"golden:{kind}:{self._n(kind)}".encode()).digest()
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        return "".join(alphabet[b % 36] for b in digest[:length])

    # ---- views ----------------------------------------------------------- #
    def app_view(self, app: dict) -> dict:
        return {
            "__typename": "FlashApp",
            "id": app["id"],
            "name": app["name"],
            "createdAt": app["createdAt"],
            "flashEnvironments": [self.env_view(self.envs[e]) for e in app["envIds"]],
            "flashBuilds": [self.build_view(self.builds[b]) for b in app["buildIds"]],
        }

    def env_view(self, env: dict) -> dict:
        eps = [self.endpoints[e] for e in env["endpointIds"] if e in self.endpoints]
        vol_ids: List[str] = []
        for ep in eps:
            for v in ([ep.get("networkVolumeId")] if ep.get("networkVolumeId") else []) + [
                x.get("networkVolumeId") for x in ep.get("networkVolumeIds") or []
            ]:
                if v and v not in vol_ids:
                    vol_ids.append(v)
        active = self.builds.get(env.get("activeBuildId") or "")
        return {
            "__typename": "FlashEnvironment",
            "id": env["id"],
            "name": env["name"],
            "state": env["state"],
            "activeBuildId": env.get("activeBuildId"),
            "createdAt": env["createdAt"],
            "flashAppId": env["flashAppId"],
            "endpoints": [self.endpoint_view(ep) for ep in eps],
            "networkVolumes": [
                {"id": v, "name": self.volumes.get(v, {}).get("name")} for v in vol_ids
            ],
            "activeArtifact": None
            if active is None
            else {
                "objectKey": active["objectKey"],
                "downloadUrl": f"{self.base_url}/__artifacts/{active['objectKey']}"
                "?X-Amz-Signature=golden",
                "expiresAt": FIXED_EXPIRY,
            },
        }

    def build_view(self, build: dict) -> dict:
        return {"__typename": "FlashBuild", **build}

    def endpoint_view(self, ep: dict) -> dict:
        view = {"__typename": "Endpoint", **ep}
        tpl = self.templates.get(ep.get("templateId") or "")
        view["template"] = self.template_view(tpl) if tpl else None
        return view

    def template_view(self, tpl: dict) -> dict:
        return {"__typename": "PodTemplate", **tpl}

    # ---- lookups --------------------------------------------------------- #
    def app_by_name(self, name: str) -> Optional[dict]:
        return next((a for a in self.apps.values() if a["name"] == name), None)

    # ---- GraphQL root fields --------------------------------------------- #
    def q_flashAppByName(self, flashAppName=None, **_):
        app = self.app_by_name(flashAppName)
        if app is None:
            raise GraphQLError(f"Flash app not found: {flashAppName}", ["flashAppByName"])
        return self.app_view(app)

    def q_flashApp(self, flashAppId=None, **_):
        app = self.apps.get(flashAppId)
        return None if app is None else self.app_view(app)

    def q_flashEnvironment(self, flashEnvironmentId=None, **_):
        env = self.envs.get(flashEnvironmentId)
        return None if env is None else self.env_view(env)

    def q_flashEnvironmentByName(self, input=None, **_):
        input = input or {}
        app = self.apps.get(input.get("flashAppId"))
        env = None
        if app is not None:
            env = next(
                (self.envs[e] for e in app["envIds"] if self.envs[e]["name"] == input.get("name")),
                None,
            )
        if env is None:
            raise GraphQLError(
                f"Flash environment not found: {input.get('name')}", ["flashEnvironmentByName"]
            )
        return self.env_view(env)

    def q_flashBuild(self, flashBuildId=None, **_):
        build = self.builds.get(flashBuildId)
        return None if build is None else self.build_view(build)

    def q_podTemplate(self, id=None, **_):
        tpl = self.templates.get(id)
        return None if tpl is None else self.template_view(tpl)

    def q_myself(self, **_):
        return {
            "__typename": "User",
            "id": USER_ID,
            "flashApps": [self.app_view(a) for a in self.apps.values()],
            "endpoints": [self.endpoint_view(e) for e in self.endpoints.values()],
            "endpoint": lambda args: (
                self.endpoint_view(self.endpoints[args["id"]])
                if args.get("id") in self.endpoints
                else None
            ),
            "secrets": [],
        }

    def q_gpuTypes(self, input=None, **_):
        return [{"id": i, "lowestPrice": lambda args: {"stockStatus": "HIGH"}}
                for i in ((input or {}).get("ids") or ["any"])]

    def q_cpuFlavors(self, input=None, **_):
        return [{"id": (input or {}).get("id"), "specifics": lambda args: {"stockStatus": "HIGH"}}]

    def m_createFlashApp(self, input=None, **_):
        name = (input or {}).get("name")
        if not name:
            raise GraphQLError("name is required", ["createFlashApp"])
        if self.app_by_name(name):
            raise GraphQLError(f"Flash app with name {name} already exists", ["createFlashApp"])
        app = {"id": self.uuid_id("app"), "name": name, "createdAt": FIXED_TIME,
               "envIds": [], "buildIds": []}
        self.apps[app["id"]] = app
        return self.app_view(app)

    def m_createFlashEnvironment(self, input=None, **_):
        input = input or {}
        app = self.apps.get(input.get("flashAppId"))
        if app is None:
            raise GraphQLError("Flash app not found", ["createFlashEnvironment"])
        if any(self.envs[e]["name"] == input.get("name") for e in app["envIds"]):
            raise GraphQLError("Flash environment already exists", ["createFlashEnvironment"])
        env = {"id": self.uuid_id("env"), "name": input.get("name"), "state": "HEALTHY",
               "activeBuildId": None, "createdAt": FIXED_TIME, "flashAppId": app["id"],
               "endpointIds": []}
        self.envs[env["id"]] = env
        app["envIds"].append(env["id"])
        return self.env_view(env)

    def m_prepareFlashArtifactUpload(self, input=None, **_):
        input = input or {}
        app = self.apps.get(input.get("flashAppId"))
        if app is None:
            raise GraphQLError("Flash app not found", ["prepareFlashArtifactUpload"])
        key = f"flash/{app['id']}/artifacts/{self.uuid_id('artifact')}.tar.gz"
        self.uploads[key] = int(input.get("tarballSize") or 0)
        return {
            "uploadUrl": f"{self.base_url}/__upload/{key}"
            "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=3600&X-Amz-Signature=golden",
            "objectKey": key,
            "expiresAt": FIXED_EXPIRY,
        }

    def m_finalizeFlashArtifactUpload(self, input=None, **_):
        input = input or {}
        app = self.apps.get(input.get("flashAppId"))
        if app is None:
            raise GraphQLError("Flash app not found", ["finalizeFlashArtifactUpload"])
        if input.get("objectKey") not in self.uploads:
            raise GraphQLError("unknown objectKey", ["finalizeFlashArtifactUpload"])
        build = {"id": self.uuid_id("build"), "manifest": input.get("manifest"),
                 "objectKey": input.get("objectKey"), "createdAt": FIXED_TIME,
                 "flashAppId": app["id"]}
        self.builds[build["id"]] = build
        app["buildIds"].append(build["id"])
        return self.build_view(build)

    def m_deployBuildToEnvironment(self, input=None, **_):
        input = input or {}
        env = self.envs.get(input.get("flashEnvironmentId"))
        build = self.builds.get(input.get("flashBuildId"))
        if env is None or build is None:
            raise GraphQLError("environment or build not found", ["deployBuildToEnvironment"])
        env["activeBuildId"] = build["id"]
        return self.env_view(env)

    def m_updateFlashBuildManifest(self, input=None, **_):
        input = input or {}
        build = self.builds.get(input.get("flashBuildId"))
        if build is None:
            raise GraphQLError("Flash build not found", ["updateFlashBuildManifest"])
        build["manifest"] = input.get("manifest")
        return self.build_view(build)

    def m_deleteFlashApp(self, flashAppId=None, **_):
        app = self.apps.pop(flashAppId, None)
        if app is None:
            raise GraphQLError("Flash app not found", ["deleteFlashApp"])
        for e in app["envIds"]:
            self.m_deleteFlashEnvironment(e)
        return True

    def m_deleteFlashEnvironment(self, flashEnvironmentId=None, **_):
        env = self.envs.pop(flashEnvironmentId, None)
        if env is None:
            raise GraphQLError("Flash environment not found", ["deleteFlashEnvironment"])
        for ep in env["endpointIds"]:
            self.endpoints.pop(ep, None)
        app = self.apps.get(env["flashAppId"])
        if app and flashEnvironmentId in app["envIds"]:
            app["envIds"].remove(flashEnvironmentId)
        return True

    def m_deleteEndpoint(self, id=None, **_):
        if self.endpoints.pop(id, None) is None:
            raise GraphQLError("Endpoint not found", ["deleteEndpoint"])
        for env in self.envs.values():
            if id in env["endpointIds"]:
                env["endpointIds"].remove(id)
        return None  # Runpod answers null (runpod_flash/core/api/runpod.py delete_endpoint)

    def _save_template(self, tpl_in: dict, template_id: Optional[str], where: str) -> dict:
        name = tpl_in.get("name")
        if not name:
            raise GraphQLError("template name is required", [where])
        clash = next((t for t in self.templates.values()
                      if t["name"] == name and t["id"] != template_id), None)
        if clash:
            raise GraphQLError(f"Template name must be unique: {name}", [where])
        tpl = self.templates.get(template_id or "") or {
            "id": self.short_id("template", 10), "name": name, "imageName": "",
            "containerDiskInGb": 64, "dockerArgs": "", "readme": "", "env": [],
            "ports": "", "startScript": "", "volumeInGb": 0, "isServerless": True,
        }
        for k, v in tpl_in.items():
            if k != "id":
                tpl[k] = v
        self.templates[tpl["id"]] = tpl
        return tpl

    def m_saveTemplate(self, input=None, **_):
        input = dict(input or {})
        if input.get("env") is None:
            raise GraphQLError("env is required", ["saveTemplate"])
        if input.get("id") and input["id"] not in self.templates:
            raise GraphQLError("Template not found", ["saveTemplate"])
        return self.template_view(self._save_template(input, input.get("id"), "saveTemplate"))

    def m_saveEndpoint(self, input=None, **_):
        input = dict(input or {})
        if input.get("template") and input.get("templateId"):
            raise GraphQLError("Provide either template or templateId, not both", ["saveEndpoint"])
        if not input.get("name"):
            raise GraphQLError("name is required", ["saveEndpoint"])
        existing = self.endpoints.get(input.get("id") or "")
        if input.get("id") and existing is None:
            raise GraphQLError("Endpoint not found", ["saveEndpoint"])
        if existing is None and not (input.get("template") or input.get("templateId")):
            raise GraphQLError("template or templateId is required", ["saveEndpoint"])
        if input.get("templateId") and input["templateId"] not in self.templates:
            raise GraphQLError("Template not found", ["saveEndpoint"])
        ep = existing or {
            "id": self.short_id("endpoint", 14), "aiKey": None, "gpuIds": "",
            "idleTimeout": 5, "locations": None, "name": None, "networkVolumeId": None,
            "networkVolumeIds": [], "flashEnvironmentId": None, "scalerType": "QUEUE_DELAY",
            "scalerValue": 4, "templateId": None, "type": "QB", "userId": USER_ID,
            "version": 0, "workersMax": 3, "workersMin": 0, "workersStandby": 0,
            "workersPFBTarget": 0, "gpuCount": 1, "allowedCudaVersions": "",
            "minCudaVersion": None, "executionTimeoutMs": 600000, "instanceIds": [],
            "activeBuildid": None, "idePodId": None, "flashBootType": "OFF",
        }
        if existing is None:
            ep["aiKey"] = "aikey-" + self.short_id("aikey", 20)
        tpl_in = input.pop("template", None)
        if tpl_in:
            tpl = self._save_template(tpl_in, ep.get("templateId"), "saveEndpoint")
            if (input.get("type") or ep["type"]) == "LB" and existing is None:
                # assumption: the platform injects PORT/PORT_HEALTH into a new LB
                # endpoint's template once (runpod_flash serverless.py
                # _preserve_platform_env docstring); the value is a guess.
                keys = {kv.get("key") for kv in tpl.get("env") or []}
                for k in ("PORT", "PORT_HEALTH"):
                    if k not in keys:
                        tpl.setdefault("env", []).append({"key": k, "value": "80"})
            ep["templateId"] = tpl["id"]
        for k, v in input.items():
            if k in ("networkVolumeIds",):
                ep[k] = [
                    {"networkVolumeId": x.get("networkVolumeId"),
                     "dataCenterId": x.get("dataCenterId")
                     or self.volumes.get(x.get("networkVolumeId"), {}).get("dataCenterId")}
                    for x in v or []
                ]
            else:
                ep[k] = v
        if existing is not None:
            ep["version"] += 1
        if ep.get("networkVolumeId") and not ep.get("networkVolumeIds"):
            vol = self.volumes.get(ep["networkVolumeId"], {})
            ep["networkVolumeIds"] = [{"networkVolumeId": ep["networkVolumeId"],
                                       "dataCenterId": vol.get("dataCenterId")}]
        self.endpoints[ep["id"]] = ep
        env = self.envs.get(ep.get("flashEnvironmentId") or "")
        if env is not None and ep["id"] not in env["endpointIds"]:
            env["endpointIds"].append(ep["id"])
        return self.endpoint_view(ep)

    def graphql(self, body: dict) -> dict:
        query = body.get("query") or ""
        variables = body.get("variables") or {}
        try:
            op_type, _name, _vars, fields = parse_operation(query)
        except GraphQLError as e:
            return {"errors": [{"message": str(e)}], "data": None}
        prefix = "m_" if op_type == "mutation" else "q_"
        data: Dict[str, Any] = {}
        errors = []
        with self.lock:
            for f in fields:
                resolver: Optional[Callable] = getattr(self, prefix + f.name, None)
                if resolver is None:
                    errors.append({"message": f'Cannot query field "{f.name}" on type '
                                              f'"{"Mutation" if prefix == "m_" else "Query"}".'})
                    continue
                try:
                    value = resolver(**_resolve_args(f.args, variables))
                    data[f.alias] = project(value, f.sub, variables)
                except GraphQLError as e:
                    errors.append({"message": str(e), "path": e.path or [f.alias]})
                    data[f.alias] = None
        out: Dict[str, Any] = {"data": data if data else None}
        if errors:
            out["errors"] = errors
        return out

    # ---- REST ------------------------------------------------------------ #
    def create_volume(self, name: str, size: int, dc: str) -> dict:
        vol = {"id": self.short_id("volume", 10), "name": name, "size": size, "dataCenterId": dc}
        self.volumes[vol["id"]] = vol
        return vol

    def rest(self, method: str, path: str, query: Dict[str, str], body: Any) -> Tuple[int, Any]:
        with self.lock:
            # runpod-flash 1.21: RUNPOD_REST_API_URL (default https://rest.runpod.io/v1)
            if path == "/v1/networkvolumes" and method == "GET":
                return 200, list(self.volumes.values())
            if path == "/v1/networkvolumes" and method == "POST":
                body = body or {}
                if not body.get("name") or not body.get("dataCenterId") or not body.get("size"):
                    return 400, {"error": "name, size and dataCenterId are required"}
                return 200, self.create_volume(body["name"], body["size"], body["dataCenterId"])
            # runpod 2.0: RUNPOD_API_BASE_URL + /v2/...
            if path == "/v2/network-volumes" and method == "GET":
                return 200, {
                    "networkVolumes": [
                        {"id": v["id"], "name": v["name"], "size": v["size"],
                         "dataCenter": v["dataCenterId"]} for v in self.volumes.values()
                    ],
                    "pagination": {"hasNextPage": False},
                }
            if path == "/v2/network-volumes" and method == "POST":
                body = body or {}
                if not body.get("name") or not body.get("dataCenter") or not body.get("size"):
                    return 400, {"title": "Bad Request",
                                 "detail": "name, size and dataCenter are required"}
                v = self.create_volume(body["name"], body["size"], body["dataCenter"])
                return 201, {"id": v["id"], "name": v["name"], "size": v["size"],
                             "dataCenter": v["dataCenterId"]}
            if path == "/v2/catalog/datacenters" and method == "GET":
                return 200, {"dataCenters": [
                    {"id": dc, "name": dc, "networkVolumeTypes": ["STANDARD"]} for dc in DATACENTERS
                ]}
            m = re.fullmatch(r"/v2/catalog/(gpus|cpus)/([^/]+)", path)
            if m and method == "GET":
                return 200, {"id": m.group(2), "dataCenters": [
                    {"id": dc, "availability": "HIGH"} for dc in DATACENTERS]}
            m = re.fullmatch(r"/v2/serverless/([^/]+)", path)
            if m and method == "DELETE":
                if self.endpoints.pop(m.group(1), None) is None:
                    return 404, {"title": "Not Found", "detail": "endpoint not found"}
                for env in self.envs.values():
                    if m.group(1) in env["endpointIds"]:
                        env["endpointIds"].remove(m.group(1))
                return 204, None
            if m and method == "GET":
                ep = self.endpoints.get(m.group(1))
                if ep is None:
                    return 404, {"title": "Not Found", "detail": "endpoint not found"}
                return 200, {"id": ep["id"], "name": ep["name"],
                             "type": "LOAD_BALANCER" if ep["type"] == "LB" else "QUEUE"}
            # data plane (RUNPOD_ENDPOINT_BASE_URL, default https://api.runpod.ai/v2)
            m = re.fullmatch(r"/v2/([^/]+)/health", path)
            if m and method == "GET":
                if m.group(1) not in self.endpoints:
                    return 404, {"error": "endpoint not found"}
                return 200, {
                    "jobs": {"completed": 0, "failed": 0, "inProgress": 0, "inQueue": 0,
                             "retried": 0},
                    "workers": {"idle": 0, "initializing": 0, "ready": 0, "running": 0,
                                "throttled": 0, "unhealthy": 0},
                }
        return 404, {"error": f"recorder: no route for {method} {path}"}

    def state(self) -> dict:
        with self.lock:
            return {"apps": self.apps, "environments": self.envs, "builds": self.builds,
                    "endpoints": self.endpoints, "templates": self.templates,
                    "volumes": self.volumes}


# --------------------------------------------------------------------------- #
# HTTP
# --------------------------------------------------------------------------- #
def operation_name(body: dict) -> Optional[str]:
    if body.get("operationName"):
        return body["operationName"]
    m = re.match(r"\s*(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)",
                 body.get("query") or "")
    return m.group(1) if m else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "golden-recorder/1"

    def log_message(self, fmt, *args):  # quiet
        if self.server.verbose:
            sys.stderr.write("recorder: " + fmt % args + "\n")

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any = None, raw: Optional[bytes] = None):
        data = raw if raw is not None else (b"" if payload is None and status == 204
                                            else json.dumps(payload).encode())
        self.send_response(status)
        if data or status != 204:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    def _record(self, parsed, body_record: Any):
        srv = self.server
        headers = {}
        for k, v in self.headers.items():
            if k.lower() in ("authorization", "x-api-key"):
                v = ("Bearer " + REDACTED) if v.lower().startswith("bearer ") else REDACTED
            headers[k] = v
        query = dict(parse_qsl(parsed.query, keep_blank_values=True))
        for k in list(query):
            if "signature" in k.lower() or "credential" in k.lower() or "token" in k.lower():
                query[k] = REDACTED
        entry = {
            "method": self.command,
            "path": parsed.path,
            "query": query,
            "headers": headers,
            "body": body_record,
        }
        srv.write(redact(entry, srv.api_key))

    def _handle(self):
        parsed = urlsplit(self.path)
        raw = self._read_body()
        srv = self.server
        if parsed.path.startswith("/__golden/"):
            return self._control(parsed.path, raw)
        if parsed.path.startswith("/__upload/") and self.command == "PUT":
            key = parsed.path[len("/__upload/"):]
            self._record(parsed, {"bytes": len(raw), "gzip": raw[:2] == b"\x1f\x8b",
                                  "objectKey": key,
                                  "sizeMatchesPrepare": srv.account.uploads.get(key) == len(raw)})
            if key not in srv.account.uploads:
                return self._send(403, raw=b"<Error><Code>AccessDenied</Code></Error>")
            try:
                gzip.decompress(raw)
            except Exception:  # noqa: BLE001 - recorded, answered like S3 would not
                pass
            return self._send(200, raw=b"")
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = {"_unparsed": raw[:200].decode("utf-8", "replace")}
        if parsed.path == "/graphql" and self.command == "POST":
            body = body or {}
            self._record(parsed, {"operationName": operation_name(body),
                                  "query": body.get("query"),
                                  "variables": body.get("variables")})
            return self._send(200, srv.account.graphql(body))
        self._record(parsed, body)
        status, payload = srv.account.rest(self.command, parsed.path,
                                           dict(parse_qsl(parsed.query)), body)
        return self._send(status, payload)

    def _control(self, path: str, raw: bytes):
        srv = self.server
        if path == "/__golden/mark":
            label = (json.loads(raw) if raw else {}).get("label")
            srv.write({"_marker": label})
            return self._send(200, {"ok": True})
        if path == "/__golden/state":
            return self._send(200, srv.account.state())
        if path == "/__golden/shutdown":
            self._send(200, {"ok": True})
            threading.Thread(target=srv.shutdown, daemon=True).start()
            return None
        return self._send(404, {"error": "unknown control path"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle


class Recorder(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, out_path: str, api_key: Optional[str], verbose: bool):
        super().__init__(("127.0.0.1", port), Handler)
        self.account = Account(f"http://127.0.0.1:{self.server_address[1]}")
        self.api_key = api_key
        self.verbose = verbose
        self._out = open(out_path, "a", encoding="utf-8")
        self._seq = 0
        self._wlock = threading.Lock()

    def write(self, entry: dict):
        with self._wlock:
            self._seq += 1
            self._out.write(json.dumps({"seq": self._seq, **entry}) + "\n")
            self._out.flush()


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", required=True, help="JSONL file to append requests to")
    ap.add_argument("--port-file", help="write the bound port here once listening")
    ap.add_argument("--api-key", help="the fake API key the clients use; redacted everywhere")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    srv = Recorder(args.port, args.out, args.api_key, args.verbose)
    if args.port_file:
        with open(args.port_file, "w", encoding="utf-8") as f:
            f.write(str(srv.server_address[1]))
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
