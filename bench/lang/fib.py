# fib.py - recursive fib(30); same program as fib.flow and fib.lua
def fib(n):
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)


print(fib(30))
