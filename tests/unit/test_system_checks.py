from __future__ import annotations

from pathlib import Path

from django.core.checks import CheckMessage
from django.test import override_settings

from sandbox import checks


def ids(messages: list[CheckMessage]) -> list[str | None]:
    return [m.id for m in messages]


@override_settings(DEBUG=False, SECRET_KEY_SET=False)
def test_it_refuses_to_run_without_a_secret_key_outside_debug() -> None:
    assert ids(checks.check_secret_key(None)) == ["sandbox.E001"]


@override_settings(DEBUG=True, SECRET_KEY_SET=False)
def test_it_allows_the_development_key_in_debug() -> None:
    assert checks.check_secret_key(None) == []


@override_settings(CHANNEL_LAYER="kafka")
def test_it_rejects_an_unknown_channel_layer() -> None:
    assert ids(checks.check_channel_layer(None)) == ["sandbox.E002"]


@override_settings(CHANNEL_LAYER="memory", DEBUG=False)
def test_it_warns_about_the_in_memory_layer_in_production() -> None:
    assert ids(checks.check_channel_layer(None)) == ["sandbox.W001"]


@override_settings(REDIS_URL="localhost:6379")
def test_it_rejects_a_redis_url_without_a_scheme() -> None:
    assert ids(checks.check_redis_url(None)) == ["sandbox.E003"]


def test_it_warns_when_the_kubeconfig_is_missing(tmp_path: Path) -> None:
    with override_settings(CLUSTER_KUBECONFIG=tmp_path / "absent"):
        assert ids(checks.check_kubeconfig(None)) == ["sandbox.W002"]
    present = tmp_path / "kubeconfig"
    present.write_text("apiVersion: v1\n")
    with override_settings(CLUSTER_KUBECONFIG=present):
        assert checks.check_kubeconfig(None) == []
