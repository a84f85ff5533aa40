"""Loopback sockets, bound before register.

Binding first means function init code, which Lambda starts right after every
extension has registered, always finds the port open: connections wait in the
backlog until the server starts accepting. Built on the builtin _socket module
because this runs on the cold-start path, before the socket module is needed.
"""

from __future__ import annotations

import _socket
import errno
import os

LOOPBACK = (("127.0.0.1", _socket.AF_INET), ("::1", _socket.AF_INET6))


def bind(port: int, shared: bool = False) -> list:
    """Listen on 127.0.0.1 and, where the host has it, ::1. Never on other interfaces. shared: let more sockets
    listen on the same addresses (SO_REUSEPORT; see copies)."""
    return _bind([(host, family, port) for host, family in LOOPBACK], shared)


def copies(sockets: list) -> list:
    """One more listening socket for each of sockets (bound with shared=True) on its address: the kernel spreads
    new connections over all the sockets of an address, so each process of PSCACHE_WORKERS accepts its share."""
    return _bind([(s.getsockname()[0], s.family, s.getsockname()[1]) for s in sockets], True)


def _bind(addresses: list, shared: bool) -> list:
    sockets = []
    for host, family, port in addresses:
        try:
            # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY on accepted sockets only when their
            # proto says TCP, and without it keep-alive responses stall 40 ms on delayed ACKs.
            sock = _socket.socket(family, _socket.SOCK_STREAM, _socket.IPPROTO_TCP)
        except OSError:
            continue  # no IPv6 in this kernel
        try:
            sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            if shared:
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEPORT, 1)
            if family == _socket.AF_INET6:
                sock.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
            sock.bind((host, port))
            sock.listen(1024)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            # ::1 may simply not exist (IPv6 disabled); 127.0.0.1 must work.
            if family == _socket.AF_INET6 and exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
                continue
            for opened in sockets:
                opened.close()
            raise OSError(exc.errno, f"cannot listen on {host} port {port}: {exc.strerror}") from None
        sockets.append(sock)
    return sockets


def internal() -> tuple[object, str]:
    """A listening AF_UNIX socket under a random abstract name (no file), for the hit workers' relayed requests."""
    name = "\0pscache-" + os.urandom(12).hex()
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.bind(name)
    sock.listen(1024)
    sock.setblocking(False)
    return sock, name


def adopt(raw_sockets: list) -> list:
    """Wrap the bound _socket objects as socket.socket, which asyncio needs (accept(), etc.)."""
    import socket

    return [socket.socket(s.family, s.type, s.proto, fileno=s.detach()) for s in raw_sockets]
