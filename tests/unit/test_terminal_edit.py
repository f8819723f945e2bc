"""`kubectl edit`'s file: what the server owns leaves it, what the student may change stays."""

from __future__ import annotations

import yaml

from sandbox.terminal.edit import editable

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    deployment.kubernetes.io/revision: "1"
    kubectl.kubernetes.io/last-applied-configuration: |
      {"apiVersion":"apps/v1","kind":"Deployment"}
  creationTimestamp: "2026-12-04T20:11:41Z"
  generation: 1
  labels:
    app: web
  managedFields:
  - manager: kubectl-create
  name: web
  namespace: sbx-ada
  resourceVersion: "4242"
  uid: 0b8e4a4e-0000-0000-0000-000000000000
spec:
  replicas: 1
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
status:
  replicas: 1
"""


def test_server_owned_fields_leave_and_the_rest_stays_in_order() -> None:
    text = editable(DEPLOYMENT, "edit-deployment-web.yaml")
    assert text.startswith("# Change the object below")
    assert "kubectl apply -f edit-deployment-web.yaml" in text.splitlines()[0]
    data = yaml.safe_load(text)
    assert list(data) == ["apiVersion", "kind", "metadata", "spec"]
    assert data["metadata"] == {
        "annotations": {"deployment.kubernetes.io/revision": "1"},
        "labels": {"app": "web"},
        "name": "web",
        "namespace": "sbx-ada",
    }
    assert data["spec"]["replicas"] == 1
    assert data["spec"]["template"]["spec"]["containers"] == [{"image": "nginx", "name": "nginx"}]


def test_a_list_is_cleaned_item_by_item_and_empty_annotations_go() -> None:
    document = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": ""},
            "items": [
                {
                    "kind": "ConfigMap",
                    "metadata": {
                        "name": f"c{i}",
                        "resourceVersion": str(i),
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                    },
                    "data": {"k": "v"},
                }
                for i in range(2)
            ],
        }
    )
    data = yaml.safe_load(editable(document, "edit-x.yaml"))
    assert "metadata" not in data
    assert [item["metadata"] for item in data["items"]] == [{"name": "c0"}, {"name": "c1"}]
    assert data["items"][0]["data"] == {"k": "v"}


def test_text_that_is_not_an_object_is_left_as_kubectl_printed_it() -> None:
    assert editable("just words", "edit-x.yaml") == "just words"
    assert editable("a: [unclosed", "edit-x.yaml") == "a: [unclosed"
