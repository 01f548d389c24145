import signal, subprocess, sys, time
# sigrun.py DELAY SIG[,SIG...] OUT ERR CMD...: runs CMD with SIGINT at its
# default action (a shell's background job ignores it), sends the signals
# after DELAY s, 10 ms apart; prints the exit status (-N: killed by N).
delay = float(sys.argv[1])
sigs = [getattr(signal, name) for name in sys.argv[2].split(',')]
out, err = open(sys.argv[3], 'w'), open(sys.argv[4], 'w')
p = subprocess.Popen(sys.argv[5:], stdout=out, stderr=err,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(delay)
for sig in sigs:
    p.send_signal(sig)
    time.sleep(0.01)
try:
    rc = p.wait(timeout=20)
except subprocess.TimeoutExpired:
    p.kill(); rc = 'hung'
print(rc)
