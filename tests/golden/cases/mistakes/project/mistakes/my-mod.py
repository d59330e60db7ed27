from pikku import pikku_func


@pikku_func(name="double")
async def double(services, data: int) -> int:
    return 2 * data
