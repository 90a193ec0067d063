"""The embedded broker (`filesystem://`, no Redis): kombu's filesystem transport, with messages written atomically.

kombu's own `_put` creates the message file, then writes it; its `_get` takes any file of the queue's name at once
(it moves it aside and reads it, without the lock the writer holds). A worker that listed the folder between the
two read an empty message, and the JSON error ended the worker ("Unrecoverable error: JSONDecodeError", seen in
the test suite): the run stayed queued with no worker left. Here a message is written under a name no consumer
matches, then renamed into place, which is atomic within the folder: a consumer sees a whole file or none.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".part"  # a message being written: ".<its name>.part", matched by no queue


class Channel(filesystem.Channel):
    # kombu's filesystem Channel names the message `payload`, its AbstractChannel `message`: one override fits one.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        """Put a message onto `queue`: written whole under a hidden name, then renamed to the name `_get` takes."""
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}{PARTIAL_SUFFIX}")
        try:
            with open(partial, "wb") as out:
                out.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(partial)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


    def _get(self, queue: Any, timeout: Any = None) -> Any:
        """The next message of `queue`; one that is not JSON (a file dropped into the folder by hand) is logged and
        dropped, where kombu's error ended the worker."""
        while True:
            try:
                return super()._get(queue)
            except ValueError as exc:  # json.JSONDecodeError; Empty when no message is left
                log.error("dropped an unreadable message of queue %s: %s", queue, exc)


class Transport(filesystem.Transport):
    Channel = Channel


def install() -> None:
    """Make `filesystem://` URLs use this transport, in this process (the API's and every worker's build their
    Celery app through contrastlab.queue, which calls this)."""
    TRANSPORT_ALIASES["filesystem"] = f"{__name__}:Transport"
