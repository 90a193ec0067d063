"""Artifact paths a client might try against the live server (uvicorn): nothing outside the artifact root."""

from __future__ import annotations

import socket

import pytest

from tests.integration.conftest import FAULT_TOKEN
from tests.stack import Stack
from tests.unit.api.conftest import FakeWorker

pytestmark = pytest.mark.integration

SECRET = "top-secret-outside-the-artifact-root"


def raw_get(stack: Stack, target: bytes) -> tuple[int, bytes]:
    """Send the request line exactly as given (clients normalise ../ away; an attacker's need not)."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=10) as sock:
        sock.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + FAULT_TOKEN.encode()
                     + b"\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer


def test_artifact_paths_never_leave_the_artifact_root(faults: Stack) -> None:
    run_id = faults.submit(epochs=1, name="traversal target")["id"]
    holder = FakeWorker(faults.http, run_id)  # type: ignore[arg-type]  # only the lease holder uploads
    holder.claim()
    (faults.data_dir / "secret.txt").write_text(SECRET)
    upload = faults.http.put(f"/api/runs/{run_id}/artifacts/planted.txt", content=b"harmless",
                             headers=holder.headers)
    assert upload.status_code == 201
    holder.finish("canceled")
    planted = faults.data_dir / "artifacts" / str(run_id) / "planted.txt"
    planted.unlink()
    planted.symlink_to(faults.data_dir / "secret.txt")  # a symlink planted where a recorded artifact was
    base = f"/api/runs/{run_id}/artifacts/".encode()
    attempts = [b"../../../secret.txt", b"..%2f..%2f..%2fsecret.txt", b"%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
                b"%252e%252e%252f%252e%252e%252fsecret.txt", b"..\\..\\..\\secret.txt", b"..%5c..%5csecret.txt",
                b"%2fetc%2fpasswd", b"/etc/passwd", b"..#/../secret.txt", b"..?x=../secret.txt",
                b"secret.txt%00.json", b"secret\x00.txt", b"planted.txt", b"%2e%2e", b".%2e/.%2e/secret.txt"]
    statuses = {}
    for attempt in attempts:
        status, answer = raw_get(faults, base + attempt)
        statuses[attempt.decode("latin-1")] = status
        assert SECRET.encode() not in answer and b"root:" not in answer, attempt
        assert status in (400, 404), (attempt, answer[:300])
    assert faults.http.get(f"/api/runs/{run_id}/artifacts/planted.txt").status_code == 404
    print(f"\nINPUT artifact traversal: {len(attempts)} paths, statuses {sorted(set(statuses.values()))}, "
          "nothing outside the artifact root served")
