"""The test helpers' own promises: ports the kernel will not hand to an outgoing connection."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.helpers import free_port, free_ports


def test_free_ports_come_from_below_the_ephemeral_range_and_do_not_repeat() -> None:
    ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(port < ephemeral_low for port in ports)
    assert len(set(ports)) == len(ports)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))  # free now, bindable by the test


def test_free_ports_skip_a_port_that_is_taken() -> None:
    first = free_ports(3)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", first + 1))
        holder.listen()
        again = [free_ports(3) for _ in range(20)]
    assert all(not start <= first + 1 < start + 3 for start in again)
