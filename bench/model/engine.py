"""The simulated clock: a heap of timed callbacks, and processes written as generators.

A process yields a delay in seconds (it resumes that much later) or a Signal (it resumes when the signal fires,
with the signal's value). Pure Python and single-threaded, so a run is deterministic for a given random seed.
Millions of invokes go through here, so events that come in time order anyway (arrivals, the ends of invokes that
were all hits) may use a lane, a FIFO merged with the heap, instead of the heap itself.
"""

from __future__ import annotations

import collections
import heapq


class Signal:
    """Fires once with a value; processes waiting on it resume in the order they started waiting."""

    __slots__ = ("fired", "value", "waiters")

    def __init__(self):
        self.fired = False
        self.value = None
        self.waiters: list = []


class Engine:
    def __init__(self):
        self.now = 0.0
        self._heap: list = []
        self._seq = 0
        self._lanes: list[collections.deque] = []

    def lane(self) -> collections.deque:
        """A FIFO of (t, fn, arg) merged with the heap; use in_order() to add to it."""
        lane: collections.deque = collections.deque()
        self._lanes.append(lane)
        return lane

    def in_order(self, lane: collections.deque, t: float, fn, arg=None) -> None:
        """At t, through the lane if t keeps it in order, else through the heap."""
        if not lane or t >= lane[-1][0]:
            lane.append((t, fn, arg))
        else:
            self.at(t, fn, arg)

    def at(self, t: float, fn, arg=None) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, fn, arg))

    def after(self, delay: float, fn, arg=None) -> None:
        self.at(self.now + delay, fn, arg)

    def spawn(self, process) -> None:
        """Start a generator now; it runs until its first yield."""
        self._resume((process, None))

    def fire(self, signal: Signal, value=None) -> None:
        signal.fired, signal.value = True, value
        waiters, signal.waiters = signal.waiters, []
        for process in waiters:
            self.at(self.now, self._resume, (process, value))

    def _resume(self, pair) -> None:
        process, value = pair
        try:
            waited = process.send(value)
        except StopIteration:
            return
        if isinstance(waited, Signal):
            if waited.fired:
                self.at(self.now, self._resume, (process, waited.value))
            else:
                waited.waiters.append(process)
        else:
            self.at(self.now + waited, self._resume, (process, None))

    def run(self, until: float) -> None:
        heap, lanes, pop = self._heap, self._lanes, heapq.heappop
        while True:
            t, source = (heap[0][0] if heap else float("inf")), None
            for lane in lanes:
                if lane and lane[0][0] < t:
                    t, source = lane[0][0], lane
            if t > until:
                break
            self.now = t
            if source is None:
                _, _, fn, arg = pop(heap)
            else:
                _, fn, arg = source.popleft()
            fn(arg)
        self.now = max(self.now, until)
