import signal, subprocess, sys, time
# sigrun.py DELAY SIG OUT ERR CMD...: runs CMD with SIGINT at its default
# action (a shell's background job ignores it), sends SIG after DELAY s.
delay, sig = float(sys.argv[1]), getattr(signal, sys.argv[2])
out, err = open(sys.argv[3], 'w'), open(sys.argv[4], 'w')
p = subprocess.Popen(sys.argv[5:], stdout=out, stderr=err,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(delay)
p.send_signal(sig)
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill(); rc = 'hung'
print(rc)
