"""A small local stand-in for HashiCorp Vault, for tests.

Vault itself cannot be installed in this environment, so this server implements the documented
endpoints llmward uses, with their documented request and response shapes:

- ``GET /v1/<mount>/data/<path>[?version=N]`` (KV v2 read; 404 for unknown paths and versions),
- ``POST /v1/auth/<mount>/login`` with ``{"role", "jwt"}`` (Kubernetes auth),
- the ``X-Vault-Token`` header (403 ``permission denied`` when missing, unknown or revoked),
- the ``X-Vault-Namespace`` header (secrets live in a namespace; "" is the root namespace).

``https=True`` serves TLS with a certificate for 127.0.0.1 signed by a throwaway CA generated with
``cryptography``; ``ca_file`` is that CA's PEM. It listens on loopback, on a free port, in a thread.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import secrets
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def write_test_pki(directory: Path) -> tuple[Path, Path, Path]:
    """(CA cert, server cert, server key) PEM files; the server cert is for IP 127.0.0.1."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-vault test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "cert.pem",
        directory / "key.pem",
    )
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_path, cert_path, key_path


class FakeVault:
    def __init__(self, tmp_dir: Path, *, https: bool = False) -> None:
        # (namespace, mount, path) -> list of versions (index 0 is version 1); None: destroyed
        self.kv: dict[tuple[str, str, str], list[dict[str, Any] | None]] = {}
        self.tokens: set[str] = set()
        self.k8s_roles: dict[tuple[str, str], str] = {}  # (mount, role) -> accepted JWT
        self.k8s_lease_s = 3600
        self.db_roles: set[tuple[str, str]] = set()  # (mount, role)
        self.db_lease_s = 3600
        self.db_issued: list[tuple[str, str]] = []  # (username, password)
        self.requests: list[tuple[str, str, str | None, str | None]] = []  # method, path, ns, tok
        self.logins = 0
        self.delay_s = 0.0
        self.pad_bytes = 0  # extra bytes added to every KV answer (oversized responses)
        self.omit_length = False  # no Content-Length: the size is known only by reading
        self.drip_s = 0.0  # send the body 8 bytes at a time with this pause between
        self.ca_file: Path | None = None
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        if https:
            self.ca_file, cert, key = write_test_pki(tmp_dir)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
        host, port = self._server.server_address[:2]
        self.addr = f"{'https' if https else 'http'}://127.0.0.1:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeVault:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def put(self, path: str, data: dict[str, Any], *, mount: str = "secret", ns: str = "") -> int:
        versions = self.kv.setdefault((ns, mount, path), [])
        versions.append(dict(data))
        return len(versions)

    def issue_token(self) -> str:
        token = "hvs." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return token

    def k8s_login(self, body: dict[str, Any], mount: str) -> tuple[int, dict[str, Any]]:
        expected = self.k8s_roles.get((mount, str(body.get("role"))))
        if expected is None or body.get("jwt") != expected:
            return 403, {"errors": ["permission denied"]}
        self.logins += 1
        token = self.issue_token()
        return 200, {
            "auth": {
                "client_token": token,
                "lease_duration": self.k8s_lease_s,
                "renewable": True,
                "policies": ["default"],
            }
        }

    def db_creds(self, route: str) -> tuple[int, dict[str, Any]] | None:
        mount, sep, role = route.partition("/creds/")
        if not sep or (mount, role) not in self.db_roles:
            return None
        creds = (f"v-{role}-{len(self.db_issued) + 1}", secrets.token_urlsafe(16))
        self.db_issued.append(creds)
        return 200, {
            "lease_id": f"{mount}/creds/{role}/{secrets.token_hex(4)}",
            "renewable": True,
            "lease_duration": self.db_lease_s,
            "data": {"username": creds[0], "password": creds[1]},
        }

    def kv_read(self, ns: str, route: str, query: str) -> tuple[int, dict[str, Any]]:
        mount, sep, path = route.partition("/data/")
        versions = self.kv.get((ns, mount, path)) if sep else None
        if not versions:
            return 404, {"errors": []}
        wanted = parse_qs(query).get("version", ["0"])[0]
        number = int(wanted) if wanted.isdigit() and int(wanted) > 0 else len(versions)
        if number > len(versions) or versions[number - 1] is None:
            return 404, {"errors": []}
        body: dict[str, Any] = {
            "request_id": secrets.token_hex(8),
            "lease_id": "",
            "renewable": False,
            "lease_duration": 0,
            "data": {
                "data": versions[number - 1],
                "metadata": {
                    "created_time": "2026-01-01T00:00:00Z",
                    "deletion_time": "",
                    "destroyed": False,
                    "version": number,
                },
            },
        }
        if self.pad_bytes:
            body["padding"] = "x" * self.pad_bytes
        return 200, body


def _handler_for(vault: FakeVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            if vault.delay_s:
                time.sleep(vault.delay_s)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            if not vault.omit_length:  # else the body ends when the connection closes
                self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if not vault.drip_s:
                self.wfile.write(raw)
                return
            for i in range(0, len(raw), 8):  # each write well inside a read timeout
                self.wfile.write(raw[i : i + 8])
                self.wfile.flush()
                time.sleep(vault.drip_s)

        def _common(self) -> tuple[str, str, str, str | None]:
            url = urlsplit(self.path)
            ns = self.headers.get("X-Vault-Namespace") or ""
            token = self.headers.get("X-Vault-Token")
            vault.requests.append((self.command, url.path, ns or None, token))
            return url.path, url.query, ns, token

        def do_GET(self) -> None:
            path, query, ns, token = self._common()
            if not path.startswith("/v1/"):
                return self._send(404, {"errors": []})
            if token not in vault.tokens:
                return self._send(403, {"errors": ["permission denied"]})
            route = path[len("/v1/") :]
            answer = vault.db_creds(route) or vault.kv_read(ns, route, query)
            self._send(*answer)

        def do_POST(self) -> None:
            path, _query, _ns, _token = self._common()
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self._send(400, {"errors": ["invalid JSON"]})
            parts = path.split("/")  # ["", "v1", "auth", mount, "login"]
            if len(parts) == 5 and parts[2] == "auth" and parts[4] == "login":
                return self._send(*vault.k8s_login(body, parts[3]))
            self._send(404, {"errors": []})

    return Handler
