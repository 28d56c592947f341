"""The shared gRPC server with mutual TLS and tokens, in-process: certificates generated per test run."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

import grpc
import pytest
from advocacy.rewards.v1 import rewards_pb2, rewards_pb2_grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.auth import SERVICE, TokenVerifier, server_credentials, service_channel
from services.common.config import ServiceSettings
from services.common.grpc_server import GrpcServer

KEY = "s" * 40
GET_RULES = rewards_pb2.GetRuleSetRequest()


class Rules(rewards_pb2_grpc.RewardsServiceServicer):
    async def GetRuleSet(self, request, context):
        return rewards_pb2.RuleSet(version=7)


def _cert(subject: str, issuer_key, issuer_name, key, ca: bool = False, san: list | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key) -> tuple[Path, Path]:
    cert_file, key_file = path.with_suffix(".crt"), path.with_suffix(".key")
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("advocacy test CA", ca_key, None, ca_key, ca=True)
    out = {"ca": _write(tmp_path / "ca", ca, ca_key)[0]}
    for name, san in (
        ("server", [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        ("client", [x509.DNSName("share")]),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, ca_key, ca.subject, key, san=san)
        out[f"{name}_cert"], out[f"{name}_key"] = _write(tmp_path / name, cert, key)
    return out


async def test_mutual_tls_and_a_token_are_both_required(pki: dict[str, Path]):
    server_settings = ServiceSettings(
        auth_hs256_key=KEY,
        tls_cert_file=pki["server_cert"],
        tls_key_file=pki["server_key"],
        tls_client_ca_file=pki["ca"],
    )
    name = rewards_pb2.DESCRIPTOR.services_by_name["RewardsService"].full_name
    credentials = server_credentials(server_settings)
    server = GrpcServer("127.0.0.1", 0, [name], auth=TokenVerifier(KEY), credentials=credentials)
    rewards_pb2_grpc.add_RewardsServiceServicer_to_server(Rules(), server.server)
    await server.start()
    address = f"localhost:{server.port}"
    try:
        # A service with the CA, its client certificate and the shared key: through to the handler.
        client_settings = ServiceSettings(
            auth_hs256_key=KEY, tls_ca_file=pki["ca"], tls_cert_file=pki["client_cert"], tls_key_file=pki["client_key"]
        )
        async with service_channel(address, client_settings, "share") as channel:
            reply = await rewards_pb2_grpc.RewardsServiceStub(channel).GetRuleSet(GET_RULES, timeout=5)
            assert reply.version == 7

        # TLS without a client certificate: the handshake fails, nothing is served (not even health).
        no_cert = grpc.ssl_channel_credentials(pki["ca"].read_bytes())
        async with grpc.aio.secure_channel(address, no_cert) as channel:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

        # The client certificate but no token: UNAUTHENTICATED; health stays open.
        with_cert = grpc.ssl_channel_credentials(
            pki["ca"].read_bytes(), pki["client_key"].read_bytes(), pki["client_cert"].read_bytes()
        )
        async with grpc.aio.secure_channel(address, with_cert) as channel:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.aio.AioRpcError) as anonymous:
                await rewards_pb2_grpc.RewardsServiceStub(channel).GetRuleSet(GET_RULES, timeout=5)
            assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "authorization" in (anonymous.value.details() or "")
    finally:
        await server.stop(0)


def test_a_service_token_is_minted_with_the_service_role():
    from services.common.auth import service_token_source

    token = service_token_source(ServiceSettings(auth_hs256_key=KEY), "share")()
    caller = TokenVerifier(KEY).verify(token)
    assert (caller.subject, caller.role) == ("share", SERVICE)
