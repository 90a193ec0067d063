"""The embedded broker writes a message whole before any consumer can take it (contrastlab/broker_files.py)."""

from __future__ import annotations

import ast
import os
import threading
from pathlib import Path
from queue import Empty
from typing import Any

import pytest

from backend.operations.broker_scan import pending_run_ids
from contrastlab.broker_files import Channel, Transport
from contrastlab.queue import make_celery, send_run

QUEUE = "q"


def run_of(message: dict[str, Any]) -> int:
    """The run id a task message carries (its headers' repr of the arguments: "[7]")."""
    return int(ast.literal_eval(message["headers"]["argsrepr"])[0])


def test_the_embedded_broker_uses_the_atomic_transport(tmp_path: Path) -> None:
    app = make_celery("filesystem://localhost/", tmp_path, QUEUE)
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, Transport)
        assert isinstance(connection.default_channel, Channel)


def test_a_message_being_written_is_seen_by_no_consumer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At the moment the message is renamed into place its bytes are all written, and until then a consumer's
    `_get` (kombu's: it takes any file of the queue's name) and the reconciler's scan find nothing."""
    app = make_celery("filesystem://localhost/", tmp_path, QUEUE)
    options = app.conf.broker_transport_options
    seen: list[Any] = []
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        real_replace = os.replace

        def replace(source: str, target: str) -> None:
            with pytest.raises(Empty):
                channel._get(QUEUE)  # the consumer's view just before the rename
            seen.append((pending_run_ids(app.conf.broker_url, QUEUE, options), Path(source).stat().st_size))
            real_replace(source, target)

        monkeypatch.setattr(os, "replace", replace)
        send_run(app, 7, QUEUE, 1)
        monkeypatch.setattr(os, "replace", real_replace)
        (pending, size), = seen
        assert pending == set() and size > 100  # the whole message, not yet visible
        assert pending_run_ids(app.conf.broker_url, QUEUE, options) == {7}
        message = channel._get(QUEUE)
        assert message["headers"]["task"] == "contrastlab.run" and run_of(message) == 7
        assert not [p for p in Path(options["data_folder_in"]).iterdir()]  # taken, and no partial file left


def test_a_consumer_polling_while_messages_are_sent_reads_every_one_whole(tmp_path: Path) -> None:
    """A consumer taking messages as fast as it can while 200 are sent: each parses and none is lost (kombu's own
    put let it read an empty file now and then: a JSONDecodeError that ended the worker)."""
    app = make_celery("filesystem://localhost/", tmp_path, QUEUE)
    got: list[int] = []
    done = threading.Event()

    def consume() -> None:
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            while len(got) < 200 and not done.wait(0):
                try:
                    got.append(run_of(channel._get(QUEUE)))
                except Empty:
                    continue

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        for run_id in range(200):
            send_run(app, run_id, QUEUE, 1)
        consumer.join(timeout=60)
    finally:
        done.set()
        consumer.join()
    assert sorted(got) == list(range(200))


def test_an_unreadable_message_is_dropped_and_the_next_one_read(tmp_path: Path,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    app = make_celery("filesystem://localhost/", tmp_path, QUEUE)
    folder = Path(app.conf.broker_transport_options["data_folder_in"])
    (folder / f"0_garbage.{QUEUE}.msg").write_text("not json")
    send_run(app, 3, QUEUE, 1)
    with app.connection_for_read() as connection:
        assert run_of(connection.default_channel._get(QUEUE)) == 3
        with pytest.raises(Empty):
            connection.default_channel._get(QUEUE)
    assert "dropped an unreadable message of queue q" in caplog.text
