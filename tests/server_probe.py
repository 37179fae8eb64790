"""The live-server probes the bounded-memory tests share with their benchmark
(bench/bounded_memory.py): the worker's RSS, peak RSS and descriptors, and raw sockets that
never read what they are sent."""

from bench.bounded_memory import (
    PeakRss,
    fetch_listing,
    open_fds,
    post_messages,
    read_to_eof,
    slow_consumer,
    stalled_socket,
    the_worker,
)
from bench.server import rss_mb

__all__ = ["PeakRss", "fetch_listing", "open_fds", "post_messages", "read_to_eof", "rss_mb",
           "slow_consumer", "stalled_socket", "the_worker"]
