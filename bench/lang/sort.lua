-- sort.lua - 1,000,000 pseudo-random ints from an LCG, sorted, then a
-- checksum; same as sort.flow and sort.py
local function run(n)
  local xs = {}
  local x = 42
  for i = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    xs[i] = x
  end
  table.sort(xs)
  local check = 0
  for i = 1, n do
    check = (check * 31 + xs[i]) % 1000000007
  end
  return xs[1], xs[n], check
end

local lo, hi, check = run(1000000)
print(lo .. " " .. hi .. " " .. check)
