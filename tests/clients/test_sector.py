"""A pairwise client's sector identifier document (OIDC Core §8.1, Dynamic Registration §5),
fetched over real https from a server on 127.0.0.1 with a certificate made for the test."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine

from clients.models import InvalidClientMetadata
from clients.registry import ClientRegistry
from clients.sector import MAX_DOCUMENT_BYTES, HttpSectorFetcher, SectorIdentifierError
from clients.store_sql import SqlClientStore

REDIRECTS = ["https://tax.example/filing", "https://refunds.tax.example/cb"]
DOCUMENTS: dict[str, tuple[int, bytes]] = {
    "/sector.json": (200, json.dumps([*REDIRECTS, "https://other.tax.example/cb"]).encode()),
    "/partial.json": (200, json.dumps(REDIRECTS[:1]).encode()),
    "/not-json": (200, b"<html>hello</html>"),
    "/object.json": (200, json.dumps({"redirect_uris": REDIRECTS}).encode()),
    "/numbers.json": (200, b"[1, 2]"),
    "/large.json": (200, json.dumps(["https://tax.example/" + "x" * 100] * 1000).encode()),
    "/gone": (404, b"not here"),
    "/moved": (302, b""),
}


def _certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its private key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, body = DOCUMENTS.get(self.path, (404, b""))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/sector.json")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return


@dataclass
class Sector:
    base: str
    ca: Path

    def fetcher(self, **kwargs: object) -> HttpSectorFetcher:
        return HttpSectorFetcher(verify=str(self.ca), **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sector]:
    cert, key = _certificate(tmp_path_factory.mktemp("tls"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Sector(f"https://127.0.0.1:{server.server_address[1]}", cert)
    server.shutdown()
    server.server_close()
    thread.join(5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_fetcher_reads_a_json_array_of_uris(sector: Sector) -> None:
    assert sector.fetcher()(sector.base + "/sector.json")[:2] == REDIRECTS


@pytest.mark.parametrize(("path", "reason"), [
    ("/not-json", "the document is not JSON"),
    ("/object.json", "not a JSON array of redirect URIs"),
    ("/numbers.json", "not a JSON array of redirect URIs"),
    ("/gone", "answered HTTP 404"),
    ("/moved", "answered HTTP 302"),  # redirects are not followed
])
def test_the_fetcher_says_what_is_wrong_with_a_document(sector: Sector, path: str, reason: str) -> None:
    with pytest.raises(SectorIdentifierError, match=reason):
        sector.fetcher()(sector.base + path)


def test_a_document_over_the_size_limit_is_not_read_whole(sector: Sector) -> None:
    with pytest.raises(SectorIdentifierError, match="larger than 4096 bytes"):
        sector.fetcher(max_bytes=4096)(sector.base + "/large.json")
    assert len(DOCUMENTS["/large.json"][1]) > MAX_DOCUMENT_BYTES
    with pytest.raises(SectorIdentifierError, match=f"larger than {MAX_DOCUMENT_BYTES} bytes"):
        sector.fetcher()(sector.base + "/large.json")


def test_an_unreachable_or_untrusted_server_is_refused(sector: Sector) -> None:
    with pytest.raises(SectorIdentifierError, match=r"could not be fetched \(ConnectError\)"):
        sector.fetcher(timeout=2.0)(f"https://127.0.0.1:{_closed_port()}/sector.json")
    # The system's CAs do not trust the test's certificate.
    with pytest.raises(SectorIdentifierError, match="could not be fetched"):
        HttpSectorFetcher(timeout=2.0)(sector.base + "/sector.json")
    with pytest.raises(SectorIdentifierError, match="must use https"):
        sector.fetcher()(sector.base.replace("https:", "http:") + "/sector.json")


def _registry(engine: Engine, sector: Sector) -> ClientRegistry:
    return ClientRegistry(SqlClientStore(engine), cache_ttl=0, sector_fetch=sector.fetcher(timeout=2.0))


def test_a_pairwise_client_is_registered_when_its_sector_lists_every_redirect_uri(
    engine: Engine, sector: Sector,
) -> None:
    registry = _registry(engine, sector)
    client, _ = registry.create(client_id="tax", name="Tax", redirect_uris=REDIRECTS, subject_type="pairwise",
                                sector_identifier_uri=sector.base + "/sector.json")
    assert client.sector_identifier_uri == sector.base + "/sector.json"
    # A redirect URI the document does not list cannot be added later either.
    with pytest.raises(InvalidClientMetadata, match="does not list the redirect URI https://new.tax.example/cb"):
        registry.update("tax", redirect_uris=[*REDIRECTS, "https://new.tax.example/cb"])
    assert registry.get("tax").redirect_uris == tuple(REDIRECTS)  # type: ignore[union-attr]


@pytest.mark.parametrize(("path", "reason"), [
    ("/partial.json", "does not list the redirect URI https://refunds.tax.example/cb"),
    ("/not-json", "not JSON"),
    ("/gone", "HTTP 404"),
])
def test_a_pairwise_client_is_refused_when_its_sector_document_does_not_vouch_for_it(
    engine: Engine, sector: Sector, path: str, reason: str,
) -> None:
    registry = _registry(engine, sector)
    with pytest.raises(InvalidClientMetadata, match=reason) as refused:
        registry.create(client_id="tax", name="Tax", redirect_uris=REDIRECTS, subject_type="pairwise",
                        sector_identifier_uri=sector.base + path)
    assert refused.value.field == "sector_identifier_uri"
    assert registry.get("tax") is None
    # Switching an existing client to that sector is refused the same way.
    registry.create(client_id="tax", name="Tax", redirect_uris=REDIRECTS)
    with pytest.raises(InvalidClientMetadata, match=reason):
        registry.update("tax", subject_type="pairwise", sector_identifier_uri=sector.base + path)
    assert registry.get("tax").subject_type == "public"  # type: ignore[union-attr]


def test_without_a_fetcher_a_sector_cannot_be_vouched_for(engine: Engine, sector: Sector) -> None:
    registry = ClientRegistry(SqlClientStore(engine), cache_ttl=0)
    with pytest.raises(InvalidClientMetadata, match="cannot be checked"):
        registry.create(client_id="tax", name="Tax", redirect_uris=REDIRECTS, subject_type="pairwise",
                        sector_identifier_uri=sector.base + "/sector.json")
    # A public client's sector identifier URI is never fetched (it has no pairwise subjects).
    registry.create(client_id="portal", name="Portal", redirect_uris=REDIRECTS,
                    sector_identifier_uri=sector.base + "/gone")
