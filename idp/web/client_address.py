"""Who is on the other end of a request: the address rate limits count and the audit log records.

`X-Forwarded-For` is a list every proxy appends its peer's address to, so only its right end can be
believed, and only as far as proxies we trust wrote it: anything to the left of the first address
that is not one of ours was written by the client, who may write anything.

The walk: if the TCP peer is not a trusted proxy, the header is ignored and the peer is the client.
Otherwise entries are read from the right, skipping those that are trusted proxies themselves; the
first one that is not is the client. An entry that is not an address ends the walk at the last
address read (a trusted proxy), so a client can never move its own limit by writing garbage.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: bare, or with a port ("192.0.2.1:5678", "[2001:db8::1]:443");
    IPv4-mapped IPv6 addresses (dual-stack sockets) as the IPv4 address. None if it is none of those."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Sequence[Network]) -> bool:
    return any(address in network for network in proxies)


def client_address(peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[Network]) -> str:
    """The client's address, given the TCP peer, the `X-Forwarded-For` header lines in order and the
    trusted proxies' networks."""
    if not peer:
        return "unknown"
    hop = parse_address(peer)
    if hop is None:
        return peer[:64]
    if not proxies or not _trusted(hop, proxies):
        return str(hop)
    entries = [entry for line in forwarded_for for entry in line.split(",")]
    for entry in reversed(entries):
        address = parse_address(entry)
        if address is None:
            break
        hop = address
        if not _trusted(hop, proxies):
            break
    return str(hop)
