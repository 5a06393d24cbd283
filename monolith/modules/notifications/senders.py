"""The sender port and its adapters: a log line by default, SMTP when configured."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

log = logging.getLogger("carve.notifications")


class Sender(Protocol):
    """Sends one message to one recipient."""

    def send(self, recipient: str, subject: str, body: str) -> None:
        """Send or raise; a raise makes the event be delivered again later."""


class LogSender:
    """Writes each message to the log: the default, needing no mail server."""

    def send(self, recipient: str, subject: str, body: str) -> None:
        log.info("notification to %s: %s", recipient, subject)


@dataclass(frozen=True)
class SmtpSender:
    """Sends each message through an SMTP server."""

    host: str
    port: int = 25
    sender: str = "orders@carve.invalid"

    def send(self, recipient: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, recipient, subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.send_message(message)


def sender_from_settings(settings: Mapping[str, str]) -> Sender:
    """SMTP when ``SMTP_HOST`` is set, the log otherwise."""
    host = settings.get("SMTP_HOST")
    if not host:
        return LogSender()
    return SmtpSender(
        host=host,
        port=int(settings.get("SMTP_PORT", "25")),
        sender=settings.get("SMTP_FROM", "orders@carve.invalid"),
    )
