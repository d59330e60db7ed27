-- Shared by every script: the server clock, and how a time is written.
-- Times are the Redis server clock (TIME), kept as '%.6f' strings: Lua would print numbers with 14
-- significant digits and lose the microseconds, so no float is handed to redis.call as a number.
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000, t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end
local function fmt(x) return string.format('%.6f', x) end
