"""Client addresses grouped into the networks a person would recognise.

An IPv4 address is shown as its /24 (one office, one lab, one NAT), an IPv6
address as its /48 (one site's allocation). An address the record does not
hold, or one that is not an address, is shown as it is.
"""

from __future__ import annotations

import ipaddress

IPV4_PREFIX = 24
IPV6_PREFIX = 48
UNKNOWN = "(no address recorded)"


def network_of(address: str | None) -> str:
    """The /24 or /48 that `address` belongs to, as text ("10.1.2.0/24", "2001:db8:1::/48")."""
    if not address:
        return UNKNOWN
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address
    if parsed.version == 6 and parsed.ipv4_mapped is not None:  # type: ignore[union-attr]
        parsed = parsed.ipv4_mapped  # type: ignore[union-attr]
    prefix = IPV4_PREFIX if parsed.version == 4 else IPV6_PREFIX
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))
