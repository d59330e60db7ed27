from pikku import pikku_func, wire_workflow

from .steps import Item


@pikku_func
async def checkout(services, data: list[Item]) -> list[str] | None:
    wf = services.workflow
    ids = []
    for item in data:
        ids.append(await wf.do(f"reserve-{item.sku}", "stock.reserve", item, description="Reserve"))
    await wf.sleep("1h30m", description="Hold the cart")
    await wf.do("notify", "notify", {"to": "ops"})
    total = await wf.do("count", lambda: len(ids))
    return ids if total else None


wire_workflow(name="checkout", func=checkout, timeout="1h")
wire_workflow(name="checkout-inline", func=checkout, execution_mode="inline", description="Same, in one process")
