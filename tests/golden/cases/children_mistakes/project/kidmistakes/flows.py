from pikku import pikku_func, wire_workflow


@pikku_func(name="ok")
async def ok(services, data: dict) -> None:
    return None


async def child(services, data: dict) -> None:
    await services.workflow.do("ok", "ok", data, on_error="no.such.refund")


async def parent(services, data: dict) -> None:
    wf = services.workflow
    await wf.call_workflow("missing", "no-such-workflow", data)
    await wf.call_workflow(str(data), "child", data)
    wf.start_workflow("unawaited", "child", data)
    await wf.start_workflow("twice", "child", data)
    await wf.call_workflow("twice", "child", data)


wire_workflow(name="child", func=child)
wire_workflow(name="parent", func=parent, on_failure="no.such.compensation")
