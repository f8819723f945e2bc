"""What the live picture shows of a Pod that does not run: the reason kubectl's STATUS column
gives (ErrImagePull, CrashLoopBackOff, OOMKilled...) and the runtime's message."""

from __future__ import annotations

from typing import Any

from sandbox.liveview.events import compact


def pod(*statuses: dict[str, Any], deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "web", "namespace": "sb-1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "web", "image": "nginx"}]},
        "status": {"phase": "Pending", "containerStatuses": list(statuses)},
    }


def test_a_pull_that_failed_is_named_with_its_message() -> None:
    waiting = {"reason": "ErrImagePull", "message": 'failed to pull image "nginx": no such host'}
    shown = compact("Pod", pod({"state": {"waiting": waiting}, "restartCount": 0}))
    assert (shown["problem"], shown["problemMessage"]) == ("ErrImagePull", 'failed to pull image "nginx": no such host')


def test_a_crash_loop_says_why_the_last_run_ended() -> None:
    status = {
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": ""}},
        "lastState": {"terminated": {"reason": "Error", "message": "UnknownHostException: mysql"}},
        "restartCount": 3,
    }
    shown = compact("Pod", pod(status))
    assert (shown["problem"], shown["problemMessage"], shown["restarts"]) == (
        "CrashLoopBackOff",
        "UnknownHostException: mysql",
        3,
    )
    oom = compact("Pod", pod({"state": {"terminated": {"reason": "OOMKilled"}}}))
    assert oom["problem"] == "OOMKilled"


def test_starting_finished_and_leaving_pods_have_no_problem() -> None:
    assert compact("Pod", pod({"state": {"waiting": {"reason": "ContainerCreating"}}}))["problem"] is None
    assert compact("Pod", pod({"state": {"running": {}}}))["problem"] is None
    assert compact("Pod", pod({"state": {"terminated": {"reason": "Completed"}}}))["problem"] is None
    leaving = pod({"state": {"waiting": {"reason": "ErrImagePull"}}}, deleting=True)
    assert compact("Pod", leaving)["problem"] is None


def test_an_evicted_pod_says_why_from_its_own_status() -> None:
    evicted = pod({"state": {"terminated": {"reason": "ContainerStatusUnknown"}}})
    evicted["status"] |= {
        "phase": "Failed",
        "reason": "Evicted",
        "message": "Pod ephemeral local storage usage exceeds the total limit of containers 256Mi.",
    }
    shown = compact("Pod", evicted)
    assert shown["phase"] == "Failed"
    assert shown["problem"] == "Evicted"
    assert "256Mi" in shown["problemMessage"]
