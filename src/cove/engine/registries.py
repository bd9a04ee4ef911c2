"""RegistryService: pull, push, login and logout.

Registry clients are made here from the engine's configuration (insecure registries,
mirrors, certificates, concurrency) and the user's logins (Docker's ``config.json`` in the
directory the caller names, so each user keeps their own).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from cove.engine.store import Store
from cove.errors import InvalidArgument
from cove.images.pull import Puller, PullResult
from cove.images.push import Pusher, PushResult
from cove.oci.platform import host_platform, parse_platform
from cove.oci.reference import parse_reference
from cove.progress import Progress, ProgressEvent, no_progress
from cove.registry.client import Registry
from cove.registry.credentials import DOCKER_HUB_KEY, Credentials, CredentialStore, server_key
from cove.registry.errors import Unauthorized
from cove.registry.hosts import DOCKER_HUB, RegistrySettings
from cove.registry.transport import Transport


class LoginResult(NamedTuple):
    server: str  # the key the login is filed under (https://index.docker.io/v1/ for Docker Hub)
    stored_in: str  # the config file, or the credential helper


def registry_domain(server: str | None) -> str:
    """``https://host:5000/v2/`` or ``host:5000`` -> ``host:5000``; nothing -> docker.io."""
    if not server or server.rstrip("/") in (DOCKER_HUB_KEY.rstrip("/"), "https://index.docker.io"):
        return DOCKER_HUB
    host = server.split("://", 1)[-1].split("/", 1)[0].lower()
    if not host:
        raise InvalidArgument(f"invalid registry address {server!r}")
    return DOCKER_HUB if host in ("index.docker.io", "registry-1.docker.io") else host


class RegistryService:
    def __init__(self, store: Store, transport: Callable[[RegistrySettings], Transport]) -> None:
        self.store = store
        self._make_transport = transport  # HttpTransport; a mock one in tests

    @cached_property
    def settings(self) -> RegistrySettings:
        config = self.store.config
        return RegistrySettings(
            insecure=config.insecure_registries,
            mirrors=config.registry_mirrors,
            certs_dir=config.certs_dir,
            max_concurrent_downloads=config.max_concurrent_downloads,
            max_concurrent_uploads=config.max_concurrent_uploads,
            upload_chunk_size=config.upload_chunk_size,
        )

    @cached_property
    def transport(self) -> Transport:
        return self._make_transport(self.settings)

    def close(self) -> None:
        if "transport" in self.__dict__:
            self.transport.close()

    def credentials(self, docker_config: Path) -> CredentialStore:
        return CredentialStore(docker_config, self.store.runner)

    def registry(
        self, domain: str, logins: Callable[[], Credentials | None], *, for_push: bool = False
    ) -> Registry:
        # Asked once per client: a credential helper is a process to run.
        return Registry(domain, self.settings, self.transport, functools.cache(logins), for_push=for_push)

    # -- pull ------------------------------------------------------------------------------

    def pull(
        self,
        name: str,
        *,
        docker_config: Path,
        platform: str | None = None,
        all_tags: bool = False,
        progress: Progress = no_progress,
    ) -> list[PullResult]:
        ref = parse_reference(name, default_tag=not all_tags)
        if all_tags and (ref.tag or ref.digest):
            raise InvalidArgument("tag can't be used with --all-tags/-a")
        store = self.credentials(docker_config)
        registry = self.registry(ref.domain, lambda: store.get(ref.domain))
        repo = registry.repository(ref.path)
        puller = Puller(
            self.store.content,
            self.store.images,
            self.store.unpacker,
            platform=parse_platform(platform) if platform else host_platform(),
            downloads=self.settings.max_concurrent_downloads,
            progress=progress,
        )
        refs = [ref.with_tag(tag) for tag in sorted(repo.tags())] if all_tags else [ref]
        results = []
        with self.store.writing():
            for one in refs:
                if all_tags:
                    progress(ProgressEvent(one.tag or "", "Pulling"))
                results.append(puller.pull(repo, one))
        return results

    # -- push ------------------------------------------------------------------------------

    def push(
        self,
        name: str,
        *,
        docker_config: Path,
        all_tags: bool = False,
        progress: Progress = no_progress,
    ) -> list[PushResult]:
        ref = parse_reference(name, default_tag=not all_tags)
        if ref.digest is not None:
            raise InvalidArgument(
                f"cannot push a digest reference: {name}", hint="push by name:tag (cove tag makes one)"
            )
        images = self.store.images
        if all_tags:
            if ref.tag:
                raise InvalidArgument("tag can't be used with --all-tags/-a")
            prefix = f"{ref.name}:"
            targets = [
                parse_reference(tag) for r in images.records() for tag in r.tags if tag.startswith(prefix)
            ]
            if not targets:
                raise InvalidArgument(f"An image does not exist locally with the tag: {ref.familiar_name()}")
        else:
            targets = [ref]
        records = []
        for target in targets:
            found = images.lookup_tag(target)
            if found is None:
                raise InvalidArgument(
                    f"An image does not exist locally with the tag: {target.familiar()}",
                    hint=f"tag an image with that name first: cove tag IMAGE {target.familiar()}",
                )
            records.append((target, images.get(found)))
        store = self.credentials(docker_config)
        registry = self.registry(ref.domain, lambda: store.get(ref.domain), for_push=True)
        repo = registry.repository(ref.path, ("pull", "push"))
        pusher = Pusher(
            self.store.content,
            images,
            uploads=self.settings.max_concurrent_uploads,
            chunk_size=self.settings.upload_chunk_size,
            progress=progress,
        )
        # Shared store lock: a prune must not remove blobs while they go out.
        with self.store.writing():
            return [pusher.push(repo, target, record) for target, record in records]

    # -- logins ----------------------------------------------------------------------------

    def login(self, server: str | None, username: str, password: str, *, docker_config: Path) -> LoginResult:
        """Check the credentials with the registry, then keep them."""
        domain = registry_domain(server)
        if not username or not password:
            raise InvalidArgument("login needs a username and a password", hint="use -u and --password-stdin")
        credentials = Credentials(username, password)
        registry = self.registry(domain, lambda: credentials)
        try:
            registry.ping()
        except Unauthorized as exc:
            raise Unauthorized(
                f"login to {domain} failed: unauthorized: incorrect username or password",
                status=exc.status,
                hint="check the username and password",
            ) from None
        where = self.credentials(docker_config).store(domain, credentials)
        return LoginResult(server_key(domain), where)

    def logout(self, server: str | None, *, docker_config: Path) -> tuple[str, bool]:
        """Forget a login: (the server key, whether there was one)."""
        domain = registry_domain(server)
        return server_key(domain), self.credentials(docker_config).erase(domain)

    def saved_login(self, server: str | None, docker_config: Path) -> Credentials | None:
        return self.credentials(docker_config).get(registry_domain(server))
