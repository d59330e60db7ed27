"""User accounts."""

from __future__ import annotations

import uuid
from typing import Any

from example_app.models import CreateUser, User
from pikku import pikku_func


@pikku_func(name="users.create")
async def create_user(services: Any, data: CreateUser) -> User:
    """Create a user account; the id derives from the step's invocation id, so a retry makes the same user."""
    key = services.step.invocation_id if services.step else data.email
    user_id = f"usr-{uuid.uuid5(uuid.NAMESPACE_URL, key).hex[:10]}"
    return User(id=user_id, email=data.email, region=services.region_of(data.email))
