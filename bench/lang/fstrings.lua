-- fstrings.lua - 500,000 formatted lines (string.format); same as fstrings.flow
local function run(n)
  local total, last = 0, ""
  local names = { "alpha", "beta", "gamma" }
  local fmt = string.format
  for i = 0, n - 1 do
    local x = i * 0.25
    last = fmt("%d:%5d|%.2f|%s", i, i * 7 % 1000, x, names[i % 3 + 1])
    total = total + #last
  end
  return total, last
end

local a, b = run(500000)
print(a .. " " .. b)
