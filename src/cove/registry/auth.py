"""Registry authentication: the challenge a registry answers with, and its answers.

A registry says how it wants to be asked in ``WWW-Authenticate``: ``Basic realm=...`` or
``Bearer realm=...,service=...,scope=...``. Basic sends the credentials with every
request; Bearer trades them (or nothing, anonymously) at the realm for a token valid for
some scopes (``repository:library/busybox:pull``) and some time. Tokens are cached per
scope set and fetched anew when they expire or stop working.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple
from urllib.parse import urlencode

from cove.registry.credentials import Credentials
from cove.registry.errors import RegistryUnavailable, Unauthorized
from cove.registry.transport import Transport, fetch

DEFAULT_TOKEN_LIFETIME = 60  # seconds, as the token spec says when expires_in is absent
EARLY = 10  # seconds before expiry at which a token is renewed
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*(?:,|$)')


class Challenge(NamedTuple):
    scheme: str  # "basic" or "bearer"
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """``WWW-Authenticate`` values: ``Bearer realm="...",service="..."``; several may be joined."""
    found: list[Challenge] = []
    rest = header.strip()
    while rest:
        scheme, _, rest = rest.partition(" ")
        params: dict[str, str] = {}
        while True:
            match = _PARAM.match(rest)
            if not match:
                break
            value = match.group(2) if match.group(2) is not None else match.group(3)
            params[match.group(1).lower()] = value.replace('\\"', '"')
            rest = rest[match.end() :]
            if not rest or re.match(r"\s*[A-Za-z]+\s+[A-Za-z0-9_-]+=", rest):
                break
        found.append(Challenge(scheme.strip().lower(), params))
        rest = rest.strip().lstrip(",").strip()
    return found


def scope_for(repository: str, actions: Sequence[str]) -> str:
    return f"repository:{repository}:{','.join(actions)}"


class Authorizer:
    """Authorization for one registry endpoint, shared by the threads of one pull or push."""

    def __init__(
        self,
        transport: Transport,
        host: str,
        credentials: Callable[[], Credentials | None],
        verify: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transport = transport
        self._clock = clock
        self.host = host
        self._credentials = credentials
        self._verify = verify
        self._challenge: Challenge | None = None
        self._tokens: dict[tuple[str, ...], tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._fetching = threading.Lock()

    @property
    def known(self) -> bool:
        """Has the registry told us how it wants to be asked?"""
        return self._challenge is not None

    def learn(self, www_authenticate: str | None) -> None:
        """Take note of a 401's challenge; the next :meth:`header` answers it."""
        for challenge in parse_challenges(www_authenticate or ""):
            if challenge.scheme in ("bearer", "basic"):
                with self._lock:
                    self._challenge = challenge
                return

    def forget(self, scopes: Sequence[str]) -> None:
        """Drop a cached token that the registry no longer took."""
        with self._lock:
            self._tokens.pop(tuple(sorted(scopes)), None)

    def header(self, scopes: Sequence[str]) -> dict[str, str]:
        challenge = self._challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            creds = self._credentials()
            if creds is None:
                return {}
            pair = f"{creds.username}:{creds.secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        key = tuple(sorted(scopes))
        cached = self._cached(key)
        if cached is None:
            # One fetch at a time: parallel layer requests then share the token it got.
            with self._fetching:
                cached = self._cached(key)
                if cached is None:
                    cached, lifetime = self._fetch_token(challenge, list(key))
                    with self._lock:
                        self._tokens[key] = (cached, self._clock() + max(1, lifetime - EARLY))
        return {"Authorization": f"Bearer {cached}"}

    def _cached(self, key: tuple[str, ...]) -> str | None:
        with self._lock:
            found = self._tokens.get(key)
        return found[0] if found is not None and found[1] > self._clock() else None

    def _fetch_token(self, challenge: Challenge, scopes: list[str]) -> tuple[str, int]:
        realm = challenge.params.get("realm")
        if not realm:
            raise Unauthorized(f"{self.host} asks for a token but names no realm to get it from")
        creds = self._credentials()
        service = challenge.params.get("service", "")
        if creds is not None and creds.identity_token:
            # OAuth2 with the refresh token that an earlier login returned
            form = {"grant_type": "refresh_token", "refresh_token": creds.secret, "client_id": "cove"}
            if service:
                form["service"] = service
            if scopes:
                form["scope"] = " ".join(scopes)
            response = fetch(
                self.transport,
                "POST",
                realm,
                body=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                verify=self._verify,
            )
        else:
            query = [("service", service)] if service else []
            query += [("scope", s) for s in scopes]
            if creds is not None:
                query.append(("account", creds.username))
            headers = {}
            if creds is not None:
                pair = f"{creds.username}:{creds.secret}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
            url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
            response = fetch(self.transport, "GET", url, headers=headers, verify=self._verify)
        if response.status in (401, 403):
            response.excerpt()
            what = "incorrect username or password" if creds is not None else "authentication required"
            raise Unauthorized(f"unauthorized: {what} (token server for {self.host})", status=response.status)
        if response.status != 200:
            response.excerpt()
            raise RegistryUnavailable(f"the token server for {self.host} answered HTTP {response.status}")
        body = response.body(1 << 20)
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
            lifetime = int(data.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
        except (ValueError, AttributeError, TypeError, RecursionError, OverflowError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryUnavailable(f"the token server for {self.host} returned no token")
        return token, lifetime
