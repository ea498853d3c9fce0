"""Who our staff are, for notifying them: name, email, manager and an optional chat webhook
per user id (the sign-in's username), from ``monosub/data/staff.json``.

Deployment data shipped with the code, like ``company.json``: a rep who joins or changes
manager is a change to the file, not to the code. Sign-in (Cognito) knows a user's groups,
not who their manager is; this is that one missing fact, kept where the tasks read it.

A chat webhook URL (a Slack / Teams incoming webhook) is looked up from the most specific
place that gives one: the user, then the directory's default, then ``company.json``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from pydantic import BaseModel, Field

from monosub import company

PATH = Path(__file__).resolve().parent / "data" / "staff.json"


class StaffMember(BaseModel):
    user_id: str
    name: str
    email: str
    department: str | None = None
    manager: str | None = Field(default=None, description="The manager's user id")
    chat_webhook_url: str | None = None


class StaffDirectory(BaseModel):
    chat_webhook_url: str | None = None
    staff: dict[str, StaffMember]


def load(path: Path) -> StaffDirectory:
    """A directory file (each member's ``user_id`` is its key)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    staff = {
        user_id: {**dict(details), "user_id": user_id}
        for user_id, details in dict(raw.get("staff") or {}).items()
    }
    return StaffDirectory.model_validate({**raw, "staff": staff})


@functools.cache
def _cached(path: Path) -> StaffDirectory:
    return load(path)


def directory() -> StaffDirectory:
    return _cached(PATH)


def member(user_id: str) -> StaffMember | None:
    return directory().staff.get(user_id)


def manager_of(user_id: str) -> str | None:
    """The user id of ``user_id``'s manager; None for an unknown user or one without."""
    found = member(user_id)
    return found.manager if found else None


def chat_webhook_url(user_id: str) -> str | None:
    """Where chat notifications for ``user_id`` go, or None: no chat tool configured."""
    found = member(user_id)
    return (
        (found.chat_webhook_url if found else None)
        or directory().chat_webhook_url
        or company.chat_webhook_url()
    )
