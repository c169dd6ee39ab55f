#!/usr/bin/env python3
"""Validate crates/flash/graphql/runpod.graphql and every recorded document against it.

Checks, for each GraphQL request in tests/fixtures/golden/**/*.json:
  * the document validates against the curated schema (fields, arguments, variable types);
  * the variables coerce to the declared variable types (input fields, nullability, enums).
Optionally (--documents DIR...) also validates other .graphql documents, e.g. the Rust
client's crates/flash/graphql/platform/*.graphql, and reports what fails.

Needs graphql-core (pip install graphql-core; e.g. in /work/venvs/golden-tools):
    /work/venvs/golden-tools/bin/python tools/golden/check_schema.py \
        [--documents crates/flash/graphql/platform crates/flash/graphql]
Exit status 1 when a recorded request does not validate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from graphql import build_schema, parse, validate
from graphql.execution.values import get_variable_values

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


# record.py replaces volatile values by placeholders; give them back a value of their type
PLACEHOLDERS = {"<tarballSize>": 1}


def restore_placeholders(value):
    if isinstance(value, dict):
        return {k: restore_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [restore_placeholders(v) for v in value]
    return PLACEHOLDERS.get(value, value) if isinstance(value, str) else value


def check_request(schema, query: str, variables: dict | None) -> list[str]:
    try:
        doc = parse(query)
    except Exception as e:  # noqa: BLE001
        return [f"parse: {e}"]
    errors = [e.message for e in validate(schema, doc)]
    if errors:
        return errors
    op = next(d for d in doc.definitions if d.kind == "operation_definition")
    coerced = get_variable_values(
        schema, op.variable_definitions or [], restore_placeholders(variables or {})
    )
    if isinstance(coerced, list):
        return [e.message for e in coerced]
    return []


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--schema", type=Path, default=REPO / "crates/flash/graphql/runpod.graphql")
    ap.add_argument("--fixtures", type=Path, default=REPO / "tests" / "fixtures" / "golden")
    ap.add_argument("--documents", type=Path, nargs="*", default=[])
    args = ap.parse_args()

    schema = build_schema(args.schema.read_text())
    failures = 0
    seen = 0
    for path in sorted(args.fixtures.glob("*/*.json")):
        for i, entry in enumerate(json.loads(path.read_text())):
            body = entry.get("body")
            if entry.get("path") != "/graphql" or not isinstance(body, dict):
                continue
            seen += 1
            errors = check_request(schema, body.get("query") or "", body.get("variables"))
            if errors:
                failures += 1
                print(f"FAIL {path.relative_to(args.fixtures)}[{i}] {body.get('operationName')}:")
                for e in errors:
                    print(f"     {e}")
    print(f"recorded requests: {seen} checked, {failures} failed")

    for d in args.documents:
        files = sorted(d.glob("*.graphql")) if d.is_dir() else [d]
        for f in files:
            if f.name == "runpod.graphql":
                continue
            errors = [e.message for e in validate(schema, parse(f.read_text()))]
            status = "ok  " if not errors else "FAIL"
            print(f"{status} {f}")
            for e in errors:
                print(f"     {e}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
