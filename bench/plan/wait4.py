#!/usr/bin/python3
"""bench/plan/wait4.py - CPU time per process, read exactly from wait4.

GNU time (run.sh, startup.sh) counts in 10 ms ticks; this reads each
child's rusage (user + sys, microseconds) from wait4. Each command runs K
times in a row per sample (stdout to /dev/null; it must exit 0); the
commands alternate in every one of RUNS repetitions (paired, for a shared
machine), and each is reported as the median and the minimum of its
samples, in ms. A command may start with NAME=VALUE words (its
environment).

    bench/plan/wait4.py RUNS K 'CMD ARGS...' ['CMD ARGS...' ...]
"""
import os
import statistics
import sys


def sample(argv, k):
    env = dict(os.environ)
    while argv and '=' in argv[0]:
        name, val = argv[0].split('=', 1)
        env[name] = val
        argv = argv[1:]
    null = os.open(os.devnull, os.O_WRONLY)
    total = 0.0
    try:
        for _ in range(k):
            pid = os.posix_spawnp(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, null, 1)])
            _, status, ru = os.wait4(pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit('wait4.py: failed: ' + ' '.join(argv))
            total += ru.ru_utime + ru.ru_stime
    finally:
        os.close(null)
    return total / k * 1000


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__.split('\n\n')[-1].strip())
    runs, k = int(sys.argv[1]), int(sys.argv[2])
    cmds = [c.split() for c in sys.argv[3:]]
    got = [[] for _ in cmds]
    for _ in range(runs):
        for i, c in enumerate(cmds):
            got[i].append(sample(c, k))
    print('CPU ms per process (user + sys from wait4), %d paired runs, each the mean of %d' % (runs, k))
    print('%9s %9s  %s' % ('median', 'min', 'command'))
    for c, v in zip(cmds, got):
        print('%9.3f %9.3f  %s' % (statistics.median(v), min(v), ' '.join(c)))


main()
