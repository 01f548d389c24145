-- wordcount.lua - 2,000,000 LCG-drawn words, joined, split, counted in a table; same as wordcount.flow
local function run(n)
  local vocab = {}
  for i = 0, 4999 do
    vocab[i + 1] = "word" .. tostring(i)
  end
  local words = {}
  local x = 42
  for k = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    words[k] = vocab[x // 65536 % 5000 + 1]
  end
  local text = table.concat(words, " ")
  local counts = {}
  for w in text:gmatch("%S+") do
    counts[w] = (counts[w] or 0) + 1
  end
  local distinct, best = 0, 0
  for _, c in pairs(counts) do
    distinct = distinct + 1
    if c > best then best = c end
  end
  return distinct, counts["word0"], best
end

local a, b, c = run(2000000)
print(a .. " " .. b .. " " .. c)
