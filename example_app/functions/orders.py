"""Stock and payments for the invoice workflow."""

from __future__ import annotations

import uuid
from typing import Any

from example_app.models import Charge, LineItem, Payment, Reservation
from pikku import pikku_func


@pikku_func(name="stock.reserve")
async def reserve_stock(services: Any, data: LineItem) -> Reservation:
    """Reserve stock for one line item."""
    return Reservation(sku=data.sku, quantity=data.quantity, reservation_id=f"res-{uuid.uuid4().hex[:8]}")


@pikku_func(name="payments.charge")
async def charge(services: Any, data: Charge) -> Payment:
    """Capture a payment for the order total."""
    return Payment(payment_id=f"pay-{data.order_id}", amount=data.amount)
