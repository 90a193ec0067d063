"""Browser sessions: a page signs in once with an API token and gets a cookie that ends.

The cookie holds a random secret; the database keeps its sha256, the fingerprint (an HMAC) of the token it was
opened with, and when it ends (SESSION_HOURS). A session stops working when it ends, when the page logs out
(its row is deleted, in every API process at once), and when the server's API_TOKEN no longer holds the token
it was opened with (rotating a token signs out its pages). Rows are bounded: expired ones are pruned at each
sign-in, and past MAX_SESSIONS the oldest are dropped.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from backend.models import BrowserSession, utcnow

MAX_SESSIONS = 10_000


def fingerprint(token: str) -> str:
    """What a session keeps of its token: an HMAC, so the table never reveals a token."""
    return hmac.new(token.encode(), b"contrastlab-session-v2", hashlib.sha256).hexdigest()


def _key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class BrowserSessions:
    def __init__(self, sessions: sessionmaker[Session], tokens: Sequence[str], hours: float) -> None:
        self.sessions, self.hours = sessions, hours
        self.fingerprints = tuple(fingerprint(t) for t in tokens)

    def open(self, token: str, previous: str = "") -> str:
        """A new session for a page that presented `token` (already checked); its cookie's secret. The page's
        previous session, if any, ends: a sign-in always gets a fresh secret."""
        secret, now = secrets.token_urlsafe(32), utcnow()
        with self.sessions() as db:
            db.execute(delete(BrowserSession).where(BrowserSession.expires_at <= now))
            if previous:
                db.execute(delete(BrowserSession).where(BrowserSession.id == _key(previous)))
            excess = select(BrowserSession.id).order_by(BrowserSession.created_at.desc()).offset(MAX_SESSIONS - 1)
            db.execute(delete(BrowserSession).where(BrowserSession.id.in_(excess.scalar_subquery())))
            db.add(BrowserSession(id=_key(secret), token_fingerprint=fingerprint(token), created_at=now,
                                  expires_at=now + timedelta(hours=self.hours)))
            db.commit()
        return secret

    def valid(self, secret: str) -> bool:
        """Whether the cookie's secret names a live session opened with a token the server still accepts."""
        if not secret or len(secret) > 200:
            return False
        with self.sessions() as db:
            row = db.get(BrowserSession, _key(secret))
            if row is None or row.expires_at <= utcnow():
                return False
            found = False
            for accepted in self.fingerprints:  # constant time, no early exit
                found |= hmac.compare_digest(row.token_fingerprint, accepted)
            return found

    def close(self, secret: str) -> None:
        """Log out: the session ends for every API process at once."""
        if not secret:
            return
        with self.sessions() as db:
            db.execute(delete(BrowserSession).where(BrowserSession.id == _key(secret)))
            db.commit()
