from pikku import wire_schedule, wire_workflow

CRON = "0 3 * * *"


async def report(services, data: dict) -> str:
    return "ok"


wire_workflow(name="report", func=report)
wire_schedule(name="bad-cron", cron="61 3 * * *", workflow="report")
wire_schedule(name="few-fields", cron="0 3 * *", workflow="report")
wire_schedule(name="bad-zone", cron=CRON and "0 3 * * *", workflow="report", timezone="Mars/Olympus_Mons")
wire_schedule(name="not-literal", cron=CRON, workflow="report")
wire_schedule(name="night@3", cron="0 3 * * *", workflow="report")
wire_schedule(name="no-workflow", cron="0 3 * * *", workflow="reports")
wire_schedule(name="modes", cron="0 3 * * *", workflow="report", catchup="everything", overlap="queue")
wire_schedule(name="twice", cron="0 3 * * *", workflow="report")
wire_schedule(name="twice", cron="0 4 * * *", workflow="report")
wire_schedule(cron="0 3 * * *", workflow="report")
for hour in range(3):
    wire_schedule(name=f"hour-{hour}", cron=f"0 {hour} * * *", workflow="report")
