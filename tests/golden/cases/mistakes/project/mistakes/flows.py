import asyncio

from pikku import wire_workflow


async def flow(services, data: int) -> int:
    workflow = services.workflow
    await workflow.do("step#1", "double", data)
    workflow.sleep("1s")
    await asyncio.gather(workflow.do("ok", "double", data))
    await workflow.sleep("2s", name=str(data))
    return await workflow.do("text", lambda: 1, description="bad \udc80")


wire_workflow(name="order v2", func=flow)
wire_workflow(name="order_v2", func=flow)
if __name__ == "__main__":
    wire_workflow(name="main-only", func=flow)
wire_workflow(name="slow", func=flow, timeout="1 hour")
