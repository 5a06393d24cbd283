"""The notifications module's contract: what users were told."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from contracts.contract import Contract, operation
from contracts.users import UserId


class Notification(BaseModel):
    """A message sent to a user."""

    id: str
    user_id: str
    recipient: str
    kind: str
    subject: str
    reference: str
    sent_at: datetime


class Notifications(Contract):
    """Lists the notifications sent to users."""

    name = "notifications"
    version = 1

    @operation("GET", "")
    def list_notifications(self, user_id: UserId) -> list[Notification]:
        """List the notifications sent to a user, newest first."""
