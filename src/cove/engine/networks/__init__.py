"""Bridge networks, container endpoints on them, and the host's rules.

Life of an endpoint: made at create (the address is taken then, and kept while the
container exists, so it never changes between restarts), wired at start (a namespace, a
veth pair to the bridge, address and routes), unwired at removal or disconnect.

One module per job, behind the :class:`NetworkService` front: ``records`` (networks),
``addresses`` (subnets and addresses), ``wiring`` (namespaces and links), ``ports``
(published ports), ``firewall`` (nftables or iptables rules), ``dns`` (the names of
user-defined networks) and ``hostnames`` (what a store's host objects are called, and their
release by those names).
"""

from cove.engine.networks.addresses import mac_for
from cove.engine.networks.hostnames import HostNames, netns_name, release_host_objects
from cove.engine.networks.model import Attachment
from cove.engine.networks.service import NetworkService
from cove.network.ports import Binding, PortSpec
from cove.network.store import Endpoint, NetworkRecord

__all__ = [
    "Attachment",
    "Binding",
    "Endpoint",
    "HostNames",
    "NetworkRecord",
    "NetworkService",
    "PortSpec",
    "mac_for",
    "netns_name",
    "release_host_objects",
]
