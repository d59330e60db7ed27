"""Sending email."""

from __future__ import annotations

from typing import Any

from example_app.models import Email, EmailReceipt
from pikku import pikku_func


@pikku_func(name="email.send")
def send_email(services: Any, data: Email) -> EmailReceipt:
    """Send one message (a sync function: pikku runs sync and async functions alike)."""
    key = services.step.invocation_id if services.step else data.to
    return EmailReceipt(message_id=services.mailer.send(data.to, data.subject, key))
