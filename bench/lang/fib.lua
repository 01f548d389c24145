-- fib.lua - recursive fib(30); same program as fib.flow and fib.py
local function fib(n)
  if n < 2 then
    return n
  end
  return fib(n - 1) + fib(n - 2)
end

print(fib(30))
