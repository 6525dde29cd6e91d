"""Rebuild ocsf-1.1.0.json, the OCSF schema snapshot the OCSF tests validate against.

Run by hand (never by the tests, which read only the committed file) after a
class is added to `audit_queries.ocsf.CLASSES` or its profiles change:

    .venv/bin/pip install ocsf-json-schema==1.2.0
    .venv/bin/python -m tests.audit_queries.ocsf_golden.regenerate

ocsf-json-schema (MIT) packages the OCSF schema exports (Apache-2.0, see
LICENSE in this directory) and turns a class into a JSON Schema (draft
2020-12) with every object it uses. The snapshot keeps, for the classes
Strongroom emits: each class's JSON Schema (with the profiles its records
declare), the objects they use (once), and OCSF's captions for the enums the
mapping names (class, category, activity, status, severity).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from audit_queries.ocsf import CLASSES, OCSF_VERSION

HERE = Path(__file__).parent
SNAPSHOT = HERE / f"ocsf-{OCSF_VERSION}.json"


def captions(attribute: dict[str, Any]) -> dict[str, str]:
    return {key: value["caption"] for key, value in attribute.get("enum", {}).items()}


def build() -> dict[str, Any]:
    export = get_ocsf_schema(version=OCSF_VERSION)
    generator = OcsfJsonSchemaEmbedded(export)
    objects: dict[str, Any] = {}
    classes: dict[str, Any] = {}
    for ocsf_class in CLASSES:
        schema = generator.get_class_schema(ocsf_class.key, list(ocsf_class.profiles))
        for name, definition in schema.pop("$defs", {}).items():
            if objects.setdefault(name, definition) != definition:
                raise SystemExit(f"object {name} differs between classes: keep them apart")
        attributes = export["classes"][ocsf_class.key]["attributes"]
        category = next(iter(attributes["category_uid"]["enum"].items()))
        classes[ocsf_class.key] = {
            "uid": export["classes"][ocsf_class.key]["uid"],
            "caption": export["classes"][ocsf_class.key]["caption"],
            "category_uid": int(category[0]),
            "category_caption": category[1]["caption"],
            "profiles": list(ocsf_class.profiles),
            "activity_id": captions(attributes["activity_id"]),
            "status_id": captions(attributes["status_id"]),
            "severity_id": captions(attributes["severity_id"]),
            "schema": schema,
        }
    return {"ocsf_version": export["version"], "classes": classes, "objects": objects}


if __name__ == "__main__":
    SNAPSHOT.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT} ({SNAPSHOT.stat().st_size} bytes)")
