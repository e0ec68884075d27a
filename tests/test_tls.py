"""TLS and mutual TLS on the real gateway (port 0), with certificates made in a fixture: a CA, a server
certificate for 127.0.0.1 and localhost, client certificates from that CA and from another one; the Python clients
and the Node.js client over TLS with a token."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from infogap import AsyncInfoGapClient, InfoGapClient, InfoGapError
from infogap_server.interceptors import token_digest
from infogap_server.server import StartupError
from infogap_server.settings import PROJECT_ROOT, Settings
from pydantic import ValidationError

NODE_DIR = PROJECT_ROOT / "clients" / "node"
TOKEN = "tls-test-token-31c7"


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate from a CA the server does not trust
    stranger_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _certificate(subject: str, key, issuer: x509.Certificate | None, issuer_key, *, ca: bool = False,
                 server: bool = False, client: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    if client:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, certificate: x509.Certificate, key) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory = tmp_path_factory.mktemp("certificates")
    ca_key, other_ca_key = _key(), _key()
    ca = _certificate("infogap test CA", ca_key, None, ca_key, ca=True)
    other_ca = _certificate("someone else's CA", other_ca_key, None, other_ca_key, ca=True)
    ca_path, _ = _write(directory, "ca", ca, ca_key)
    server_key, client_key, stranger_key = _key(), _key(), _key()
    server = _certificate("infogap gateway", server_key, ca, ca_key, server=True)
    client = _certificate("agent-desk", client_key, ca, ca_key, client=True)
    stranger = _certificate("agent-desk", stranger_key, other_ca, other_ca_key, client=True)
    return Certificates(
        ca_path, *_write(directory, "server", server, server_key), *_write(directory, "client", client, client_key),
        *_write(directory, "stranger", stranger, stranger_key),
    )


def tls_settings(certificates: Certificates, *, mutual: bool = False) -> dict[str, object]:
    settings: dict[str, object] = dict(tls_cert_file=certificates.server_cert, tls_key_file=certificates.server_key)
    if mutual:
        settings["tls_client_ca_file"] = certificates.ca
    return settings


async def identify(address: str, **options) -> str:
    async with AsyncInfoGapClient(address, timeout_s=5, **options) as client:
        return (await client.identify_needs("please cancel my order")).needs[0].intent


async def failure(address: str, **options) -> grpc.StatusCode:
    with pytest.raises(InfoGapError) as caught:
        await identify(address, **options)
    return caught.value.code


async def test_tls_call_works_and_plain_text_fails(start_server, tiny_repository, certificates):
    server = await start_server(tiny_repository, **tls_settings(certificates))
    address = f"127.0.0.1:{server.port}"
    assert await identify(address, root_certificates=certificates.ca) == "cancel_order"
    assert await identify(address, root_certificates=certificates.ca.read_bytes()) == "cancel_order"
    assert await failure(address) == grpc.StatusCode.UNAVAILABLE  # plain text to a TLS port
    assert await failure(address, tls=True) == grpc.StatusCode.UNAVAILABLE  # the system roots do not know our CA

    def use_sync_client() -> str:
        with InfoGapClient(address, root_certificates=str(certificates.ca)) as client:
            return client.identify_needs("please send my money back").needs[0].intent

    assert await asyncio.to_thread(use_sync_client) == "get_refund"
    credentials = grpc.ssl_channel_credentials(certificates.ca.read_bytes())
    async with grpc.aio.secure_channel(address, credentials) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_mutual_tls_requires_a_client_certificate_from_the_configured_ca(
    start_server, tiny_repository, certificates
):
    server = await start_server(tiny_repository, **tls_settings(certificates, mutual=True))
    address = f"127.0.0.1:{server.port}"
    assert await failure(address, root_certificates=certificates.ca) == grpc.StatusCode.UNAVAILABLE
    assert await failure(
        address, root_certificates=certificates.ca, client_certificate=certificates.stranger_cert,
        client_key=certificates.stranger_key,
    ) == grpc.StatusCode.UNAVAILABLE
    assert await identify(
        address, root_certificates=certificates.ca, client_certificate=certificates.client_cert,
        client_key=certificates.client_key,
    ) == "cancel_order"


async def test_token_over_tls(start_server, tiny_repository, certificates):
    server = await start_server(tiny_repository, auth_tokens={token_digest(TOKEN): ["identify"]},
                                **tls_settings(certificates))
    address = f"127.0.0.1:{server.port}"
    assert await identify(address, root_certificates=certificates.ca, token=TOKEN) == "cancel_order"
    assert await failure(address, root_certificates=certificates.ca) == grpc.StatusCode.UNAUTHENTICATED


NODE_SCRIPT = r"""
const { InfoGapClient } = require('./index');
const options = JSON.parse(process.env.OPTIONS);
async function call(extra) {
  const client = new InfoGapClient(process.env.ADDRESS, { ...options, ...extra });
  try {
    return (await client.identifyNeeds('please cancel my order')).needs[0].intent;
  } catch (error) {
    return error.codeName;
  } finally {
    client.close();
  }
}
(async () => {
  const withToken = await call({ token: process.env.TOKEN });
  const withoutToken = await call({});
  console.log(JSON.stringify({ withToken, withoutToken }));
})();
"""


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mutual-tls"])
async def test_node_client_over_tls_with_a_token(start_server, tiny_repository, certificates, mutual):
    node = shutil.which("node")
    assert node, "Node.js is required (it is on every development and CI machine)"
    assert (NODE_DIR / "node_modules" / "@grpc" / "grpc-js").is_dir(), "run `make setup` (npm ci in clients/node)"
    server = await start_server(tiny_repository, auth_tokens={token_digest(TOKEN): ["identify"]},
                                **tls_settings(certificates, mutual=mutual))
    options: dict[str, str] = {"rootCerts": str(certificates.ca)}
    if mutual:
        options.update(clientCert=str(certificates.client_cert), clientKey=str(certificates.client_key))
    env = dict(os.environ, ADDRESS=f"127.0.0.1:{server.port}", TOKEN=TOKEN, OPTIONS=json.dumps(options))
    process = await asyncio.create_subprocess_exec(
        node, "-e", NODE_SCRIPT, cwd=NODE_DIR, env=env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, output.decode()
    result = json.loads(output.decode().strip().splitlines()[-1])
    assert result == {"withToken": "cancel_order", "withoutToken": "UNAUTHENTICATED"}


# --- configuration errors ------------------------------------------------------------------------------------


def test_certificate_and_key_go_together(certificates):
    with pytest.raises(ValidationError, match="set both or neither"):
        Settings(tls_cert_file=certificates.server_cert)
    with pytest.raises(ValidationError, match="set both or neither"):
        Settings(tls_key_file=certificates.server_key)
    with pytest.raises(ValidationError, match="needs tls_cert_file"):
        Settings(tls_client_ca_file=certificates.ca)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c, tmp: dict(tls_cert_file=tmp / "missing.pem"), "cannot read INFOGAP_TLS_CERT_FILE {tmp}/missing.pem"),
        (lambda c, tmp: dict(tls_key_file=tmp / "missing.key"), "cannot read INFOGAP_TLS_KEY_FILE {tmp}/missing.key"),
        (lambda c, tmp: dict(tls_client_ca_file=tmp), "cannot read INFOGAP_TLS_CLIENT_CA_FILE {tmp}"),
        (lambda c, tmp: dict(tls_key_file=c.client_key), "are not a PEM certificate chain and its unencrypted"),
        (lambda c, tmp: dict(tls_cert_file=c.server_key), "are not a PEM certificate chain"),
        (lambda c, tmp: dict(tls_client_ca_file=c.server_key), "INFOGAP_TLS_CLIENT_CA_FILE"),
    ],
    ids=["no-cert", "no-key", "ca-is-a-directory", "key-of-another-cert", "key-as-cert", "ca-not-a-certificate"],
)
async def test_bad_tls_files_stop_start_up_naming_the_path(
    start_server, tiny_repository, certificates, tmp_path, change, message
):
    settings = tls_settings(certificates, mutual=True)
    settings.update(change(certificates, tmp_path))
    with pytest.raises(StartupError) as caught:
        await start_server(tiny_repository, load=False, **settings)
    assert message.format(tmp=tmp_path) in str(caught.value)
