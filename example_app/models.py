"""Input and output models of the example workflows and functions."""

from __future__ import annotations

from pydantic import BaseModel, Field


class CreateUser(BaseModel):
    """Input of ``users.create``."""

    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


class User(BaseModel):
    """A created user account."""

    id: str
    email: str
    region: str


class Email(BaseModel):
    """Input of ``email.send``."""

    to: str
    subject: str


class EmailReceipt(BaseModel):
    """What the mailer returns."""

    message_id: str


class OnboardingInput(BaseModel):
    """Input of the onboarding workflow."""

    email: str


class OnboardingOutput(BaseModel):
    """Output of the onboarding workflow."""

    user_id: str
    tax_rate: float


class LineItem(BaseModel):
    """One line of an order."""

    sku: str
    quantity: int = Field(gt=0)
    unit_price: float = Field(ge=0)


class Order(BaseModel):
    """Input of the invoice workflow."""

    order_id: str
    customer_email: str
    items: list[LineItem]


class Reservation(BaseModel):
    """A stock reservation for one line item."""

    sku: str
    quantity: int
    reservation_id: str


class Charge(BaseModel):
    """Input of ``payments.charge``."""

    order_id: str
    amount: float


class Payment(BaseModel):
    """A captured payment."""

    payment_id: str
    amount: float


class Invoice(BaseModel):
    """Output of the invoice workflow."""

    order_id: str
    total: float
    payment_id: str
    reservations: list[str]
