"""Schedules in a module of their own: the generated wirings import it, so workers know them."""

import pikku

EUROPE = "Europe/Helsinki"

nightly = pikku.wire_schedule(
    name="nightly-report",
    cron="0 3 * * *",
    workflow="report",
    input={"period": "day"},
    timezone="Europe/Helsinki",
    catchup="all",
    overlap="allow",
    description="the day's report, at 03:00 in Helsinki",
)
pikku.wire_schedule(name="weekly", cron="@weekly", workflow="report", input={"period": "week"}, catchup="none")
