"""Order invoicing: runs inline, every step in the process that starts it, each one still durable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from example_app.models import Invoice, Order
from pikku import pikku_func, wire_workflow

if TYPE_CHECKING:
    from pikku_gen.workflow.types import Services


@pikku_func
async def invoice(services: Services, data: Order) -> Invoice:
    """Reserve each line's stock, total the order, charge it."""
    workflow = services.workflow
    reservations = []
    for item in data.items:
        reservation = await workflow.do(
            f"reserve-{item.sku}", "stock.reserve", item, description="Reserve stock for a line"
        )
        reservations.append(reservation.reservation_id)
    total = await workflow.do(
        "total", lambda: round(sum(i.quantity * i.unit_price for i in data.items), 2), description="Total"
    )
    payment = await workflow.do(
        "charge", "payments.charge", {"order_id": data.order_id, "amount": total}, description="Charge the card"
    )
    return Invoice(order_id=data.order_id, total=total, payment_id=payment.payment_id, reservations=reservations)


wire_workflow(
    name="invoice",
    description="Reserve stock, total and charge an order",
    execution_mode="inline",
    func=invoice,
)
