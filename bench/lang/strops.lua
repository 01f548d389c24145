-- strops.lua - a 1,000,000-part join, then split, upper, replace and count
-- (plain-text find loops: Lua has no split or count); same as strops.flow
local find, sub = string.find, string.sub

local function count(s, x)
  local c, i = 0, 1
  while true do
    local a, b = find(s, x, i, true)
    if not a then return c end
    c, i = c + 1, b + 1
  end
end

local function split(s, sep)
  local out, i, n = {}, 1, 0
  while true do
    local a, b = find(s, sep, i, true)
    n = n + 1
    if not a then out[n] = sub(s, i); return out end
    out[n] = sub(s, i, a - 1)
    i = b + 1
  end
end

local function run(n)
  local parts = {}
  for i = 0, n - 1 do
    parts[#parts + 1] = "w" .. tostring(i % 1000)
  end
  local s = table.concat(parts, " ")
  local words = split(s, " ")
  local u = s:upper()
  local r = u:gsub("W1", "x")
  local c = count(r, "x") + count(s, "w99")
  return #words, #s, #r, c, words[n]
end

local a, b, c, d, e = run(1000000)
print(a .. " " .. b .. " " .. c .. " " .. d .. " " .. e)
