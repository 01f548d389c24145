# fstrings.py - 500,000 formatted lines; same as fstrings.flow
def run(n):
    total = 0
    last = ""
    names = ["alpha", "beta", "gamma"]
    for i in range(n):
        x = i * 0.25
        last = f"{i}:{i * 7 % 1000:>5}|{x:.2f}|{names[i % 3]}"
        total = total + len(last)
    return [total, last]


r = run(500000)
print(r[0], r[1])
