"""A small HTTP load generator: threads, each with one keep-alive connection, on loopback only.

Bounded by a request count and a time limit, whichever comes first. It stands in for wrk,
which is not installed here, and needs nothing beyond the standard library.
"""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from dataclasses import dataclass

from .timing import percentile

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class LoadResult:
    requests: int
    failures: int  # answers other than 200, and broken connections
    seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 95) if self.latencies else float("nan")


def run(
    port: int,
    path: str,
    headers: dict[str, str],
    connections: int = 4,
    max_requests: int = 20_000,
    max_seconds: float = 5.0,
) -> LoadResult:
    """GET `path` on 127.0.0.1:`port` from `connections` threads until either bound is reached."""
    lock = threading.Lock()
    issued = [0]
    failures = [0]
    latencies: list[float] = []
    deadline = time.monotonic() + max_seconds

    def client() -> None:
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
        mine: list[float] = []
        failed = 0
        try:
            while time.monotonic() < deadline:
                with lock:
                    if issued[0] >= max_requests:
                        break
                    issued[0] += 1
                started = time.perf_counter()
                try:
                    connection.request("GET", path, headers=headers)
                    response = connection.getresponse()
                    response.read()
                    ok = response.status == 200
                except (OSError, http.client.HTTPException):
                    connection.close()  # the next request opens a new connection
                    ok = False
                mine.append(time.perf_counter() - started)
                failed += not ok
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)
                failures[0] += failed

    started = time.monotonic()
    threads = [threading.Thread(target=client, name=f"load-{number}") for number in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(len(latencies), failures[0], time.monotonic() - started, latencies)
