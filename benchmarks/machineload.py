"""How busy other processes kept the machine while a benchmark ran a command.

The benchmarks time whole commands on a shared machine. Around each run,
:class:`LoadWatch` reads the kernel's CPU counters (``/proc/stat``) and
subtracts the CPU time of the benchmark's own children: what is left is
the number of cores *other* processes kept busy meanwhile. A run during
which they took more than :data:`BUSY_LIMIT` cores is not to be trusted.
"""

from __future__ import annotations

import os
from pathlib import Path

#: other processes may keep this many cores busy before a run is marked busy
BUSY_LIMIT = 0.5


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, from /proc/stat; None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    values = [int(v) for v in fields[:8]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def children_cpu() -> float:
    """CPU seconds used so far by this process's finished children."""
    t = os.times()
    return t.children_user + t.children_system


class LoadWatch:
    """``with LoadWatch() as w: run()``; then ``w.others(wall)`` is the cores others kept busy."""

    def __enter__(self) -> LoadWatch:
        self.ticks, self.cpu = cpu_ticks(), children_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.end_ticks, self.end_cpu = cpu_ticks(), children_cpu()

    def others(self, wall: float) -> float | None:
        """Cores other processes kept busy during the block of ``wall`` seconds, or None."""
        if self.ticks is None or self.end_ticks is None or wall <= 0:
            return None
        if self.end_ticks[1] <= self.ticks[1]:
            return None
        busy = (self.end_ticks[0] - self.ticks[0]) / os.sysconf("SC_CLK_TCK") / wall
        return max(0.0, busy - (self.end_cpu - self.cpu) / wall)
