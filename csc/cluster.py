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
import signal
import socket
import struct
import threading
import time
from typing import Iterator

from csc.logs import logger_level
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
    `worker_timeout` seconds for a worker, after `check_speaks_dask`); None with neither (the
    command runs in-process). Closed, with a cluster it started, on exit. A cluster lost while
    the block works on it is a ClusterError (one line); after any error or interrupt, Dask's
    and asyncio's logs are silenced for the rest of the process (`_silence_teardown`)."""
    check_cluster_options(workers, scheduler)
    if workers is None and scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    where = f"at {scheduler}" if scheduler is not None else "started for this command"
    try:
        with contextlib.ExitStack() as stack:
            if scheduler is not None:
                client = stack.enter_context(_joined(Client, scheduler, connect_timeout,
                                                     worker_timeout))
            else:
                with _workers_deaf_to_ctrl_c():
                    cluster = stack.enter_context(LocalCluster(
                        n_workers=workers, threads_per_worker=1, processes=True,
                        env=WORKER_ENV, dashboard_address=":0", silence_logs=logging.ERROR))
                client = stack.enter_context(Client(cluster))
            try:
                # a lost scheduler makes the client log a traceback per reconnection attempt;
                # the command says what happened in one line
                with logger_level("distributed.client", logging.CRITICAL):
                    yield client
            except BaseException:
                _silence_teardown()  # before the client and cluster close
                raise
    except (FutureCancelledError, CommClosedError) as exc:
        reason = getattr(exc, "reason", None) or "its connection closed"
        raise ClusterError(f"the Dask cluster {where} was lost mid-work ({reason}); the work "
                           f"finished so far is kept: run the same command again") from None


def _silence_teardown() -> None:
    """For the rest of the process: the command ends on an error or an interrupt that it
    reports in one line, and what Dask's and asyncio's threads log while the client and cluster
    are torn down (cancelled gathers, closed comms, reconnection attempts) would bury that
    line."""
    for name in ("distributed", "distributed.client", "asyncio"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


@contextlib.contextmanager
def _workers_deaf_to_ctrl_c() -> Iterator[None]:
    """SIGINT ignored while the local workers start. Ctrl-C in a terminal goes to every process
    of the command, workers included; each would print its own KeyboardInterrupt traceback. An
    ignored SIGINT stays ignored in a process started from this one (and Python then installs
    no handler of its own), so the workers leave it to the command, which stops them. A Ctrl-C
    during these seconds of start-up is dropped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


#: the largest greeting a Dask scheduler is taken to send (its handshake is ~60 bytes)
GREETING_MAX_BYTES = 1 << 16


def check_speaks_dask(scheduler: str, timeout: float) -> None:
    """ClusterError (one line) unless the service at a tcp:// `scheduler` address greets a new
    connection as a Dask scheduler does: within `timeout` seconds, with one small
    length-prefixed msgpack handshake naming its Python. Dask's own client, pointed at an HTTP
    server, waits for that greeting without end; pointed at a service that sends a text banner,
    it reads the banner as a length and tries to allocate exabytes. Other schemes (tls://, ...)
    are not probed."""
    import msgpack
    from distributed.comm.addressing import parse_address, parse_host_port
    from distributed.protocol.utils import unpack_frames

    try:
        scheme, location = parse_address(scheduler)
        if scheme != "tcp":
            return
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise ClusterError(f"--scheduler {scheduler} is not an address: {exc}") from None
    deadline = time.monotonic() + timeout

    def receive(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            sock.settimeout(max(deadline - time.monotonic(), 1e-3))
            part = sock.recv(n - len(data))
            if not part:
                break
            data += part
        return data

    not_dask = f"{scheduler} is not a Dask scheduler"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            head = receive(sock, 8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else 0
            body = receive(sock, n) if 8 <= n <= GREETING_MAX_BYTES else b""
    except (socket.timeout, TimeoutError):
        raise ClusterError(f"{not_dask}: it sent no Dask greeting within {timeout:g} s (an "
                           f"HTTP server, say; a scheduler greets each connection at once)"
                           ) from None
    except OSError as exc:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: "
                           f"{exc.strerror or exc}") from None
    if len(head) < 8:
        raise ClusterError(f"{not_dask}: it closed the connection without a Dask greeting"
                           + (f" (it sent {head!r})" if head else ""))
    if not body:
        raise ClusterError(f"{not_dask}: it greets with {head!r}")
    try:
        frames = unpack_frames(body)
        greeting = msgpack.loads(frames[0]) if frames else None
    except (ValueError, IndexError, struct.error, msgpack.UnpackException):
        greeting = None
    if not isinstance(greeting, dict) or "python" not in greeting:
        raise ClusterError(f"{not_dask}: its greeting is not Dask's ({body[:40]!r})")


@contextlib.contextmanager
def _joined(Client, scheduler: str, connect_timeout: float, worker_timeout: float) -> Iterator:
    check_speaks_dask(scheduler, connect_timeout)
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
