from pikku import pikku_func, wire_schedule, wire_workflow


@pikku_func(name="report.build")
async def build(services, data: dict) -> str:
    return "report"


async def report(services, data: dict) -> str:
    return await services.workflow.do("build", "report.build", data)


wire_workflow(name="report", func=report)
wire_schedule(name="hourly-report", cron="0 * * * *", workflow="report", input={"period": "hour"})
