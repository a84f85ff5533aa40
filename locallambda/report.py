"""Lambda's REPORT figures for one invoke, and the line CloudWatch shows for them.

    REPORT RequestId: <id>  Duration: 12.34 ms  Billed Duration: 2013 ms  Memory Size: 128 MB
           Max Memory Used: 71 MB  Init Duration: 2000.12 ms  [Status: error  Error Type: Runtime.OutOfMemory]

Duration runs from the event to the end of the invoke phase, the extensions' post-runtime time included; Billed
Duration rounds Duration plus Init Duration (billed since August 2025) up to the next millisecond. Max Memory Used
is the environment's peak as its memory cgroup counts it (page cache included); without a sized environment it
is the sum of the processes' peak resident sets, which leaves page cache out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass
class ProcessFigures:
    """One process of the environment (the runtime, or an extension by name)."""

    peak_rss_mb: float  # VmHWM
    anon_mb: float  # the largest RssAnon seen at the emulator's samples (init done, response, end of invoke)
    file_mb: float  # the same for RssFile
    cpu_ms: float  # CPU time so far: the process's cgroup in a sized environment, else /proc (10 ms ticks)
    charged_mb: float | None = None  # sized: the peak its own cgroup was charged, page cache it read included


@dataclass
class Report:
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: float | None
    init_duration_ms: float | None = None  # only on the invoke that initialised the environment
    error_type: str | None = None
    sized: bool = False  # Max Memory Used from the environment's cgroup (else from the processes)
    processes: dict[str, ProcessFigures] = field(default_factory=dict)

    @property
    def billed_duration_ms(self) -> int:
        return math.ceil(self.duration_ms + (self.init_duration_ms or 0.0))

    def line(self) -> str:
        parts = [f"REPORT RequestId: {self.request_id}", f"Duration: {self.duration_ms:.2f} ms",
                 f"Billed Duration: {self.billed_duration_ms} ms", f"Memory Size: {self.memory_size_mb} MB"]
        if self.max_memory_used_mb is not None:
            parts.append(f"Max Memory Used: {math.ceil(self.max_memory_used_mb)} MB")
        if self.init_duration_ms is not None:
            parts.append(f"Init Duration: {self.init_duration_ms:.2f} ms")
        if self.error_type:
            parts += ["Status: error", f"Error Type: {self.error_type}"]
        return "\t".join(parts)

    def process_lines(self) -> list[str]:
        """The per-process figures Lambda does not print, one line each."""
        return [f"  {name}: peak RSS {p.peak_rss_mb:.1f} MB (anon {p.anon_mb:.1f}, file {p.file_mb:.1f}), "
                + (f"charged {p.charged_mb:.1f} MB, " if p.charged_mb is not None else "")
                + f"CPU {p.cpu_ms:.0f} ms" for name, p in self.processes.items()]
