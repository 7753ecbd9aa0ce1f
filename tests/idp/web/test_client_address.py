"""Which address a request comes from: the X-Forwarded-For walk (its setting, `IDP_TRUSTED_PROXIES`,
is parsed and checked in tests/idp/test_settings.py)."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from idp.web.client_address import client_address, parse_address

PROXIES = (ip_network("10.0.0.0/24"), ip_network("2001:db8:ffff::/48"))
LB = "10.0.0.2"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address("198.51.100.7", ["203.0.113.9"], PROXIES) == "198.51.100.7"
    assert client_address("198.51.100.7", ["10.0.0.5, 203.0.113.9"], PROXIES) == "198.51.100.7"


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address(LB, ["203.0.113.9"], ()) == LB


def test_behind_a_trusted_proxy_the_entry_it_added_is_the_client() -> None:
    assert client_address(LB, ["203.0.113.9"], PROXIES) == "203.0.113.9"


def test_entries_the_client_wrote_are_ignored() -> None:
    # The client sent "X-Forwarded-For: 1.2.3.4, 10.0.0.7"; the load balancer appended its peer.
    assert client_address(LB, ["1.2.3.4, 10.0.0.7, 203.0.113.9"], PROXIES) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_is_walked_through() -> None:
    assert client_address(LB, ["1.2.3.4, 203.0.113.9, 10.0.0.3, 10.0.0.4"], PROXIES) == "203.0.113.9"


def test_several_header_lines_are_one_list_in_order() -> None:
    assert client_address(LB, ["1.2.3.4", "203.0.113.9, 10.0.0.3"], PROXIES) == "203.0.113.9"


@pytest.mark.parametrize(("header", "expected"), [
    ("garbage, 10.0.0.3", "10.0.0.3"),
    ("203.0.113.9, unknown, 10.0.0.3", "10.0.0.3"),
    (", 10.0.0.3", "10.0.0.3"),
    ("203.0.113.9 10.0.0.3", LB),
])
def test_a_malformed_entry_stops_the_walk_at_the_last_trusted_hop(header: str, expected: str) -> None:
    # Never the client's own choice: the proxy that passed the entry along answers for it.
    assert client_address(LB, [header], PROXIES) == expected


def test_only_trusted_entries_mean_the_request_came_from_the_proxies() -> None:
    assert client_address(LB, ["10.0.0.3, 10.0.0.4"], PROXIES) == "10.0.0.3"
    assert client_address(LB, [], PROXIES) == LB


def test_ports_brackets_and_mapped_addresses() -> None:
    assert client_address(LB, ["203.0.113.9:51234"], PROXIES) == "203.0.113.9"
    assert client_address(LB, ["[2001:db8::7]:443"], PROXIES) == "2001:db8::7"
    assert client_address("::ffff:10.0.0.2", ["203.0.113.9"], PROXIES) == "203.0.113.9"
    assert client_address("2001:db8:ffff::1", ["2001:db8::7"], PROXIES) == "2001:db8::7"
    assert parse_address("not an address") is None


def test_a_peer_that_is_no_address() -> None:
    assert client_address("testclient", ["203.0.113.9"], PROXIES) == "testclient"
    assert client_address(None, ["203.0.113.9"], PROXIES) == "unknown"
