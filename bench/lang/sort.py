# sort.py - 1,000,000 pseudo-random ints from an LCG, sorted, then a
# checksum; same as sort.flow and sort.lua
def run(n):
    xs = []
    x = 42
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        xs.append(x)
    ys = sorted(xs)
    check = 0
    for v in ys:
        check = (check * 31 + v) % 1000000007
    return [ys[0], ys[-1], check]


r = run(1000000)
print(r[0], r[1], r[2])
