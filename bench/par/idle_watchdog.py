# idle_watchdog.py OLD NEW: a run that sleeps 2 s under --cpus 2 with no
# @timeout, old binary beside new, 3 pairs: voluntary context switches and
# CPU time of the whole process (the watchdog's 2 ms tick was ~1000 wakes).
import os, resource, subprocess, sys
here = os.path.dirname(os.path.abspath(__file__))
prog = os.path.join(here, 'idle_watchdog.flow')
def run(b):
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([b, 'run', '--cpus', '2', prog], stdout=subprocess.DEVNULL, check=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r1.ru_nvcsw - r0.ru_nvcsw, (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1000
for i in range(3):
    for name, b in (('old', sys.argv[1]), ('new', sys.argv[2])):
        cs, ms = run(b)
        print(f'{name}: {cs} voluntary switches, {ms:.1f} ms CPU')
