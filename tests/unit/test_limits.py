"""What a source address counts as for the per-address limits."""

from __future__ import annotations

import pytest

from lambda_auth import limits


@pytest.mark.parametrize(
    ("source_ip", "subject"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::FFFF", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:198.51.100.7", "198.51.100.7"),  # an IPv4 client on a dual-stack socket
        ("not an address", "not an address"),
    ],
)
def test_an_ipv4_address_counts_as_itself_and_an_ipv6_address_as_its_64(source_ip: str, subject: str) -> None:
    assert limits.address(source_ip) == subject
