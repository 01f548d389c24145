# strappend.py - `s += "ab"` n times (default 200,000; argv[1]); same as strappend.flow
import sys


def run(n):
    s = ""
    for i in range(n):
        s += "ab"
    return [len(s), s[-4:]]


r = run(int(sys.argv[1]) if len(sys.argv) > 1 else 200000)
print(r[0], r[1])
