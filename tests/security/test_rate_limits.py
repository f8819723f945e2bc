"""Sign-ups per address, failed logins per account and per address, and sandbox starts per
student: each refused with HTTP 429, a Retry-After that says when, and a sentence in the
student's language. Real PostgreSQL; nothing here needs the cluster (a refused start never
reaches it)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import AsyncClient, Client
from django.utils import timezone

from accounts.models import Signup
from lessons import loader
from sandbox.models import Sandbox, State
from tests.conftest import run_async
from tests.unit.test_lesson_format import make

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
ZH: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


def sign_up(client: Client, username: str, **extra: Any) -> Any:
    data = {"username": username, "email": "", "password1": "a-long-passphrase-7", "password2": "a-long-passphrase-7"}
    return client.post("/accounts/signup/", data, **extra)


def log_in(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def retry_after(response: Any) -> int:
    return int(response["Retry-After"])


# --- sign-ups per client address ----------------------------------------------------------------


@pytest.fixture
def two_signups(settings: Any) -> None:
    settings.SIGNUP_LIMIT = 2
    settings.SIGNUP_WINDOW_MINUTES = 60


@pytest.mark.usefixtures("two_signups")
def test_it_refuses_a_third_signup_from_one_address_until_the_window_lets_one_out() -> None:
    for name in ("s1", "s2"):
        assert sign_up(Client(REMOTE_ADDR="203.0.113.7"), name).status_code == 302
    refused = sign_up(Client(REMOTE_ADDR="203.0.113.7"), "s3")
    assert refused.status_code == 429
    assert 3540 < retry_after(refused) <= 3600
    page = refused.content.decode()
    assert "Too many accounts were created from your network recently." in page
    assert "Try again in 60 minutes." in page
    assert not User.objects.filter(username="s3").exists()
    # Another address is not affected.
    assert sign_up(Client(REMOTE_ADDR="198.51.100.9"), "other").status_code == 302
    # The oldest sign-up leaves the window: Retry-After counts from it, and then one more fits.
    oldest = Signup.objects.filter(address="203.0.113.7").order_by("created_at").first()
    assert oldest is not None
    Signup.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=50))
    assert 590 < retry_after(sign_up(Client(REMOTE_ADDR="203.0.113.7"), "s3")) <= 600
    Signup.objects.filter(pk=oldest.pk).update(created_at=timezone.now() - timedelta(minutes=61))
    assert sign_up(Client(REMOTE_ADDR="203.0.113.7"), "s3").status_code == 302
    assert not Signup.objects.filter(pk=oldest.pk).exists()  # no address kept past the window


@pytest.mark.usefixtures("two_signups")
def test_it_says_so_in_chinese() -> None:
    for name in ("s1", "s2"):
        sign_up(Client(REMOTE_ADDR="203.0.113.7"), name)
    refused = sign_up(Client(REMOTE_ADDR="203.0.113.7"), "s3", **ZH)
    assert refused.status_code == 429
    assert "Retry-After" in refused
    page = refused.content.decode()
    assert "最近从你所在的网络创建的账号太多了。" in page
    assert "请在60 分钟后再试。" in page


@pytest.mark.usefixtures("two_signups")
def test_a_forged_forwarded_for_header_does_not_escape_the_limit_without_proxies(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    for number in range(3):
        client = Client(REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR=f"10.0.0.{number}")
        expected = 302 if number < 2 else 429
        assert sign_up(client, f"s{number}").status_code == expected


@pytest.mark.usefixtures("two_signups")
def test_behind_one_proxy_the_address_it_saw_counts_and_forged_entries_do_not(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "192.0.2.1"
    # Two students behind the proxy have their own counts.
    for name in ("a1", "a2"):
        assert sign_up(Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.7"), name).status_code == 302
    assert sign_up(Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.9"), "b1").status_code == 302
    # A client's own X-Forwarded-For entry is left of the one the proxy appended: ignored.
    forged = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.7")
    assert sign_up(forged, "a3").status_code == 429


# --- failed logins --------------------------------------------------------------------------------


@pytest.fixture
def lockout(settings: Any) -> None:
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS = 5
    settings.LOGIN_LOCKOUT_MINUTES = 15


@pytest.mark.usefixtures("lockout")
def test_it_locks_an_account_after_its_failures_and_the_lock_expires(student: User) -> None:
    for _ in range(2):
        assert log_in(Client(REMOTE_ADDR=f"203.0.113.{_}"), "alice", "wrong").status_code == 200
    locked = log_in(Client(REMOTE_ADDR="203.0.113.3"), "alice", "wrong")
    assert locked.status_code == 429
    assert 890 < retry_after(locked) <= 900
    page = locked.content.decode()
    assert "Too many failed logins for this account or from your network." in page
    assert "Try again in 15 minutes." in page
    assert 'id="id_username"' in page  # the login form is still there
    # Now even the right password is refused, from any address, without being checked.
    client = Client(REMOTE_ADDR="198.51.100.9")
    refused = log_in(client, "alice", PASSWORD)
    assert refused.status_code == 429
    assert client.get("/lessons/").status_code == 302  # not logged in
    # The lockout ends LOGIN_LOCKOUT_MINUTES after the failure that caused it.
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, "alice", PASSWORD).status_code == 302
    assert client.get("/lessons/").status_code == 200


@pytest.mark.usefixtures("lockout")
def test_guesses_during_a_lockout_do_not_extend_it(student: User) -> None:
    for _ in range(3):
        log_in(Client(), "alice", "wrong")
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=10))
    again = log_in(Client(), "alice", "wrong")
    assert again.status_code == 429
    assert 290 < retry_after(again) <= 300  # still counted from the failure that locked it


@pytest.mark.usefixtures("lockout")
def test_it_locks_an_address_that_guesses_across_accounts(student: User) -> None:
    User.objects.create_user("bob", password=PASSWORD)
    attacker = "203.0.113.66"
    answers = [log_in(Client(REMOTE_ADDR=attacker), name, "wrong").status_code for name in ("x", "y", "z", "w")]
    assert answers == [200, 200, 200, 200]  # no account reached 3
    locked = log_in(Client(REMOTE_ADDR=attacker), "v", "wrong")
    assert locked.status_code == 429  # the address reached 5
    assert 890 < retry_after(locked) <= 900
    # The address cannot log in to any account now; everyone elsewhere can.
    assert log_in(Client(REMOTE_ADDR=attacker), "bob", PASSWORD).status_code == 429
    assert log_in(Client(REMOTE_ADDR="198.51.100.9"), "bob", PASSWORD).status_code == 302


@pytest.mark.usefixtures("lockout")
def test_a_successful_login_forgets_its_own_accounts_failures_only(student: User) -> None:
    User.objects.create_user("bob", password=PASSWORD)
    address = "203.0.113.5"
    for name in ("alice", "alice", "bob", "bob"):
        log_in(Client(REMOTE_ADDR=address), name, "wrong")
    assert log_in(Client(REMOTE_ADDR=address), "alice", PASSWORD).status_code == 302
    assert not AccessAttempt.objects.filter(username="alice").exists()
    # Bob's two failures from this address still count: three more (on other accounts) make 5.
    answers = [log_in(Client(REMOTE_ADDR=address), name, "wrong").status_code for name in ("c", "d", "e")]
    assert answers == [200, 200, 429]


@pytest.mark.usefixtures("lockout")
def test_the_lockout_page_speaks_chinese(student: User) -> None:
    for _ in range(2):
        log_in(Client(), "alice", "wrong")
    locked = log_in(Client(), "alice", "wrong", **ZH)
    assert locked.status_code == 429
    assert "Retry-After" in locked
    page = locked.content.decode()
    assert "这个账号或你所在的网络登录失败的次数太多了。" in page
    assert "请在15 分钟后再试。" in page


@pytest.mark.django_db(transaction=True)  # the async client's requests run in another thread
@pytest.mark.usefixtures("lockout")
def test_the_async_path_the_server_runs_answers_the_same(student: User) -> None:
    """Under daphne the middleware runs async, where django-axes calls the lockout answer
    with other arguments than on the sync path."""

    async def scenario() -> list[Any]:
        client = AsyncClient()
        data = {"username": "alice", "password": "wrong"}
        return [await client.post("/accounts/login/", data) for _ in range(3)]

    answers = run_async(scenario)
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert 890 < retry_after(answers[-1]) <= 900
    assert "Too many failed logins" in answers[-1].content.decode()
    assert AccessAttempt.objects.get().ip_address == "127.0.0.1"  # the ASGI scope's peer


@pytest.mark.usefixtures("lockout")
def test_the_admin_login_is_limited_too_and_still_works(admin_user: User) -> None:
    client = Client()
    ok = client.post("/admin/login/", {"username": "ada", "password": PASSWORD, "next": "/admin/"})
    assert ok.status_code == 302
    assert client.get("/admin/").status_code == 200
    for _ in range(2):
        assert Client().post("/admin/login/", {"username": "ada", "password": "wrong"}).status_code == 200
    assert Client().post("/admin/login/", {"username": "ada", "password": "wrong"}).status_code == 429


def test_a_new_student_is_logged_in_after_signing_up_with_the_limits_on(client: Client) -> None:
    assert sign_up(client, "newbie").status_code == 302
    assert client.get("/lessons/").status_code == 200


def test_logins_without_a_request_still_work(student: User) -> None:
    """The test client's login() and management code authenticate without a request; the
    lockout has nothing to count there and steps aside."""
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    assert client.get("/lessons/").status_code == 200
    assert not Client().login(username="alice", password="wrong")


# --- sandbox starts per student -----------------------------------------------------------------


def ended_starts(user: User, minutes_ago: list[int]) -> None:
    now = timezone.now()
    for ago in minutes_ago:
        Sandbox.objects.create(
            owner=user,
            namespace=f"hl-ended-{uuid.uuid4().hex[:8]}",
            state=State.DELETED,
            claimed_at=now - timedelta(minutes=ago),
            ended_at=now,
        )


@pytest.fixture
def two_starts(settings: Any) -> None:
    settings.SANDBOX_START_LIMIT = 2
    settings.SANDBOX_START_WINDOW_MINUTES = 60


@pytest.mark.usefixtures("two_starts")
def test_it_refuses_a_start_over_the_students_limit_as_json(client: Client, student: User) -> None:
    ended_starts(student, [40, 10])
    client.force_login(student)
    refused = client.post("/sandbox/start")
    assert refused.status_code == 429
    assert 1190 < retry_after(refused) <= 1200  # the start 40 minutes ago leaves in 20
    body = refused.json()
    assert body["state"] == "limited"
    assert body["error"] == "You started 2 sandboxes in the last 60 minutes. Try again in 20 minutes."
    assert not Sandbox.objects.filter(owner=student, state__in=("requested", "ready")).exists()
    zh = client.post("/sandbox/start", **ZH).json()
    assert zh["error"] == "你在过去 60 分钟内已经启动了 2 个沙箱。 请在20 分钟后再试。"


@pytest.mark.usefixtures("two_starts")
def test_starts_older_than_the_window_do_not_count_and_a_live_sandbox_is_not_a_start(
    client: Client, student: User
) -> None:
    ended_starts(student, [61, 70, 90])
    live = Sandbox.objects.create(
        owner=student, namespace="hl-livealice", state=State.READY, claimed_at=timezone.now(), node_port=30999
    )
    ended_starts(student, [5])  # with the live one: two in the window
    client.force_login(student)
    again = client.post("/sandbox/start")
    assert again.status_code == 200
    assert again.json()["namespace"] == live.namespace


@pytest.fixture
def lesson(tmp_path: Path, settings: Any) -> None:
    settings.LESSONS_DIR = tmp_path
    make(tmp_path)
    assert not loader.load().problems


@pytest.mark.usefixtures("two_starts", "lesson")
def test_the_lesson_pages_start_is_limited_too(client: Client, student: User) -> None:
    ended_starts(student, [30, 20])
    client.force_login(student)
    as_json = client.post("/lessons/demo/start", HTTP_ACCEPT="application/json")
    assert as_json.status_code == 429
    assert 1790 < retry_after(as_json) <= 1800
    assert as_json.json()["state"] == "limited"
    assert as_json.json()["error"].endswith("Try again in 30 minutes.")
    # The plain form (replacing a sandbox) gets a page that says why, in the student's language.
    as_form = client.post("/lessons/demo/start", {"replace": "1"}, **ZH)
    assert as_form.status_code == 429
    assert "Retry-After" in as_form
    page = as_form.content.decode()
    assert "你在过去 60 分钟内已经启动了 2 个沙箱。" in page
    assert 'href="/lessons/demo/"' in page
    assert not Sandbox.objects.filter(owner=student, state__in=("requested", "ready")).exists()
