-- loop.lua - 10,000,000 iterations of integer arithmetic; same as loop.flow, loop.py
local function run(n)
  local acc = 0
  local i = 0
  while i < n do
    acc = (acc + i * 7) % 1000003
    i = i + 1
  end
  return acc
end

print(run(10000000))
