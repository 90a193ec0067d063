"""Access (tokens, the browser's session cookie), headers, CORS, body limits and allowed data roots."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from backend.access.security import COOKIE
from backend.main import create_app
from backend.migrate import prestart
from backend.models import BrowserSession
from contrastlab.core.settings import Settings
from tests.conftest import migrated_sqlite

TOKENS = "first-token,second-token"


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator:
    apps = []

    def make(**overrides: object) -> TestClient:
        config = Settings(data_dir=tmp_path / "data", database_url="", redis_url="", broker_url="",
                          **overrides)  # type: ignore[arg-type]
        migrated_sqlite(config.data_dir)
        prestart(config)
        app = create_app(config)
        apps.append(app)
        return TestClient(app, base_url="http://localhost", headers={"X-Requested-With": "tests"})

    yield make
    for app in apps:
        app.state.engine.dispose()


def test_every_api_route_but_health_needs_a_token(make_client) -> None:
    client = make_client(api_token=TOKENS)
    for method, path in [("GET", "/api/runs"), ("POST", "/api/runs"), ("GET", "/api/runs/1"),
                         ("GET", "/api/runs/1/events"), ("GET", "/api/schema/run-spec"),
                         ("GET", "/api/schema/catalog"),
                         ("PUT", "/api/runs/1/artifacts/x.bin"), ("POST", "/api/runs/1/claim")]:
        response = client.request(method, path)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"] == "Bearer" and "API_TOKEN" in response.json()["detail"]
    assert client.get("/api/runs", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/api/runs", headers={"Authorization": "Basic first-token"}).status_code == 401
    for token in TOKENS.split(","):
        assert client.get("/api/runs", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/api/health").json()["auth"] is True
    assert client.get("/").status_code == 200  # the page itself loads, then asks for the token


def test_browser_logs_in_once_and_its_cookie_works_where_headers_cannot_go(make_client) -> None:
    client = make_client(api_token=TOKENS)
    assert client.post("/api/login", json={"token": "wrong"}).status_code == 401
    response = client.post("/api/login", json={"token": "second-token"})
    assert response.status_code == 200 and response.json() == {"authenticated": True, "required": True}
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "second-token" not in cookie
    assert "Max-Age=86400" in cookie  # SESSION_HOURS, 24 by default
    assert client.get("/api/runs").status_code == 200  # the cookie alone
    run = client.post("/api/runs", json={"epochs": 1}).json()
    client.post(f"/api/runs/{run['id']}/cancel")
    assert client.get(f"/api/runs/{run['id']}/events").status_code == 200  # what EventSource does
    client.post("/api/logout")
    assert client.get("/api/runs").status_code == 401
    client.cookies.set(COOKIE, "forged")
    assert client.get("/api/runs").status_code == 401


def test_without_a_token_everything_is_open_and_the_openapi_document_says_which_need_one(make_client) -> None:
    open_client = make_client()
    assert open_client.get("/api/runs").status_code == 200
    assert "securitySchemes" not in open_client.get("/openapi.json").json().get("components", {})
    document = make_client(api_token=TOKENS).get("/openapi.json").json()
    assert document["paths"]["/api/runs"]["get"]["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/api/health"]["get"]
    both = make_client(api_token=TOKENS, worker_token="w-token").get("/openapi.json").json()
    assert set(both["components"]["securitySchemes"]) == {"bearer", "worker"}
    assert both["paths"]["/api/runs/{run_id}/claim"]["post"]["security"] == [{"worker": []}]
    assert both["paths"]["/api/runs/{run_id}/artifacts/{name}"]["put"]["security"] == [{"worker": []}]
    assert both["paths"]["/api/runs/{run_id}"]["get"]["security"] == [{"bearer": []}, {"worker": []}]
    assert both["paths"]["/api/runs"]["post"]["security"] == [{"bearer": []}]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.org"])
def test_refuses_to_serve_other_machines_without_a_token(host: str) -> None:
    with pytest.raises(ValidationError, match="API_TOKEN is empty"):
        Settings(host=host, api_token="")
    assert Settings(host=host, api_token="t").tokens == ("t",)
    assert Settings(host=host, allow_no_token=True).tokens == ()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    assert Settings(host=host).host == host


def test_security_headers_and_no_cors_by_default(make_client) -> None:
    client = make_client()
    for path in ("/", "/api/health", "/static/js/api.js"):
        headers = client.get(path, headers={"Origin": "https://evil.example"}).headers
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in headers["content-security-policy"].split(";"))
        assert set(directives["script-src"].split()) <= {"'self'", "'unsafe-eval'"}  # no inline, no other site
        assert headers["referrer-policy"] == "same-origin"
        assert "access-control-allow-origin" not in headers
    preflight = client.options("/api/runs", headers={"Origin": "https://evil.example",
                                                     "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    allowed = make_client(cors_origins="https://lab.example").options(
        "/api/runs", headers={"Origin": "https://lab.example", "Access-Control-Request-Method": "POST"})
    assert allowed.headers["access-control-allow-origin"] == "https://lab.example"


def test_bodies_over_their_limit_are_413_naming_the_setting(make_client) -> None:
    client = make_client(max_body_bytes=4096, max_batch_bytes=64 * 1024, max_artifact_bytes=8192)
    run = client.post("/api/runs", json={"epochs": 1}).json()
    big = client.post("/api/runs", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"})
    assert big.status_code == 413 and "MAX_BODY_BYTES" in big.json()["detail"]
    chunked = client.post("/api/runs", content=iter([b" " * 3000, b" " * 3000]),
                          headers={"content-type": "application/json"})
    assert chunked.status_code == 413
    claim = client.post(f"/api/runs/{run['id']}/claim", json={"worker": "w"}).json()
    lease = {"X-Lease-Secret": claim["lease_secret"]}
    points = [{"key": f"m{i}:loss", "name": "loss", "step": i, "epoch": 0.0, "value": 1.0} for i in range(1, 200)]
    batch = {"worker": "w", "attempt": claim["attempt"], "points": points}
    assert client.post(f"/api/runs/{run['id']}/events", json=batch, headers=lease).status_code == 200  # ~20 KB
    batch["points"] = points * 20
    too_many = client.post(f"/api/runs/{run['id']}/events", json=batch)
    assert too_many.status_code == 413 and "MAX_BATCH_BYTES" in too_many.json()["detail"]
    assert client.put(f"/api/runs/{run['id']}/artifacts/a.bin", content=b"x" * 8000, headers=lease).status_code == 201
    upload = client.put(f"/api/runs/{run['id']}/artifacts/b.bin", content=iter([b"x" * 6000, b"x" * 6000]),
                        headers=lease)
    assert upload.status_code == 413 and "MAX_ARTIFACT_BYTES" in upload.json()["detail"]
    assert not list((client.app.state.settings.artifacts_dir / str(run["id"])).glob("*b.bin*"))


def test_image_folder_only_from_allowed_roots(make_client, tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    (root / "pets").mkdir(parents=True)
    (root / "escape").symlink_to("/etc")
    client = make_client(allowed_data_roots=f"{root},/nonexistent/other")

    def submit(path: str) -> tuple[int, object]:
        response = client.post("/api/runs", json={"dataset": "image_folder", "data_path": path, "epochs": 1})
        return response.status_code, response.json()

    assert submit(str(root / "pets"))[0] == 201
    for bad in ("/etc", str(root / "pets" / ".." / ".." / "x"), str(root / "escape"), "pets", "/root"):
        status, body = submit(bad)
        assert status == 422, bad
        assert body["detail"][0]["loc"] == ["body", "data_path"]  # type: ignore[index]
    group = client.post("/api/runs/group", json={"spec": {"dataset": "image_folder", "data_path": "/etc",
                                                          "epochs": 1}, "seeds": [0, 1]})
    assert group.status_code == 422 and group.json()["detail"][0]["loc"] == ["body", "spec", "data_path"]
    status, body = make_client_without_roots(make_client)
    assert status == 422 and "ALLOWED_DATA_ROOTS" in body["detail"][0]["msg"]


def make_client_without_roots(make_client) -> tuple[int, dict]:
    response = make_client().post("/api/runs", json={"dataset": "image_folder", "data_path": "/data/x", "epochs": 1})
    return response.status_code, response.json()


def test_wrong_tokens_from_one_address_get_429_until_a_minute_has_passed(make_client, monkeypatch) -> None:
    from backend.access import security

    clock = [1000.0]
    monkeypatch.setattr(security.time, "monotonic", lambda: clock[0])
    client = make_client(api_token=TOKENS, auth_failures_per_minute=3)
    good, bad = {"Authorization": "Bearer first-token"}, {"Authorization": "Bearer guess"}
    for _ in range(5):
        assert client.get("/api/runs").status_code == 401  # no token at all (a page before login): not a guess
    assert client.post("/api/login", json={"token": "guess"}).status_code == 401
    assert client.get("/api/runs", headers=bad).status_code == 401
    clock[0] += 10
    for _ in range(5):  # a stale or forged session cookie is not a guess (a page whose session ended)
        assert client.get("/api/runs", headers={"Cookie": f"{COOKIE}=forged"}).status_code == 401
    assert client.get("/api/runs", headers=bad).status_code == 401  # the third

    # Now every token from this address waits, the right one too: else guessing would go on at full speed.
    for attempt in (lambda: client.get("/api/runs", headers=good),
                    lambda: client.post("/api/login", json={"token": "first-token"})):
        response = attempt()
        assert response.status_code == 429 and response.headers["retry-after"] == "50"
        assert "AUTH_FAILURES_PER_MINUTE=3" in response.json()["detail"]
    assert client.get("/api/health").status_code == 200
    other = TestClient(client.app, base_url="http://localhost",
                       headers={"X-Requested-With": "tests"}, client=("10.1.2.3", 4000))
    assert other.get("/api/runs", headers=good).status_code == 200  # another address is not held back

    clock[0] += 50  # the first failure is a minute old: one more try is allowed
    assert client.get("/api/runs", headers=good).status_code == 200


def test_no_failure_limit_when_set_to_zero(make_client) -> None:
    client = make_client(api_token=TOKENS, auth_failures_per_minute=0)
    for _ in range(50):
        assert client.get("/api/runs", headers={"Authorization": "Bearer guess"}).status_code == 401
    assert client.get("/api/runs", headers={"Authorization": "Bearer second-token"}).status_code == 200


WORKER = {"Authorization": "Bearer worker-token"}
USER = {"Authorization": "Bearer first-token"}


def test_with_worker_token_a_users_token_cannot_claim_or_report(make_client) -> None:
    client = make_client(api_token=TOKENS, worker_token="worker-token,spare-worker-token")
    rid = client.post("/api/runs", json={"epochs": 1}, headers=USER).json()["id"]
    refused = client.post(f"/api/runs/{rid}/claim", json={"worker": "w"}, headers=USER)
    assert refused.status_code == 403 and "WORKER_TOKEN" in refused.json()["detail"]
    assert client.post("/api/login", json={"token": "first-token"}).status_code == 200  # the page's cookie
    assert client.post(f"/api/runs/{rid}/claim", json={"worker": "w"}).status_code == 403
    client.cookies.clear()
    for headers in ({}, {"Authorization": "Bearer guess"}):
        unknown = client.post(f"/api/runs/{rid}/claim", json={"worker": "w"}, headers=headers)
        assert unknown.status_code == 401 and "WORKER_TOKEN" in unknown.json()["detail"]
    assert client.get(f"/api/runs/{rid}", headers=USER).json()["status"] == "queued"

    grant = client.post(f"/api/runs/{rid}/claim", json={"worker": "w"}, headers=WORKER).json()
    lease = {**WORKER, "X-Lease-Secret": grant["lease_secret"]}
    report = {"worker": "w", "attempt": 1}
    # With the lease secret but a user's token: still not a worker.
    assert client.post(f"/api/runs/{rid}/events", json=report,
                       headers={**lease, **USER}).status_code == 403
    assert client.put(f"/api/runs/{rid}/artifacts/encoder.safetensors", content=b"w",
                      headers={**lease, **USER}).status_code == 403
    assert client.post(f"/api/runs/{rid}/events", json=report, headers=lease).status_code == 200
    assert client.put(f"/api/runs/{rid}/artifacts/encoder.safetensors", content=b"w", headers=lease).status_code == 201
    # What a worker reads: the run and its artifacts (a resume.pt, init_from_run's encoder); nothing else.
    assert client.get(f"/api/runs/{rid}", headers=WORKER).status_code == 200
    assert client.get(f"/api/runs/{rid}/artifacts/encoder.safetensors", headers=WORKER).content == b"w"
    for method, path in [("GET", "/api/runs"), ("POST", f"/api/runs/{rid}/cancel"), ("GET", f"/api/runs/{rid}/log")]:
        response = client.request(method, path, headers=WORKER)
        assert response.status_code == 403 and "API_TOKEN" in response.json()["detail"], path
    assert client.post(f"/api/runs/{rid}/finish", json={**report, "status": "succeeded"},
                       headers={"Authorization": "Bearer spare-worker-token",
                                "X-Lease-Secret": grant["lease_secret"]}).status_code == 200


def test_worker_token_without_user_tokens_guards_only_the_worker_routes(make_client) -> None:
    client = make_client(worker_token="worker-token")
    rid = client.post("/api/runs", json={"epochs": 1}).json()["id"]  # loopback, no API_TOKEN: users are open
    assert client.get("/api/runs").status_code == 200
    assert client.post(f"/api/runs/{rid}/claim", json={"worker": "w"}).status_code == 401
    assert client.put(f"/api/runs/{rid}/artifacts/resume.pt", content=b"x").status_code == 401
    assert client.post(f"/api/runs/{rid}/claim", json={"worker": "w"}, headers=WORKER).status_code == 200


def test_a_token_cannot_be_both_a_users_and_a_workers() -> None:
    with pytest.raises(ValidationError, match="both API_TOKEN and WORKER_TOKEN"):
        Settings(api_token="a,b", worker_token="b")


def _wrong_tokens_from_spoofed_addresses(settings: Settings, tries: int) -> list[int]:
    """Statuses of `tries` wrong tokens sent through the real server (uvicorn with contrastlab.launch's options),
    each claiming another address in X-Forwarded-For."""
    import threading
    import time

    import httpx
    import uvicorn

    from contrastlab.launch import server_options
    from tests.stack import free_port

    migrated_sqlite(settings.data_dir)
    prestart(settings)
    app = create_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, **{**server_options(settings), "port": port, "log_level": "warning"}))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            return [http.get("/api/runs", headers={"Authorization": "Bearer guess",
                                                   "X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(tries)]
    finally:
        server.should_exit = True
        thread.join()
        app.state.engine.dispose()


def test_forwarded_addresses_are_ignored_unless_the_peer_is_a_trusted_proxy(tmp_path: Path) -> None:
    def settings(name: str, **overrides: str) -> Settings:
        return Settings(data_dir=tmp_path / name, database_url="", redis_url="", broker_url="", api_token=TOKENS,
                        auth_failures_per_minute=3, **overrides)  # type: ignore[arg-type]

    # By default X-Forwarded-For is not believed: the guesses count against the peer, which is held back.
    assert _wrong_tokens_from_spoofed_addresses(settings("default"), 6) == [401] * 3 + [429] * 3
    # Behind a proxy named in FORWARDED_ALLOW_IPS, each forwarded client is counted apart.
    trusted = settings("proxied", forwarded_allow_ips="127.0.0.1")
    assert _wrong_tokens_from_spoofed_addresses(trusted, 6) == [401] * 6


def _signed_in(client: TestClient, token: str = "first-token") -> str:
    response = client.post("/api/login", json={"token": token})
    assert response.status_code == 200, response.text
    return client.cookies[COOKIE]


def test_a_session_ends_at_logout_for_a_stolen_copy_too_and_each_sign_in_gets_a_new_secret(make_client) -> None:
    client = make_client(api_token=TOKENS)
    first = _signed_in(client)
    second = _signed_in(client)
    assert first != second and "first-token" not in second
    stolen = TestClient(client.app, base_url="http://localhost", cookies={COOKIE: first})
    assert stolen.get("/api/runs").status_code == 401  # signing in again ended the page's previous session
    stolen.cookies.set(COOKIE, second)
    assert stolen.get("/api/runs").status_code == 200
    client.post("/api/logout")
    assert stolen.get("/api/runs").status_code == 401  # logout ends the session itself, not just one cookie jar
    assert all(stolen.get("/api/runs").status_code == 401 for _ in range(40))  # never a 429 for a stale cookie


def test_a_session_ends_after_session_hours_and_when_its_token_is_rotated_out(make_client, tmp_path) -> None:
    client = make_client(api_token=TOKENS, session_hours=1)
    secret = _signed_in(client, "second-token")
    with client.app.state.sessionmaker() as db:
        row = db.scalars(select(BrowserSession)).one()
        assert (row.expires_at - row.created_at).total_seconds() == 3600
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        db.commit()
    assert client.get("/api/runs").status_code == 401
    secret = _signed_in(client, "second-token")
    rotated = make_client(api_token="first-token,third-token")  # the same database, the server restarted
    rotated.cookies.set(COOKIE, secret)
    assert rotated.get("/api/runs").status_code == 401
    still = make_client(api_token="second-token")
    still.cookies.set(COOKIE, secret)
    assert still.get("/api/runs").status_code == 200


@pytest.mark.parametrize("host, answered", [("localhost:8000", True), ("127.0.0.1", True), ("[::1]:8000", True),
                                            ("evil.example", False), ("localhost.evil.example:8000", False)])
def test_only_its_own_host_names_are_answered_on_loopback(make_client, host: str, answered: bool) -> None:
    client = make_client()
    for path in ("/", "/api/runs"):
        response = client.get(path, headers={"Host": host})
        assert (response.status_code == 200) is answered, (host, path)
        if not answered:
            assert response.status_code == 400 and "ALLOWED_HOSTS" in response.json()["detail"]
    assert make_client(allowed_hosts="lab.example").get("/", headers={"Host": "lab.example"}).status_code == 200
    assert make_client(allowed_hosts="*").get("/", headers={"Host": host}).status_code == 200


def test_cross_site_writes_are_refused_and_change_nothing(make_client) -> None:
    client = make_client()
    run = client.post("/api/runs", json={"epochs": 1}).json()
    foreign = TestClient(client.app, base_url="http://localhost")  # a page on another site: no custom header
    form = {"content-type": "application/x-www-form-urlencoded"}
    for response in (foreign.post(f"/api/runs/{run['id']}/cancel", headers=form, content=b"x=1"),
                     foreign.post(f"/api/runs/{run['id']}/cancel"),  # fetch(no-cors) without a body
                     foreign.delete(f"/api/runs/{run['id']}"),
                     foreign.post("/api/runs", headers={"content-type": "text/plain"}, content=b'{"epochs": 1}')):
        assert response.status_code == 403 and "X-Requested-With" in response.json()["detail"]
    assert client.get(f"/api/runs/{run['id']}").json()["status"] == "queued"
    assert client.get("/api/runs").json()["total"] == 1
    assert foreign.post("/api/runs", json={"epochs": 1}).status_code == 201  # JSON needs a CORS preflight
    assert client.post(f"/api/runs/{run['id']}/cancel").json()["status"] == "canceled"
