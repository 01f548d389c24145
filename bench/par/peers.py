#!/usr/bin/python3
# peers.py - the Python side of bench/par/peers.sh: issue 4's workloads run
# on Flow's peers (Dask's threaded scheduler, a Dask LocalCluster, Python's
# ProcessPoolExecutor, numpy alone). Not a test: it prints figures.
#
#   /usr/bin/python3 bench/par/peers.py WORKLOAD [N]
#
# Each subcommand runs one workload once and prints one line,
#   seconds=S n=N [warm=W]
# where S is the time measured inside the process (perf_counter) around the
# work: building the graph and running it, and for the pools and the
# cluster their start and shutdown too, but not the interpreter's start-up
# or the imports (peers.sh times the whole process as well, from outside).
# Run it with the system python (/usr/bin/python3): Debian's
# python3-distributed and python3-numpy are installed for that one.
import sys
import time


def noop(i):
    return i


def step(x):
    return x + 1


class Counter:
    """The actor: one method that counts, one that reads."""

    def __init__(self):
        self.n = 0

    def call(self):
        self.n += 1

    def read(self):
        return self.n


def report(seconds, n):
    print(f"seconds={seconds:.6f} n={n}", flush=True)


# --- empty tasks: n independent no-op tasks -------------------------------

def empty_threaded(n):
    import dask
    from dask import delayed
    t = time.perf_counter()
    out = dask.compute(*[delayed(noop)(i) for i in range(n)], scheduler="threads")
    report(time.perf_counter() - t, n)
    assert len(out) == n


def empty_cluster(n):
    from distributed import Client, LocalCluster
    # the cluster's start-up is not timed: the figure is the task rate
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        t = time.perf_counter()
        futures = client.map(noop, range(n), pure=False)
        out = client.gather(futures)
        report(time.perf_counter() - t, n)
        assert len(out) == n


def empty_pool(n):
    from concurrent.futures import ProcessPoolExecutor
    t = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        out = list(pool.map(noop, range(n), chunksize=1))
    report(time.perf_counter() - t, n)
    assert len(out) == n


# --- a chain of n dependent tasks -----------------------------------------

def chain_threaded(n):
    # Built as a raw graph, iteratively: a chain of dask.delayed calls costs
    # O(n^2) to build (each call merges its predecessor's whole graph; 20,000
    # took 26 s) and the recursive graph walk would hit Python's limit.
    from dask.threaded import get
    t = time.perf_counter()
    dsk = {("s", 0): (step, 0)}
    for i in range(1, n):
        dsk[("s", i)] = (step, ("s", i - 1))
    out = get(dsk, ("s", n - 1), num_workers=2)
    report(time.perf_counter() - t, n)
    assert out == n, out


def chain_cluster(n):
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        t = time.perf_counter()
        f = client.submit(step, 0, pure=False)
        for _ in range(1, n):
            f = client.submit(step, f, pure=False)
        out = f.result()
        report(time.perf_counter() - t, n)
        assert out == n, out


def chain_pool(n):
    # each task needs the previous result: a round trip to a worker per task
    from concurrent.futures import ProcessPoolExecutor
    t = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        x = 0
        for _ in range(n):
            x = pool.submit(step, x).result()
    report(time.perf_counter() - t, n)
    assert x == n, x


# --- actor calls: n calls spread over k actors ----------------------------

def actors_cluster(n, k):
    from distributed import Client, LocalCluster
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        actors = [client.submit(Counter, actor=True, pure=False).result()
                  for _ in range(k)]
        t = time.perf_counter()
        futures = [actors[i % k].call() for i in range(n)]
        for f in futures:
            f.result()
        total = sum(a.read().result() for a in actors)
        report(time.perf_counter() - t, n)
        assert total == n, total


# --- seed 000's sixteen sleeps --------------------------------------------

SLEEPS = [0.1, 0.2, 0.1, 0.5, 0.7, 0.9, 0.5, 0.4, 1.5, 1.3, 1.0, 0.3, 0.7,
          0.6, 0.3, 0.8]


def sleeper(s):
    time.sleep(s)
    return f"Sleep time {s}"


def sleeps_threaded(scale):
    import dask
    from dask import delayed
    t = time.perf_counter()
    out = dask.compute(*[delayed(sleeper)(s * scale) for s in SLEEPS],
                       scheduler="threads", num_workers=16)
    report(time.perf_counter() - t, len(out))


# --- seed 000's matrices: four normal matrices, two products, a sum -------

def matrices_blas(size):
    # The BLAS work alone, in this one process, with numpy's OpenBLAS. The
    # first round is "cold", like a fresh `flow run`: new pages for the
    # matrices, OpenBLAS's threads starting; `warm=` is the best of three
    # more rounds in the same process.
    import numpy as np
    rng = np.random.default_rng(0)
    rounds = []
    for _ in range(4):
        t = time.perf_counter()
        m = [rng.standard_normal((size, size)) for _ in range(4)]
        r = m[0] @ m[1] + m[2] @ m[3]
        rounds.append(time.perf_counter() - t)
        assert r.shape == (size, size)
        del m, r
    print(f"seconds={rounds[0]:.6f} n=1 warm={min(rounds[1:]):.6f}", flush=True)


def matrices_threaded(size):
    import dask
    import numpy as np
    from dask import delayed

    def create(shape):
        return np.random.default_rng().standard_normal(shape)

    t = time.perf_counter()
    m = [delayed(create)((size, size)) for _ in range(4)]
    m12 = delayed(np.matmul)(m[0], m[1])
    m34 = delayed(np.matmul)(m[2], m[3])
    r = delayed(np.add)(m12, m34).compute(scheduler="threads")
    report(time.perf_counter() - t, 1)
    assert r.shape == (size, size)


COMMANDS = {
    "empty-threaded": (empty_threaded, int),
    "empty-cluster": (empty_cluster, int),
    "empty-pool": (empty_pool, int),
    "chain-threaded": (chain_threaded, int),
    "chain-cluster": (chain_cluster, int),
    "chain-pool": (chain_pool, int),
    "actors1-cluster": (lambda n: actors_cluster(n, 1), int),
    "actors8-cluster": (lambda n: actors_cluster(n, 8), int),
    "sleeps-threaded": (sleeps_threaded, float),
    "matrices-blas": (matrices_blas, int),
    "matrices-threaded": (matrices_threaded, int),
}


def main(argv):
    if len(argv) != 3 or argv[1] not in COMMANDS:
        print("usage: peers.py WORKLOAD N\nworkloads: " + " ".join(COMMANDS),
              file=sys.stderr)
        return 2
    fn, conv = COMMANDS[argv[1]]
    try:
        arg = conv(argv[2])
    except ValueError:
        print(f"peers.py: bad argument {argv[2]!r}", file=sys.stderr)
        return 2
    fn(arg)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
