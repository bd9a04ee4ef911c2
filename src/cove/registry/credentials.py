"""Registry credentials in Docker's ``config.json`` (``$DOCKER_CONFIG`` or ``~/.docker``).

Logins made with ``docker login`` work for cove and the other way round: credentials are
read from and written to ``auths`` (base64 ``user:password``), or handed to the credential
helper named by ``credHelpers`` (per registry) or ``credsStore`` (for all), as Docker does.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any, NamedTuple

from cove.errors import InvalidArgument, Unavailable
from cove.host.runner import CommandFailed, Runner

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
TOKEN_USER = "<token>"  # a helper's username for an identity token


class Credentials(NamedTuple):
    username: str
    secret: str  # a password, or an identity (refresh) token
    identity_token: bool = False


def server_key(domain: str) -> str:
    """The key Docker files a registry's login under."""
    return DOCKER_HUB_KEY if domain in HUB_ALIASES else domain


def _host_of(key: str) -> str:
    """``https://host:5000/v1/`` -> ``host:5000``; Docker Hub's aliases -> docker.io."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return "docker.io" if host in HUB_ALIASES else host


class CredentialStore:
    def __init__(self, directory: Path, runner: Runner) -> None:
        self.path = directory / "config.json"
        self.runner = runner

    # -- the file -------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise InvalidArgument(f"cannot read {self.path}: {exc}", hint="fix or remove the file") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"{self.path} is not a JSON object", hint="fix or remove the file")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent="\t")
            f.write("\n")
        os.replace(tmp, self.path)

    def _helper(self, data: dict[str, Any], domain: str) -> str | None:
        helpers = data.get("credHelpers") or {}
        for key, name in helpers.items():
            if _host_of(key) == _host_of(domain):
                return str(name)
        store = data.get("credsStore")
        return str(store) if store else None

    # -- credential helpers ----------------------------------------------------------

    def _call(self, helper: str, action: str, payload: bytes) -> bytes:
        try:
            return self.runner.run([f"docker-credential-{helper}", action], input=payload).stdout
        except CommandFailed as exc:
            detail = (exc.result.stdout or exc.result.stderr).decode(errors="replace").strip()
            if action == "get" and "credentials not found" in detail.lower():
                return b""
            raise Unavailable(
                f"credential helper docker-credential-{helper} {action} failed: {detail}"
            ) from None

    # -- the operations --------------------------------------------------------------

    def get(self, domain: str) -> Credentials | None:
        data = self._read()
        helper = self._helper(data, domain)
        if helper:
            out = self._call(helper, "get", server_key(domain).encode())
            if out:
                found = json.loads(out)
                user, secret = str(found.get("Username", "")), str(found.get("Secret", ""))
                if secret:
                    return Credentials(user, secret, identity_token=user == TOKEN_USER)
        for key, entry in (data.get("auths") or {}).items():
            if _host_of(key) != _host_of(domain) or not isinstance(entry, dict):
                continue
            if entry.get("identitytoken"):
                return Credentials(str(entry.get("username", "")), str(entry["identitytoken"]), True)
            if entry.get("auth"):
                try:
                    user, _, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise InvalidArgument(f"{self.path}: the login for {key} is not valid base64") from None
                return Credentials(user, password)
            if entry.get("username") and entry.get("password"):
                return Credentials(str(entry["username"]), str(entry["password"]))
        return None

    def store(self, domain: str, credentials: Credentials) -> str:
        """Save a login; returns where it went (the file, or a helper's name)."""
        data = self._read()
        key = server_key(domain)
        helper = self._helper(data, domain)
        if helper:
            user = TOKEN_USER if credentials.identity_token else credentials.username
            payload = {"ServerURL": key, "Username": user, "Secret": credentials.secret}
            self._call(helper, "store", json.dumps(payload).encode())
            auths = data.setdefault("auths", {})
            auths.setdefault(key, {})  # Docker records the login here too, without secrets
            self._write(data)
            return f"docker-credential-{helper}"
        auths = data.setdefault("auths", {})
        for old in [k for k in auths if _host_of(k) == _host_of(domain) and k != key]:
            del auths[old]
        if credentials.identity_token:
            auths[key] = {"identitytoken": credentials.secret}
        else:
            token = base64.b64encode(f"{credentials.username}:{credentials.secret}".encode()).decode()
            auths[key] = {"auth": token}
        self._write(data)
        return str(self.path)

    def erase(self, domain: str) -> bool:
        """Forget a login; False when there was none."""
        data = self._read()
        helper = self._helper(data, domain)
        found = False
        if helper:
            self._call(helper, "erase", server_key(domain).encode())
            found = True
        auths = data.get("auths") or {}
        for key in [k for k in auths if _host_of(k) == _host_of(domain)]:
            del auths[key]
            found = True
        if found:
            self._write(data)
        return found
