"""Server credentials from the TLS settings: TLS with ``tls_cert_file`` and ``tls_key_file``, mutual TLS when
``tls_client_ca_file`` is set too. Files are read and checked once at start-up (rotating them needs a restart)."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from infogap_server.settings import Settings


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """gRPC server credentials, or None for plain text. Raises ValueError naming the setting and the path of a
    file that is missing, unreadable or not what it should be: gRPC itself would only fail at the first handshake."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    cert = _read("INFOGAP_TLS_CERT_FILE", settings.tls_cert_file)
    key = _read("INFOGAP_TLS_KEY_FILE", settings.tls_key_file)
    ca = None
    if settings.tls_client_ca_file is not None:
        ca = _read("INFOGAP_TLS_CLIENT_CA_FILE", settings.tls_client_ca_file)
    # The stdlib's OpenSSL parses the PEM and checks that the key belongs to the certificate.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # A password (empty) so that an encrypted key fails here instead of prompting on the terminal.
        context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file, password=b"")
    except ssl.SSLError as exc:
        raise ValueError(
            f"INFOGAP_TLS_CERT_FILE {settings.tls_cert_file} and INFOGAP_TLS_KEY_FILE {settings.tls_key_file} are not "
            f"a PEM certificate chain and its unencrypted private key ({exc.reason or exc})"
        ) from None
    if ca is not None:
        try:
            context.load_verify_locations(cafile=settings.tls_client_ca_file)
        except ssl.SSLError as exc:
            raise ValueError(
                f"INFOGAP_TLS_CLIENT_CA_FILE {settings.tls_client_ca_file} holds no PEM CA certificate "
                f"({exc.reason or exc})"
            ) from None
    return grpc.ssl_server_credentials(((key, cert),), root_certificates=ca, require_client_auth=ca is not None)


def _read(setting: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {setting} {path}: {exc.strerror or exc}") from None
