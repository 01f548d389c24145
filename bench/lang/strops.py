# strops.py - a 1,000,000-part join, then split, upper, replace and count; same as strops.flow
def run(n):
    parts = []
    for i in range(n):
        parts.append("w" + str(i % 1000))
    s = " ".join(parts)
    words = s.split(" ")
    u = s.upper()
    r = u.replace("W1", "x")
    c = r.count("x") + s.count("w99")
    return [len(words), len(s), len(r), c, words[n - 1]]


r = run(1000000)
print(r[0], r[1], r[2], r[3], r[4])
