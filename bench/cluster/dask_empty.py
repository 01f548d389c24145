"""n empty tasks through Dask's LocalCluster (2 worker processes, 1 thread
each), the same shape as empty.flow on a head and two workers."""
import sys
import time

from dask.distributed import Client, LocalCluster


def e(i):
    return i


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.gather(client.map(e, range(10), pure=False))  # warm up
        t0 = time.perf_counter()
        xs = client.gather(client.map(e, range(n), pure=False))
        dt = time.perf_counter() - t0
        assert len(xs) == n
        print(f"dask: {n} empty tasks in {dt:.3f} s: {n / dt:.0f} tasks/s")


if __name__ == "__main__":
    main()
