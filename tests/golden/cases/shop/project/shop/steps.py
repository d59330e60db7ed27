from dataclasses import dataclass

from pikku import pikku_func


@dataclass
class Item:
    sku: str
    qty: int


@pikku_func(name="stock.reserve")
async def reserve(services, data: Item) -> str:
    return data.sku


@pikku_func
def notify(services, data: dict[str, str]) -> None:
    return None
