"""free_port: ports that no outgoing connection can take before the server binds them."""

import random
import socket

from locallambda import net
from locallambda.net import _ephemeral_range, free_port


def test_free_ports_lie_below_the_ephemeral_range_and_bind_on_both_loopbacks():
    low, _ = _ephemeral_range()
    ports = {free_port() for _ in range(20)}
    assert len(ports) > 15  # drawn at random: parallel runs rarely pick the same
    for port in ports:
        assert port < low
        with socket.socket() as s4, socket.socket(socket.AF_INET6) as s6:
            s4.bind(("127.0.0.1", port))
            s6.bind(("::1", port))


class Drawn(random.Random):
    """Draws the given ports in order."""

    def __init__(self, ports):
        super().__init__()
        self.ports = list(ports)

    def randrange(self, start, stop):
        return self.ports.pop(0)


def test_a_port_in_use_on_either_loopback_is_skipped(monkeypatch):
    taken4, taken6, free = free_port(), free_port(), free_port()
    with socket.socket() as h4, socket.socket(socket.AF_INET6) as h6:
        h4.bind(("127.0.0.1", taken4))
        h6.bind(("::1", taken6))
        monkeypatch.setattr(net, "_ports", Drawn([taken4, taken6, free]))
        assert free_port() == free
