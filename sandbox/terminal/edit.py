"""What `kubectl edit` puts in the student's editor: the object as they can change and apply it.

Real `kubectl edit` sends only the difference between what it showed and what was saved, so a
controller updating the object meanwhile (a Deployment's status, a kubelet's Pod status) does
not matter. Here the student applies the whole saved file with `kubectl apply -f`, and a file
that still carries `metadata.resourceVersion` is refused ("the object has been modified") as
soon as anything touched the object, which on a real node happens within a second. So the
fields the server owns leave the file, as `kubectl apply` expects of a file a person writes.
"""

from __future__ import annotations

from typing import Any

import yaml

# Server-owned: the API server sets them, a file that names them only invites conflicts.
SERVER_METADATA = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")
# `kubectl apply` writes this annotation itself; the student need not scroll past a copy of the
# whole object to reach the fields they came to change.
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

HEADER = (
    "# Change the object below and save it (Ctrl-S), then run: kubectl apply -f {name}\n"
    "# Fields the server manages (status, resourceVersion, uid…) were left out on purpose.\n"
)


def editable(document: str, name: str) -> str:
    """The YAML of `kubectl get … -o yaml` without the fields the server owns, under a header.

    A `List` (several objects named at once) is cleaned item by item. Text that is not a
    mapping is returned unchanged: the student still gets what kubectl printed.
    """
    try:
        data = yaml.safe_load(document)
    except yaml.YAMLError:
        return document
    if not isinstance(data, dict):
        return document
    items = data.get("items") if data.get("kind") == "List" else None
    if isinstance(items, list):
        data.pop("metadata", None)
        data["items"] = [_clean(item) for item in items]
    else:
        data = _clean(data)
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    return HEADER.format(name=name) + body


def _clean(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    obj = dict(obj)
    obj.pop("status", None)
    metadata = obj.get("metadata")
    if isinstance(metadata, dict):
        metadata = {key: value for key, value in metadata.items() if key not in SERVER_METADATA}
        annotations = metadata.get("annotations")
        if isinstance(annotations, dict):
            annotations = {key: value for key, value in annotations.items() if key != LAST_APPLIED}
            if annotations:
                metadata["annotations"] = annotations
            else:
                metadata.pop("annotations")
        obj["metadata"] = metadata
    return obj
