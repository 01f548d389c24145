-- lists.lua - nested lists and slicing (Lua has no slices: table.move and
-- loops do the same copies); same as lists.flow
local function slice(t, lo, hi, step)
  local out, k = {}, 0
  for i = lo, hi, step or 1 do
    k = k + 1
    out[k] = t[i]
  end
  return out
end

local function concat(a, b)
  local out = table.move(a, 1, #a, 1, {})
  return table.move(b, 1, #b, #a + 1, out)
end

local function sum(t)
  local s = 0
  for i = 1, #t do s = s + t[i] end
  return s
end

local function run(n, rounds)
  local grid = {}
  for i = 0, n - 1 do
    local row = {}
    for j = 0, n - 1 do row[j + 1] = (i * j + i) % 7 end
    grid[i + 1] = row
  end
  local total = 0
  for r = 0, rounds - 1 do
    grid = concat(slice(grid, 2, #grid), slice(grid, 1, 1))
    for _, row in ipairs(grid) do
      local half = slice(row, r % 2 + 1, #row, 2)
      total = total + sum(half) + #slice(row, 11, #row - 10)
    end
    grid[1] = concat(slice(grid[1], #grid[1], #grid[1]), slice(grid[1], 1, #grid[1] - 1))
  end
  return total, grid[1][1], grid[n][n], sum(grid[n // 2 + 1])
end

local a, b, c, d = run(300, 400)
print(a .. " " .. b .. " " .. c .. " " .. d)
