"""The Dask cluster a command runs its tasks on (`dask.distributed`; csc has no scheduler of its
own): a `LocalCluster` of worker processes started for the command (`--workers N`), or a running
cluster joined at its scheduler's address (`--scheduler tcp://HOST:PORT`, started with `dask
scheduler` and `dask worker`).

Each local worker is a process with one thread, and its BLAS, OpenMP and Numba pools are held to
one thread too (`WORKER_ENV`), so N workers use N cores. Workers of a running cluster should be
started the same way: `NUMBA_NUM_THREADS=1 dask worker tcp://HOST:PORT --nthreads 1`.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Iterator

from csc.run_folder import RunError

#: the environment of every worker process a local cluster starts: one thread per pool
WORKER_ENV = {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}


class ClusterError(RunError):
    """The cluster cannot be started or reached; str() is one line for the user."""


def check_cluster_options(workers: int | None, scheduler: str | None) -> None:
    """ClusterError for --workers below 1 or given beside --scheduler."""
    if workers is not None and scheduler is not None:
        raise ClusterError("--workers starts a cluster and --scheduler joins one: give one")
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ClusterError(f"--workers must be a positive integer, got {workers}")


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, *,
                connect_timeout: float = 10.0, worker_timeout: float = 60.0) -> Iterator:
    """A `distributed.Client` on a new local cluster of `workers` processes, or on the running
    cluster at `scheduler` (waiting up to `connect_timeout` seconds to reach it and
    `worker_timeout` seconds for a worker); None with neither (the command runs in-process).
    Closed, with a cluster it started, on exit."""
    check_cluster_options(workers, scheduler)
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            client = stack.enter_context(_joined(Client, scheduler, connect_timeout,
                                                 worker_timeout))
        else:
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, env=WORKER_ENV,
                dashboard_address=":0", silence_logs=logging.ERROR))
            client = stack.enter_context(Client(cluster))
        yield client


@contextlib.contextmanager
def _joined(Client, scheduler: str, connect_timeout: float, worker_timeout: float) -> Iterator:
    try:
        client = Client(scheduler, timeout=connect_timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: "
                           f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                           ) from None
    try:
        try:
            client.wait_for_workers(1, timeout=worker_timeout)
        except TimeoutError:
            raise ClusterError(f"no worker joined the Dask scheduler at {scheduler} within "
                               f"{worker_timeout:g} s (start one: dask worker {scheduler})"
                               ) from None
        yield client
    finally:
        client.close()
