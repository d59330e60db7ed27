"""The app's own singletons, made once per process by ``create_services`` ([tool.pikku] services)."""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

EU_DOMAINS = (".eu", ".de", ".fr", ".es", ".it", ".nl")


@dataclass
class Mailer:
    """Appends sent mail to a JSON-lines outbox file (a stand-in for an email API client)."""

    outbox: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, to: str, subject: str, idempotency_key: str) -> str:
        """Record one message; the idempotency key is what a real provider would deduplicate on."""
        message_id = f"msg-{uuid.uuid4().hex[:12]}"
        line = json.dumps({"id": message_id, "to": to, "subject": subject, "key": idempotency_key})
        with self._lock:
            self.outbox.parent.mkdir(parents=True, exist_ok=True)
            with self.outbox.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
        return message_id


@dataclass
class AppServices:
    """What the example's functions reach for besides pikku's own services."""

    mailer: Mailer
    regions: tuple[str, ...] = EU_DOMAINS

    def region_of(self, email: str) -> str:
        """EU for European domains, US otherwise."""
        return "EU" if email.lower().endswith(self.regions) else "US"


def create_services(config: Any) -> AppServices:
    """Called once per process by pikku with the project config."""
    return AppServices(mailer=Mailer(config.root / ".pikku-data" / "outbox.jsonl"))
