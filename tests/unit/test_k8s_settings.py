"""The Kubernetes ConfigMaps carry every setting the services read.

Each service's typed settings (its `config.py`) are compared with its ConfigMap as deploy/k8s/base
renders it (its own settings plus those of components/service-defaults/*.env, merged):
a new setting without a ConfigMap entry fails here, unless it is listed below with the reason it is
set elsewhere (a Secret) or deliberately left out. The reverse holds too: a ConfigMap key that no
setting reads (a typo, a renamed setting) fails. And every ConfigMap value must be valid for its
setting, so a deployment cannot fail at start on a bad value.
"""

from __future__ import annotations

import pytest
from pydantic_settings import BaseSettings

from services.analytics.config import AnalyticsSettings
from services.content.config import ContentSettings
from services.notify.config import EmailSettings, NotifySettings, UnsubscribeSettings, WebhookSettings
from services.rewards.config import RewardsSettings
from services.share.config import ShareSettings
from tests.unit.test_k8s_manifests import named, workload

# Each service's settings classes (notify reads its channels' groups beside its own).
SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "content": (ContentSettings,),
    "share": (ShareSettings,),
    "rewards": (RewardsSettings,),
    "analytics": (AnalyticsSettings,),
    "notify": (NotifySettings, EmailSettings, WebhookSettings, UnsubscribeSettings),
}

# Settings deliberately not in a ConfigMap, and why.
NOT_IN_CONFIGMAP = {
    "mongo_url": "carries credentials: set from the advocacy-mongodb Secret (secretKeyRef)",
    "fingerprint_salt": "a secret: set from the share Secret (secretKeyRef)",
    "topic_prefix": "isolates test runs on one shared broker; a deployment owns its topics (empty)",
    "auth_hs256_key": "a secret: set from the advocacy-auth Secret (secretKeyRef)",
    "auth_service_token": "a secret, and optional: minted from the HS256 key when unset",
    "auth_jwks_file": "a path inside a mounted volume: set by an overlay that mounts the identity provider's JWKS",
    "tls_cert_file": "a path inside a mounted certificate volume: set by an overlay that enables (m)TLS",
    "tls_key_file": "a path inside a mounted certificate volume: set by an overlay that enables (m)TLS",
    "tls_client_ca_file": "a path inside a mounted certificate volume: set by an overlay that enables mTLS",
    "tls_ca_file": "a path inside a mounted certificate volume: set by an overlay that enables (m)TLS",
    "password": "a secret: the SMTP password from the advocacy-notify Secret (secretKeyRef)",
    "secret": "a secret: the unsubscribe-link key from the advocacy-notify Secret (secretKeyRef)",
    "ca_file": "a path inside a mounted volume: set by an overlay whose SMTP relay has a private CA",
}
SECRETS = {"mongo_url", "fingerprint_salt", "auth_hs256_key", "password", "secret"}


def env_names(name: str) -> list[tuple[str, str]]:
    """(field name, environment variable) of every setting of the service's settings classes."""
    return [
        (field, f"{cls.model_config.get('env_prefix', '')}{field}".upper())
        for cls in SETTINGS[name]
        for field in cls.model_fields
    ]


def container_env(name: str) -> dict[str, dict]:
    (app,) = workload(name)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in app.get("env", [])}


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_has_a_configmap_entry_or_a_reason(name: str) -> None:
    config = named("ConfigMap", name)["data"]
    missing = [env for f, env in env_names(name) if env not in config and f not in NOT_IN_CONFIGMAP]
    assert not missing, f"{name}: settings without a ConfigMap entry (add one, or a reason here): {missing}"


@pytest.mark.parametrize("name", SETTINGS)
def test_secret_settings_come_from_secrets(name: str) -> None:
    env = container_env(name)
    for field, variable in env_names(name):
        if field in SECRETS:
            assert "secretKeyRef" in env[variable].get("valueFrom", {}), f"{name}: {field} not from a Secret"


@pytest.mark.parametrize("name", SETTINGS)
def test_every_configmap_entry_is_a_setting(name: str) -> None:
    known = {variable for _, variable in env_names(name)}
    unknown = sorted(set(named("ConfigMap", name)["data"]) - known)
    assert not unknown, f"{name}: ConfigMap keys no setting reads: {unknown}"


@pytest.mark.parametrize("name", SETTINGS)
def test_configmap_values_are_valid_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in named("ConfigMap", name)["data"].items():
        monkeypatch.setenv(key, value)
    main, *_ = [cls() for cls in SETTINGS[name]]  # raises on a value the service would refuse at start
    assert main.grpc_port == 50051  # type: ignore[attr-defined]
