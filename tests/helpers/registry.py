"""Real OCI registries on 127.0.0.1 for tests: the CNCF distribution registry (``docker-registry``).

A :class:`Registry` serves plain HTTP, TLS (with a test CA made by openssl), basic auth
(htpasswd) or Docker token auth against a :class:`TokenServer`. A :class:`SlowProxy` sits in
front of one to throttle responses or cut connections mid-body. :func:`put_image`,
:func:`put_index` and :func:`push_oci_layout` fill a registry without cove.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import http.server
import json
import math
import os
import re
import secrets
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Protocol, Self

from tests.helpers.images import OCI_INDEX, BuiltImage, build_image, digest

SERVICE = "cove-test-registry"
ISSUER = "cove-test-issuer"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    DOCKER_MANIFEST_LIST,
)
# The registry accepts tokens this long after their "exp" and before their "nbf" (clock skew).
REGISTRY_TOKEN_LEEWAY = 60
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _run(args: Sequence[str], *, input: bytes | None = None, cwd: Path | None = None) -> bytes:
    proc = subprocess.run(list(args), input=input, cwd=cwd, capture_output=True, check=False, timeout=60)
    if proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed rc={proc.returncode}\n{proc.stdout.decode(errors='replace')}"
            f"\n{proc.stderr.decode(errors='replace')}"
        )
    return proc.stdout


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _rfc3339(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- certificates


class CertAuthority:
    """A throw-away CA (EC P-256, made by openssl) that issues server and client certificates."""

    def __init__(self, directory: Path, name: str = "cove-test-ca") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.cert_path = directory / "ca.pem"
        self.key_path = directory / "ca.key"
        _run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", str(self.key_path), "-out", str(self.cert_path), "-days", "2",
                "-subj", f"/CN={name}",
                "-addext", "basicConstraints=critical,CA:true",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ]
        )  # fmt: skip

    def issue(
        self,
        cert_path: Path,
        key_path: Path,
        *,
        common_name: str,
        client: bool = False,
        sans: Sequence[str] = ("IP:127.0.0.1", "DNS:localhost"),
    ) -> tuple[Path, Path]:
        """A leaf certificate and its key, signed by this CA, for a server (with ``sans``) or a client."""
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        csr = cert_path.with_name(cert_path.name + ".csr")
        ext = cert_path.with_name(cert_path.name + ".ext")
        lines = ["basicConstraints=critical,CA:false", "keyUsage=critical,digitalSignature,keyEncipherment"]
        if client:
            lines.append("extendedKeyUsage=clientAuth")
        else:
            lines.append("extendedKeyUsage=serverAuth")
            lines.append("subjectAltName=" + ",".join(sans))
        ext.write_text("\n".join(lines) + "\n")
        _run(
            [
                "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", str(key_path), "-out", str(csr), "-subj", f"/CN={common_name}",
            ]
        )  # fmt: skip
        _run(
            [
                "openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.cert_path),
                "-CAkey", str(self.key_path), "-set_serial", str(secrets.randbits(63) + 1),
                "-days", "2", "-extfile", str(ext), "-out", str(cert_path),
            ]
        )  # fmt: skip
        csr.unlink()
        ext.unlink()
        return cert_path, key_path


# --------------------------------------------------------------------------- the registry


class Endpoint(Protocol):
    """Anything a client can talk to: a Registry or a SlowProxy in front of one."""

    @property
    def url(self) -> str: ...

    @property
    def host(self) -> str: ...

    @property
    def ca_path(self) -> Path | None: ...


class Registry:
    """One ``docker-registry serve`` process with its own config, storage and port.

    ``tls`` serves HTTPS with a certificate from a fresh test CA (``ca_path``);
    ``require_client_cert`` makes the registry demand a client certificate from that CA.
    ``users`` turns on basic auth (htpasswd, bcrypt); ``token_server`` turns on token auth.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        tls: bool = False,
        require_client_cert: bool = False,
        users: Mapping[str, str] | None = None,
        token_server: TokenServer | None = None,
        port: int | None = None,
        binary: str = "docker-registry",
    ) -> None:
        if users and token_server:
            raise ValueError("basic auth and token auth exclude each other")
        if require_client_cert and not tls:
            raise ValueError("client certificates need tls=True")
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.storage = workdir / "storage"
        self.storage.mkdir(exist_ok=True)
        self.config_path = workdir / "config.yml"
        self.log_path = workdir / "registry.log"
        self.tls = tls
        self.require_client_cert = require_client_cert
        self.users = dict(users or {})
        self.token_server = token_server
        self.binary = binary
        self._fixed_port = port is not None
        self.port = port if port is not None else free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.ca: CertAuthority | None = None
        self._client_certs = 0
        self.cert_path = workdir / "tls" / "server.pem"
        self.key_path = workdir / "tls" / "server.key"
        # With tls: the layout containers tools and Docker read in certs.d/HOST/ (ca.crt).
        self.cert_dir = workdir / "certs"
        self.htpasswd_path = workdir / "htpasswd"
        if tls:
            self.ca = CertAuthority(workdir / "ca")
            self.ca.issue(self.cert_path, self.key_path, common_name="localhost")
            self.cert_dir.mkdir(exist_ok=True)
            (self.cert_dir / "ca.crt").write_bytes(self.ca.cert_path.read_bytes())
        if self.users:
            lines = [
                _run(["htpasswd", "-Bbn", user, password]).strip() for user, password in self.users.items()
            ]
            self.htpasswd_path.write_bytes(b"\n".join(lines) + b"\n")

    # --- addresses

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    @property
    def ca_path(self) -> Path | None:
        return self.ca.cert_path if self.ca else None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def blob_path(self, blob_digest: str) -> Path:
        """Where the registry keeps a blob's bytes (to corrupt or remove it behind its back)."""
        algorithm, _, hexdigest = blob_digest.partition(":")
        assert algorithm == "sha256" and len(hexdigest) == 64, blob_digest
        return self.storage / "docker/registry/v2/blobs/sha256" / hexdigest[:2] / hexdigest / "data"

    def client_cert(self, directory: Path | None = None) -> tuple[Path, Path]:
        """A client certificate and key signed by the test CA, as ``client.cert`` / ``client.key``."""
        if self.ca is None:
            raise ValueError("client certificates need tls=True")
        if directory is None:
            self._client_certs += 1
            directory = self.workdir / f"client-{self._client_certs}"
        return self.ca.issue(
            directory / "client.cert", directory / "client.key", common_name="cove-test-client", client=True
        )

    def log(self) -> str:
        """What the registry wrote to stderr (all runs)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # --- config

    def config(self) -> dict[str, Any]:
        http_section: dict[str, Any] = {
            "addr": self.host,
            "secret": "cove-test-secret",
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        }
        if self.tls:
            tls: dict[str, Any] = {"certificate": str(self.cert_path), "key": str(self.key_path)}
            if self.require_client_cert:
                assert self.ca is not None
                tls["clientcas"] = [str(self.ca.cert_path)]
            http_section["tls"] = tls
        config: dict[str, Any] = {
            "version": "0.1",
            "log": {"level": "warn", "formatter": "text", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": http_section,
        }
        if self.users:
            config["auth"] = {"htpasswd": {"realm": "cove-test-realm", "path": str(self.htpasswd_path)}}
        elif self.token_server is not None:
            ts = self.token_server
            config["auth"] = {
                "token": {
                    "realm": ts.realm,
                    "service": ts.service,
                    "issuer": ts.issuer,
                    "rootcertbundle": str(ts.cert_path),
                }
            }
        return config

    # --- life cycle

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self.running:
            return
        for attempt in range(3):
            # JSON is YAML: no YAML writer needed.
            self.config_path.write_text(json.dumps(self.config(), indent=2) + "\n")
            env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    [self.binary, "serve", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=env,
                    start_new_session=True,
                )
            try:
                self._wait_ready(timeout)
                return
            except BaseException:
                self._terminate(signal.SIGKILL)
                # Another process took the port between free_port() and the registry's bind.
                if not self._fixed_port and attempt < 2 and "address already in use" in self.log():
                    self.port = free_port()
                    continue
                raise

    def _wait_ready(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        context = self._probe_context()
        last = "no answer"
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"docker-registry exited with {self.process.returncode} at start\n{self.log()[-4000:]}"
                )
            try:
                conn = _connection(self.url, context, timeout=1.0)
                try:
                    conn.request("GET", "/v2/")
                    status = conn.getresponse().status
                finally:
                    conn.close()
                if status in (200, 401):
                    return
                last = f"GET /v2/ answered {status}"
            except (OSError, http.client.HTTPException) as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"docker-registry not ready after {timeout}s ({last})\n{self.log()[-4000:]}"
                )
            time.sleep(0.05)

    def _probe_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=str(self.ca_path))
        if self.require_client_cert:
            cert, key = self.client_cert(self.workdir / "probe-client")
            context.load_cert_chain(str(cert), str(key))
        return context

    def _terminate(self, sig: signal.Signals, grace: float = STOP_TIMEOUT) -> None:
        proc = self.process
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.process = None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL at once, as a crash would."""
        self._terminate(signal.SIGKILL)

    def restart(self) -> None:
        """Stop (if running) and start again on the same port and storage."""
        self.stop()
        self._fixed_port = True
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Registry {self.url} pid={self.pid}>"


def _connection(
    url: str, context: ssl.SSLContext | None, timeout: float = 30.0
) -> http.client.HTTPConnection:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port or 443, timeout=timeout, context=context
        )
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)


# --------------------------------------------------------------------------- token server


class TokenRequest(NamedTuple):
    method: str
    path: str
    query: dict[str, list[str]]  # query string, and for POST the form fields (password left out)
    user: str | None


# (user or None for anonymous, resource type, resource name, requested actions) -> granted actions
Policy = Callable[[str | None, str, str, list[str]], list[str]]


class _TrackingHTTPServer(http.server.ThreadingHTTPServer):
    """Closes kept-alive client connections on stop, so no handler thread outlives the server."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[http.server.BaseHTTPRequestHandler]) -> None:
        super().__init__(address, handler)
        self.connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self.connections)
        for conn in connections:
            _shutdown(conn)


class TokenServer:
    """A Docker token auth server (https://distribution.github.io/distribution/spec/auth/token/).

    ``GET /token?service=S&scope=repository:NAME:pull,push`` (scope may repeat; Basic auth
    optional) and ``POST /token`` (OAuth2 form: ``grant_type=password`` or ``refresh_token``).
    Known users get what they ask for, users in ``denied`` get no access at all, anonymous
    clients get "pull" when ``anonymous_pull`` (else nothing); ``policy`` replaces these rules.
    A wrong password answers 401. Tokens are RS256 JWTs with an ``x5c`` header.

    ``expires_in`` is what clients are told. The registry accepts a token up to 60 s past its
    ``exp``; ``exact_expiry`` backdates ``exp`` by that much so the registry refuses it right
    when ``expires_in`` has passed. ``fail_status`` makes every request answer that status.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        users: Mapping[str, str] | None = None,
        denied: Iterable[str] = (),
        anonymous_pull: bool = False,
        expires_in: int = 60,
        exact_expiry: bool = False,
        policy: Policy | None = None,
        service: str = SERVICE,
        issuer: str = ISSUER,
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.denied = set(denied)
        self.anonymous_pull = anonymous_pull
        self.expires_in = expires_in
        self.exact_expiry = exact_expiry
        self.policy = policy
        self.service = service
        self.issuer = issuer
        self.fail_status: int | None = None
        self.requests: list[TokenRequest] = []
        self.refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self.key_path = workdir / "token.key"
        self.cert_path = workdir / "token.pem"
        _run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.key_path),
                "-out", str(self.cert_path), "-days", "2", "-subj", "/CN=cove-test-token-issuer",
            ]
        )  # fmt: skip
        self._cert_der = ssl.PEM_cert_to_DER_cert(self.cert_path.read_text())
        self._server: _TrackingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    @property
    def token_fetches(self) -> int:
        """How many tokens were asked for (GET and POST)."""
        with self._lock:
            return len(self.requests)

    def start(self) -> None:
        if self._server is not None:
            return
        server = _TrackingHTTPServer(("127.0.0.1", self.port), _make_token_handler(self))
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="token-server", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        self._server = None
        self._thread = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- tokens

    def grant(self, user: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """The "access" claim for ``user`` (None: anonymous) asking for ``scopes``."""
        access: list[dict[str, Any]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions_text = rest.rpartition(":")
            if not kind or not name:
                continue
            actions = [a for a in actions_text.split(",") if a]
            if self.policy is not None:
                granted = self.policy(user, kind, name, actions)
            elif user is None:
                granted = (
                    ["pull"] if self.anonymous_pull and kind == "repository" and "pull" in actions else []
                )
            elif user in self.denied:
                granted = []
            else:
                granted = actions
            access.append({"type": kind, "name": name, "actions": granted})
        return access

    def issue(self, subject: str, access: list[dict[str, Any]], *, expires_in: int | None = None) -> str:
        """A signed JWT the registry accepts (``subject`` "" for anonymous)."""
        clock = time.time()
        now = int(clock)
        lifetime = self.expires_in if expires_in is None else expires_in
        # Rounded up: the token lives at least ``lifetime`` seconds.
        exp = math.ceil(clock + lifetime) - (REGISTRY_TOKEN_LEEWAY if self.exact_expiry else 0)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._cert_der).decode()]}
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,  # registry 2.8 wants a string here, not a list
            "exp": exp,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(claims).encode())
        signature = _run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key_path)], input=signing_input.encode()
        )
        return signing_input + "." + _b64url(signature)

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _check_password(self, user: str, password: str) -> bool:
        return user in self.users and secrets.compare_digest(self.users[user], password)

    def _new_refresh_token(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self.refresh_tokens[token] = user
        return token


def _make_token_handler(ts: TokenServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _unauthorized(self, detail: str) -> None:
            self._reply(
                401,
                {"errors": [{"code": "UNAUTHORIZED", "message": detail}], "details": detail},
                {"WWW-Authenticate": 'Basic realm="cove-test-token"'},
            )

        def _token_reply(self, user: str | None, scopes: list[str], *, oauth: bool, refresh: bool) -> None:
            access = ts.grant(user, scopes)
            token = ts.issue(user or "", access)
            now = time.time()
            body: dict[str, Any] = {
                "access_token": token,
                "expires_in": ts.expires_in,
                "issued_at": _rfc3339(now),
            }
            if oauth:
                body["scope"] = " ".join(scopes)
            else:
                body["token"] = token
            if refresh and user is not None:
                body["refresh_token"] = ts._new_refresh_token(user)
            self._reply(200, body)

        def do_GET(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            user: str | None = None
            auth = self.headers.get("Authorization", "")
            password = None
            if auth.lower().startswith("basic "):
                try:
                    decoded = base64.b64decode(auth[6:].strip()).decode()
                except (ValueError, UnicodeDecodeError):
                    decoded = ":"
                user, _, password = decoded.partition(":")
            ts._record(TokenRequest("GET", parts.path, query, user))
            if ts.fail_status is not None:
                self._reply(ts.fail_status, {"details": "failing on purpose"})
                return
            if parts.path != "/token":
                self._reply(404, {"details": "not found"})
                return
            if user is not None and not ts._check_password(user, password or ""):
                self._unauthorized("incorrect username or password")
                return
            offline = query.get("offline_token", ["false"])[0].lower() == "true"
            self._token_reply(user, query.get("scope", []), oauth=False, refresh=offline)

        def do_POST(self) -> None:
            parts = urllib.parse.urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(self.rfile.read(length).decode(errors="replace"))
            grant_type = form.get("grant_type", [""])[0]
            user: str | None = None
            ok = False
            if grant_type == "password":
                user = form.get("username", [""])[0]
                ok = ts._check_password(user, form.get("password", [""])[0])
            elif grant_type == "refresh_token":
                with ts._lock:
                    user = ts.refresh_tokens.get(form.get("refresh_token", [""])[0])
                ok = user is not None
            recorded = {k: v for k, v in form.items() if k != "password"}
            ts._record(TokenRequest("POST", parts.path, recorded, user))
            if ts.fail_status is not None:
                self._reply(ts.fail_status, {"details": "failing on purpose"})
                return
            if parts.path != "/token":
                self._reply(404, {"details": "not found"})
                return
            if grant_type not in ("password", "refresh_token"):
                self._reply(400, {"error": "unsupported_grant_type"})
                return
            if not ok:
                self._unauthorized("invalid credentials or refresh token")
                return
            scopes = [s for value in form.get("scope", []) for s in value.split()]
            self._token_reply(user, scopes, oauth=True, refresh=grant_type == "password")

    return Handler


# --------------------------------------------------------------------------- slow proxy


_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.[01]\r\n")


@dataclass
class _ConnState:
    request: str = ""  # "METHOD /path" of the request the server is answering
    answering: bool = True  # server bytes flowed since that request began
    in_headers: bool = True
    header_buf: bytes = b""
    counted: int = 0  # bytes counted towards the cut
    sockets: list[socket.socket] = field(default_factory=list)


class SlowProxy:
    """A TCP proxy on 127.0.0.1 in front of a registry (or any ``host:port``).

    ``rate`` (bytes/s, per connection; None: unthrottled) slows server-to-client data and can
    be changed at any time. :meth:`cut_after` closes connections after N bytes went to the client.
    TLS passes through untouched (the registry's certificate names 127.0.0.1).
    """

    def __init__(self, target: Registry | str, *, rate: float | None = None) -> None:
        if isinstance(target, Registry):
            self.target = target.host
            self._scheme = "https" if target.tls else "http"
            self._ca_path = target.ca_path
        else:
            self.target = target
            self._scheme = "http"
            self._ca_path = None
        self.rate = rate
        self.connections = 0
        self.cuts = 0
        self.requests: list[str] = []  # each request's line and headers, as they came
        self._cut_limit: int | None = None
        self._cut_match: str | None = None
        self._cuts_left: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._open: set[socket.socket] = set()
        self.port = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self._scheme}://{self.host}"

    @property
    def ca_path(self) -> Path | None:
        return self._ca_path

    def cut_after(self, nbytes: int | None, *, match: str | None = None, times: int | None = None) -> None:
        """Close each connection once ``nbytes`` went from the server to the client.

        Without ``match`` every server-to-client byte counts (works through TLS too). With
        ``match`` (plain HTTP only) only body bytes of responses to requests whose
        "METHOD /path" contains ``match`` count, e.g. ``match="/blobs/sha256:"``: the cut
        falls after ``nbytes`` bytes of such a body. ``times`` cuts at most that many
        connections, then forwards everything again. ``None`` turns cutting off.
        """
        with self._lock:
            self._cut_limit = nbytes
            self._cut_match = match
            self._cuts_left = times

    def start(self) -> None:
        if self._listener is not None:
            return
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping.clear()
        self._spawn(self._accept_loop, "proxy-accept")

    def stop(self) -> None:
        if self._listener is None:
            return
        self._stopping.set()
        with self._lock:
            sockets = list(self._open)
        for sock in sockets:
            _shutdown(sock)
        for thread in list(self._threads):
            thread.join(STOP_TIMEOUT)
        self._listener.close()
        self._listener = None
        self._threads.clear()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._spawn(self._serve, "proxy-conn", client)

    def _serve(self, client: socket.socket) -> None:
        host, _, port = self.target.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
            upstream.settimeout(None)
        except OSError:
            client.close()
            return
        state = _ConnState(sockets=[client, upstream])
        with self._lock:
            self.connections += 1
            self._open.update(state.sockets)
        if self._stopping.is_set():
            _shutdown(client)
        up = threading.Thread(target=self._pump_up, args=(client, upstream, state), daemon=True)
        up.start()
        try:
            self._pump_down(upstream, client, state)
        finally:
            _shutdown(client)
            _shutdown(upstream)
            up.join(STOP_TIMEOUT)
            client.close()
            upstream.close()
            with self._lock:
                self._open.difference_update(state.sockets)

    def _pump_up(self, client: socket.socket, upstream: socket.socket, state: _ConnState) -> None:
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        upstream.shutdown(socket.SHUT_WR)
                    return
                with self._lock:
                    if state.answering:
                        found = _REQUEST_LINE.match(data)
                        if found:
                            state.request = f"{found[1].decode()} {found[2].decode(errors='replace')}"
                            self.requests.append(data.split(b"\r\n\r\n")[0].decode(errors="replace"))
                            state.answering = False
                            state.in_headers = True
                            state.header_buf = b""
                            if self._cut_match is not None:
                                state.counted = 0
                upstream.sendall(data)
        except OSError:
            return

    def _allowance(self, state: _ConnState, data: bytes) -> int | None:
        """How many bytes of ``data`` may go before the cut (None: all of them, no cut)."""
        with self._lock:
            state.answering = True
            body_start = 0
            if state.in_headers:
                state.header_buf += data
                end = state.header_buf.find(b"\r\n\r\n")
                while end >= 0 and re.match(rb"HTTP/1\.[01] 1\d\d ", state.header_buf):
                    state.header_buf = state.header_buf[end + 4 :]
                    end = state.header_buf.find(b"\r\n\r\n")
                if end < 0:
                    body_start = len(data)
                else:
                    state.in_headers = False
                    body_start = len(data) - (len(state.header_buf) - end - 4)
                    state.header_buf = b""
            limit = self._cut_limit
            if limit is None or self._cuts_left == 0:
                return None
            if self._cut_match is None:
                counted = data
            elif self._cut_match in state.request:
                counted = data[body_start:]
            else:
                return None
            if state.counted + len(counted) < limit:
                state.counted += len(counted)
                return None
            allowed = len(data) - len(counted) + (limit - state.counted)
            state.counted = limit
            self.cuts += 1
            if self._cuts_left is not None:
                self._cuts_left -= 1
            return allowed

    def _pump_down(self, upstream: socket.socket, client: socket.socket, state: _ConnState) -> None:
        next_time = time.monotonic()
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    return
                allowed = self._allowance(state, data)
                if allowed is not None:
                    data = data[:allowed]
                view = memoryview(data)
                while view:
                    rate = self.rate
                    if rate is None:
                        client.sendall(view)
                        break
                    piece = view[: max(1, int(rate / 50))]
                    now = time.monotonic()
                    if next_time > now:
                        time.sleep(next_time - now)
                    next_time = max(next_time, now) + len(piece) / rate
                    client.sendall(piece)
                    view = view[len(piece) :]
                if allowed is not None:
                    return
        except OSError:
            return


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------- a small client


class RegistryError(Exception):
    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: {status} {body[:500].decode(errors='replace')}")
        self.status = status
        self.body = body


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="..."`` -> ("bearer", {"realm": ..., "service": ...})."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class RegistryClient:
    """Just enough of the distribution API to push test content: basic and token auth, HTTPS."""

    def __init__(
        self, endpoint: Endpoint, auth: tuple[str, str] | None = None, timeout: float = 60.0
    ) -> None:
        self.endpoint = endpoint
        self.auth = auth
        self.timeout = timeout
        self.authorization: str | None = None
        self.token_fetches = 0
        ca = endpoint.ca_path
        self._context = ssl.create_default_context(cafile=str(ca)) if ca else None

    def _send(self, method: str, path: str, body: bytes | None, headers: Mapping[str, str]) -> Response:
        conn = _connection(self.endpoint.url, self._context, self.timeout)
        try:
            sent = dict(headers)
            if self.authorization:
                sent["Authorization"] = self.authorization
            if body is not None:
                sent.setdefault("Content-Length", str(len(body)))
            conn.request(method, path, body=body, headers=sent)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        expect: Iterable[int] | None = None,
    ) -> Response:
        """One request; a 401 with a Basic or Bearer challenge is answered once and retried."""
        headers = headers or {}
        resp = self._send(method, path, body, headers)
        if resp.status == 401 and "www-authenticate" in resp.headers:
            scheme, params = parse_challenge(resp.headers["www-authenticate"])
            retry = False
            if scheme == "basic" and self.auth is not None:
                raw = f"{self.auth[0]}:{self.auth[1]}".encode()
                self.authorization = "Basic " + base64.b64encode(raw).decode()
                retry = True
            elif scheme == "bearer" and "realm" in params:
                self.authorization = "Bearer " + self.fetch_token(params)
                retry = True
            if retry:
                resp = self._send(method, path, body, headers)
        if expect is not None and resp.status not in set(expect):
            raise RegistryError(method, path, resp.status, resp.body)
        return resp

    def fetch_token(self, challenge: Mapping[str, str]) -> str:
        """A token from the challenge's realm (GET, with Basic credentials when there are some)."""
        pairs = [("service", challenge.get("service", ""))]
        pairs += [("scope", s) for s in challenge.get("scope", "").split() if s]
        realm = urllib.parse.urlsplit(challenge["realm"])
        query = (realm.query + "&" if realm.query else "") + urllib.parse.urlencode(pairs)
        headers = {}
        if self.auth is not None:
            raw = f"{self.auth[0]}:{self.auth[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        base = f"{realm.scheme}://{realm.netloc}"
        conn = _connection(base, self._context if realm.scheme == "https" else None, self.timeout)
        try:
            conn.request("GET", f"{realm.path or '/'}?{query}", headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        self.token_fetches += 1
        if resp.status != 200:
            raise RegistryError("GET", challenge["realm"], resp.status, data)
        answer = json.loads(data)
        token: str = answer.get("token") or answer["access_token"]
        return token

    def put_blob(self, repo: str, data: bytes) -> str:
        """A monolithic upload: POST an upload session, PUT the bytes with ?digest=."""
        blob_digest = digest(data)
        resp = self.request("POST", f"/v2/{repo}/blobs/uploads/", b"", expect=[202])
        location = urllib.parse.urlsplit(resp.headers["location"])
        query = location.query + ("&" if location.query else "") + "digest=" + urllib.parse.quote(blob_digest)
        self.request(
            "PUT",
            f"{location.path}?{query}",
            data,
            {"Content-Type": "application/octet-stream"},
            expect=[201],
        )
        return blob_digest

    def put_manifest(self, repo: str, reference: str, manifest: bytes, media_type: str) -> str:
        resp = self.request(
            "PUT", f"/v2/{repo}/manifests/{reference}", manifest, {"Content-Type": media_type}, expect=[201]
        )
        pushed = digest(manifest)
        assert resp.headers.get("docker-content-digest", pushed) == pushed, resp.headers
        return pushed

    def head_manifest(self, repo: str, reference: str) -> tuple[str, int, str]:
        """(media type, size, digest) of a manifest in the registry."""
        resp = self.request(
            "HEAD",
            f"/v2/{repo}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
            expect=[200],
        )
        return (
            resp.headers["content-type"],
            int(resp.headers["content-length"]),
            resp.headers["docker-content-digest"],
        )

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str]:
        """(bytes, media type) of a manifest."""
        resp = self.request(
            "GET",
            f"/v2/{repo}/manifests/{reference}",
            headers={"Accept": ", ".join(MANIFEST_TYPES)},
            expect=[200],
        )
        return resp.body, resp.headers["content-type"]

    def get_blob(self, repo: str, blob_digest: str) -> bytes:
        return self.request("GET", f"/v2/{repo}/blobs/{blob_digest}", expect=[200]).body


# --------------------------------------------------------------------------- filling a registry


def push_built_image(
    endpoint: Endpoint, repo: str, reference: str, image: BuiltImage, auth: tuple[str, str] | None = None
) -> str:
    """Push an image made by ``tests.helpers.images.build_image``; returns the manifest digest."""
    client = RegistryClient(endpoint, auth)
    for blob in (*image.layers, image.config):
        client.put_blob(repo, blob)
    return client.put_manifest(repo, reference, image.manifest, json.loads(image.manifest)["mediaType"])


def put_image(
    endpoint: Endpoint,
    repo: str,
    tag: str,
    layers: list[bytes],
    config: dict[str, Any] | None = None,
    media: str = "oci",
    auth: tuple[str, str] | None = None,
    *,
    gzip_layers: bool = False,
    architecture: str = "amd64",
) -> str:
    """Push an image of these layers (plain tars, or any bytes); returns the manifest digest.

    ``config`` is the image's runtime config ("Cmd", "Env", ...); ``media`` "oci" or "docker"
    picks the media types. Without ``gzip_layers`` the layer digests are ``digest(layer)``.
    """
    if media not in ("oci", "docker"):
        raise ValueError(f"media must be 'oci' or 'docker', not {media!r}")
    image = build_image(
        layers,
        gzip_layers=gzip_layers,
        config=config,
        architecture=architecture,
        docker_types=media == "docker",
    )
    return push_built_image(endpoint, repo, tag, image, auth)


def _platform(key: str | Mapping[str, str]) -> dict[str, str]:
    if not isinstance(key, str):
        return dict(key)
    parts = key.split("/")
    platform = {"os": parts[0], "architecture": parts[1]}
    if len(parts) > 2:
        platform["variant"] = parts[2]
    return platform


def put_index(
    endpoint: Endpoint,
    repo: str,
    tag: str,
    manifests: Mapping[str, str] | Iterable[tuple[Mapping[str, str], str]],
    auth: tuple[str, str] | None = None,
    media: str = "oci",
) -> str:
    """Push a multi-arch index of manifests already in ``repo``; returns its digest.

    ``manifests`` maps "os/arch[/variant]" to a manifest digest, or is a list of
    (platform dict, manifest digest) pairs (for platforms with os.version, features, ...).
    """
    pairs: list[tuple[str | Mapping[str, str], str]] = (
        list(manifests.items()) if isinstance(manifests, Mapping) else list(manifests)
    )
    client = RegistryClient(endpoint, auth)
    entries = []
    for platform, manifest_digest in pairs:
        media_type, size, _ = client.head_manifest(repo, manifest_digest)
        entries.append(
            {
                "mediaType": media_type,
                "digest": manifest_digest,
                "size": size,
                "platform": _platform(platform),
            }
        )
    index_type = OCI_INDEX if media == "oci" else DOCKER_MANIFEST_LIST
    index = json.dumps({"schemaVersion": 2, "mediaType": index_type, "manifests": entries}).encode()
    return client.put_manifest(repo, tag, index, index_type)


def push_oci_layout(
    layout_dir: Path,
    registry: Registry,
    reference: str,
    tls_verify: bool = False,
    creds: tuple[str, str] | None = None,
    *,
    source_ref: str | None = None,
    preserve_digests: bool = True,
) -> None:
    """``skopeo copy --all oci:LAYOUT[:source_ref] docker://HOST/reference``.

    With ``preserve_digests`` skopeo pushes the layout's manifests as they are; without it,
    it gzips uncompressed layers on the way (new layer and manifest digests).
    """
    source = f"oci:{layout_dir}" + (f":{source_ref}" if source_ref else "")
    args = ["skopeo", "--insecure-policy", "copy", "--all", "--quiet"]
    if preserve_digests:
        args.append("--preserve-digests")
    if registry.tls and tls_verify:
        args.append(f"--dest-cert-dir={registry.cert_dir}")
    else:
        args.append("--dest-tls-verify=false")
    args.append(f"--dest-creds={creds[0]}:{creds[1]}" if creds else "--dest-no-creds")
    _run([*args, source, f"docker://{registry.host}/{reference}"])


def skopeo_inspect(
    registry: Registry, reference: str, creds: tuple[str, str] | None = None, *, raw: bool = False
) -> Any:
    """``skopeo inspect [--raw] docker://HOST/reference``, parsed."""
    args = ["skopeo", "--insecure-policy", "inspect"]
    if raw:
        args.append("--raw")
    args.append(f"--cert-dir={registry.cert_dir}" if registry.tls else "--tls-verify=false")
    args.append(f"--creds={creds[0]}:{creds[1]}" if creds else "--no-creds")
    return json.loads(_run([*args, f"docker://{registry.host}/{reference}"]))
