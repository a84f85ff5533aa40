"""What a model run counts, per simulated second and in total."""

from __future__ import annotations

FIELDS = (
    "arrivals",  # invokes that reached Lambda
    "lambda_throttled",  # refused by Lambda: no environment and no room to scale
    "cold_starts",  # environments created
    "errors",  # invokes whose reads got an error (after the client's retries)
    "waited",  # invokes that waited more than WAIT_S from arrival to holding all their values
    "stale",  # reads answered with a stale value (stale-if-error)
    "calls",  # upstream HTTP calls, retries included
    "throttled",  # of those, answered ThrottlingException
)
WAIT_S = 1.0
HIST_STEP_S = 0.0005  # wait times are kept as a histogram of 0.5 ms steps up to 30 s: millions of invokes
HIST_BINS = 60001


class Metrics:
    def __init__(self, seconds: int):
        self.seconds = seconds
        self.per_second = {name: [0] * seconds for name in FIELDS}
        self.environments = [0] * seconds  # live environments at the end of each second
        self.wait_hist = [0] * HIST_BINS  # arrival -> all values held, per served invoke

    def waited(self, arrived: float, seconds: float) -> None:
        self.wait_hist[min(HIST_BINS - 1, int(seconds / HIST_STEP_S))] += 1
        if seconds > WAIT_S:
            self.add("waited", arrived)

    def wait_percentile(self, p: float) -> float:
        total = sum(self.wait_hist)
        if not total:
            return float("nan")
        rank, seen = total * p / 100, 0
        for i, n in enumerate(self.wait_hist):
            seen += n
            if seen >= rank:
                return (i + 0.5) * HIST_STEP_S
        return HIST_BINS * HIST_STEP_S

    def add(self, name: str, t: float, n: int = 1) -> None:
        i = int(t)
        if i < self.seconds:
            self.per_second[name][i] += n

    def totals(self) -> dict:
        return {name: sum(values) for name, values in self.per_second.items()}
