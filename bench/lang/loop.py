# loop.py - 10,000,000 iterations of integer arithmetic; same as loop.flow, loop.lua
def run(n):
    acc = 0
    i = 0
    while i < n:
        acc = (acc + i * 7) % 1000003
        i += 1
    return acc


print(run(10000000))
