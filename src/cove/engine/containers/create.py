"""Creating a container: its configuration checked, its snapshot, directory, volumes, network
addresses and /etc files made, its record written."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from cove.containers import etcfiles
from cove.containers import spec as container_spec
from cove.containers.model import BIND, VOLUME, ContainerConfig, MountSpec, NetworkKind, PullPolicy
from cove.containers.names import check_name
from cove.containers.store import ContainerRecord
from cove.engine.containers.layout import SOCKET_PATH_MAX, ContainerLayout
from cove.engine.runtimes import choose_runtime
from cove.errors import CoveError, ImageNotFound, InvalidArgument
from cove.host.trees import remove_quietly
from cove.images.store import ImageRecord
from cove.oci.digest import chain_ids
from cove.runtime import caps as capabilities


class Creator:
    def __init__(self, layout: ContainerLayout) -> None:
        self.layout = layout
        self.store = layout.store
        self.records = layout.records
        self.volumes = layout.volumes
        self.host = layout.host

    def _image(self, name: str, pull: PullPolicy) -> ImageRecord:
        try:
            return self.store.images.resolve(name)
        except ImageNotFound as exc:
            if pull is PullPolicy.NEVER:
                raise
            raise ImageNotFound(exc.ref) from None

    def create(
        self, config: ContainerConfig, name: str | None = None, *, pull: PullPolicy | str = PullPolicy.MISSING
    ) -> ContainerRecord:
        policy = PullPolicy.parse(pull)  # (a front-end's text is checked here too)
        if name is not None:
            name = check_name(name)
        # rmi decides that an image is unused from the containers table, holding the store lock
        # alone; so the image is resolved under that lock (shared) and the container is recorded
        # before it is let go: either rmi ran first (No such image) or it sees this container.
        with self.store.writing():
            return self._create(config, name, policy)

    def _create(self, config: ContainerConfig, name: str | None, pull: PullPolicy) -> ContainerRecord:
        image = self._image(config.image, pull)
        image_config = self.store.images.config(image)
        defaults = image_config.config
        info = choose_runtime(self.store, config.runtime)
        config = dataclasses.replace(config, mounts=list(config.mounts))
        self._validate(config, defaults)
        cid = secrets.token_hex(32)
        if len(str(self.layout.socket(cid))) > SOCKET_PATH_MAX:
            raise InvalidArgument(
                f"the runtime directory {self.layout.run_dir} is too long a path for unix sockets",
                hint="set COVE_RUNTIME_DIR to a shorter path",
            )
        chain = chain_ids(image_config.diff_ids)
        snapshot_key = f"container-{cid}"
        directory = self.layout.dir(cid)
        self.store.snapshotter.prepare(snapshot_key, chain[-1] if chain else None)
        try:
            directory.mkdir(parents=True)
            (directory / "bundle" / "rootfs").mkdir(parents=True)
            self.layout.log_path(cid).touch()
            hostname = config.hostname or (
                self.host.hostname() if config.network.kind is NetworkKind.HOST else cid[:12]
            )
            self._write_etc_files(directory, config, hostname)
            self._volumes_for(config, defaults)
            record = ContainerRecord(
                id=cid,
                name=name or "",
                image_id=image.id,
                image_ref=config.image,
                snapshot_key=snapshot_key,
                created=time.time(),
                config=dataclasses.replace(config, hostname=hostname, image_defaults=dict(defaults)),
                runtime=json.dumps(info._asdict()),
            )
            record = self.records.add(record, pick_name=name is None)
            for mount in config.mounts:
                if mount.type == VOLUME:
                    self.volumes.attach(cid, mount.source, mount.target)
            self._plan_network(record, directory)
        except BaseException:
            with contextlib.suppress(CoveError, OSError):
                self.records.delete(cid)
            with contextlib.suppress(CoveError, OSError):
                self.store.snapshotter.remove(snapshot_key)
            remove_quietly(directory)
            raise
        return record

    def _validate(self, config: ContainerConfig, image: dict[str, Any]) -> None:
        container_spec.command(config, image)
        container_spec.working_dir(config, image)
        container_spec.rlimits(config, self.host.hard_rlimit)
        container_spec.resources(config, self.host.cpu_count())
        container_spec.stop_signal(config, image)
        # Unknown names, and capabilities this host cannot grant, fail at create as in Docker.
        capabilities.effective_caps(
            config.cap_add, config.cap_drop, privileged=config.privileged, known=self.layout.known_caps()
        )
        if config.restart.restarts and config.auto_remove:
            raise InvalidArgument("conflicting options: cannot combine --restart and --rm")
        mode = config.network
        if mode.kind is NetworkKind.CONTAINER:
            self.records.resolve(mode.name)
        elif mode.network is not None:
            self.layout.networks.get(mode.network)  # raises when there is no such network
        elif config.ip or config.network_aliases:
            raise InvalidArgument(f"--ip and --network-alias need a user-defined network, not {mode}")
        for device in config.devices:
            if not os.path.exists(device.host_path):
                raise InvalidArgument(
                    "error gathering device information while adding custom device "
                    f'"{device.host_path}": no such file or directory'
                )
        seen: set[str] = set()
        for mount in config.mounts:
            if not mount.target.startswith("/"):
                raise InvalidArgument(f"invalid mount target {mount.target!r}: it must be an absolute path")
            if mount.target in seen:
                raise InvalidArgument(f"duplicate mount point: {mount.target}")
            seen.add(mount.target)
            if mount.type == BIND:
                if not mount.source.startswith("/"):
                    raise InvalidArgument(
                        f"invalid bind source {mount.source!r}: it must be an absolute path"
                    )
                if not os.path.exists(mount.source) and not mount.create_host_path:
                    raise InvalidArgument(
                        'invalid mount config for type "bind": '
                        f"bind source path does not exist: {mount.source}"
                    )

    def _volumes_for(self, config: ContainerConfig, image: dict[str, Any]) -> None:
        """Create the named and anonymous volumes the container needs (fills ``source``)."""
        targets = {m.target.rstrip("/") or "/" for m in config.mounts}
        for path in image.get("Volumes") or {}:
            if path.rstrip("/") not in targets:
                config.mounts.append(MountSpec(VOLUME, path))
        for index, mount in enumerate(config.mounts):
            if mount.type == VOLUME:
                volume = self.volumes.create(mount.source or None)
                config.mounts[index] = dataclasses.replace(mount, source=volume.name)

    def _plan_network(self, record: ContainerRecord, directory: Path) -> None:
        """Take the container's addresses; /etc/hosts names its own (as Docker's does)."""
        from cove.engine.networks import Attachment

        config = record.config
        network = config.network.network
        if network is None:
            return
        attachment = Attachment(network, tuple(config.network_aliases), config.ip, config.mac_address)
        self.layout.networks.plan(record.id, network, [attachment])
        endpoints = self.layout.networks.records.endpoints(container_id=record.id)
        if endpoints:
            first = self.layout.networks.records.get(endpoints[0].network_id)
            # On a user-defined network, names resolve through its DNS server at the gateway
            # (which forwards other names to the container's --dns servers, else the host's).
            dns = [first.gateway] if first.user_defined else config.dns
            self._write_etc_files(
                directory,
                dataclasses.replace(config, dns=dns),
                config.hostname or record.id[:12],
                endpoints[0].ip,
            )

    def _write_etc_files(
        self, directory: Path, config: ContainerConfig, hostname: str, address: str | None = None
    ) -> None:
        host_network = config.network.kind is NetworkKind.HOST
        extra = []
        for item in config.extra_hosts:
            name, _, address_ = item.partition(":")
            if address_ == "host-gateway":  # Docker's name for the host, seen from its bridge
                address_ = self.layout.networks.default().gateway
            extra.append((name, address_))
        if address:
            extra.append((hostname, address))
        (directory / "hostname").write_text(hostname + "\n")
        (directory / "hosts").write_text(etcfiles.hosts_file(extra, host_network))
        (directory / "resolv.conf").write_text(
            etcfiles.resolv_conf(
                host_network=host_network,
                dns=config.dns,
                dns_search=config.dns_search,
                dns_options=config.dns_options,
            )
        )
