from pikku import pikku_func, wire_workflow


@pikku_func(name="notify")
async def notify(services, data: dict[str, str]) -> None:
    return None


async def flow(services, data: dict[str, str]) -> int:
    workflow = services.workflow

    async def announce(text: str) -> None:
        await workflow.do("announce", "notify", {"text": text}, description='Say "hello"\nto everyone')

    await announce("hi")
    count = await workflow.do("count", lambda: workflow.do("recount", "notify", {}))
    await workflow.sleep("10s", name="pause:after-count")
    return 1 if count else 0


wire_workflow(name="order v2", func=flow, description="Version 2 of 'order'")
wire_workflow(name="class", func=flow, description='He said """enough"""')
wire_workflow(name="2fa", func=flow, execution_mode="inline", description="x = 1; import os\n")
