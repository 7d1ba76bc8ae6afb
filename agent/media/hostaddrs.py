"""This host's IP addresses for ICE host candidates, from the kernel over netlink (Linux).

aioice lists them with `ifaddr`, which calls `getifaddrs` through ctypes: loading ctypes
and ifaddr costs a bot ~4 ms of its start and ~0.3 MB of memory of its own, for a
list the kernel hands over on a netlink socket in one request. This reads that list
(`RTM_GETADDR`, as glibc's `getifaddrs` does) and keeps what aioice's
`get_host_addresses` keeps: every IPv4 address but 127.0.0.1, and every IPv6 address but
::1 and the link-local ones (those `getifaddrs` gives a scope id), interface by interface
in the kernel's interface order, IPv4 before IPv6 within one. `host_addresses` returns
None where netlink is not there (not Linux): the caller then uses aioice's own.
tests/unit/test_hostaddrs.py checks the lists are the same as aioice's on the machine it
runs on.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

_NETLINK_ROUTE = 0
_RTM_GETADDR = 22
_NLM_F_REQUEST = 0x1
_NLM_F_DUMP = 0x300
_NLMSG_DONE = 3
_NLMSG_ERROR = 2
_IFA_ADDRESS = 1
_IFA_LOCAL = 2
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
_RTATTR = struct.Struct("=HH")  # length, type


def _align(n: int) -> int:
    return (n + 3) & ~3


def _dump() -> list[tuple[int, int, bytes]]:
    """(interface index, family, address) of every address, in the kernel's order."""
    out: list[tuple[int, int, bytes]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_ROUTE) as sock:
        sock.bind((0, 0))
        body = _IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
        flags = _NLM_F_REQUEST | _NLM_F_DUMP
        sock.send(_HEADER.pack(_HEADER.size + len(body), _RTM_GETADDR, flags, 1, 0) + body)
        while True:
            data = sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind, _flags, _seq, _pid = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    return out
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    raise OSError("netlink: RTM_GETADDR refused")
                if kind == _RTM_GETADDR - 2:  # RTM_NEWADDR: one address
                    out.append(_address(data[offset + _HEADER.size : offset + length]))
                offset += _align(length)


def _address(message: bytes) -> tuple[int, int, bytes]:
    family, _prefix, _flags, _scope, index = _IFADDRMSG.unpack_from(message)
    attrs: dict[int, bytes] = {}
    offset = _IFADDRMSG.size
    while offset + _RTATTR.size <= len(message):
        length, kind = _RTATTR.unpack_from(message, offset)
        if length < _RTATTR.size:
            break
        attrs[kind] = message[offset + _RTATTR.size : offset + length]
        offset += _align(length)
    # IPv4: IFA_LOCAL is this end's address (IFA_ADDRESS the peer's, on a point-to-point
    # link); glibc reads it the same way.
    return index, family, attrs.get(_IFA_LOCAL) or attrs.get(_IFA_ADDRESS, b"")


def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str] | None:
    """What aioice's `get_host_addresses(use_ipv4, use_ipv6)` returns, without ctypes;
    None where there is no netlink."""
    if not hasattr(socket, "AF_NETLINK") or not os.path.exists("/proc/net"):
        return None
    try:
        entries = _dump()
        interfaces = [index for index, _name in socket.if_nameindex()]
    except OSError:
        return None
    out: list[str] = []
    for interface in interfaces:
        for family in (socket.AF_INET, socket.AF_INET6):
            for index, fam, raw in entries:
                if index != interface or fam != family:
                    continue
                if family == socket.AF_INET and use_ipv4 and len(raw) == 4:
                    text = socket.inet_ntop(socket.AF_INET, raw)
                    if text != "127.0.0.1":
                        out.append(text)
                elif family == socket.AF_INET6 and use_ipv6 and len(raw) == 16:
                    address = ipaddress.IPv6Address(raw)
                    if address.is_link_local or address == ipaddress.IPv6Address(1):
                        continue
                    if address.is_multicast and (raw[1] & 0x0F) == 2:  # link-local scope
                        continue
                    out.append(socket.inet_ntop(socket.AF_INET6, raw))
    return out
