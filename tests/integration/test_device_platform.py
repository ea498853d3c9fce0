"""The device platform as a function reaches it: ``default_client()`` reads the declared
``device-platform`` secret (ops-filled: base URL and key) and, in the embedded AWS, talks to
the local device-platform server the runtime started and put in that secret."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import boto3
import pytest

from local.runtime import EmbeddedAWS
from monosub import config, names
from monosub.adapters import device_platform
from monosub.adapters.device_platform import (
    DeviceBinding,
    DevicePlatformNotConfigured,
    DevicePlatformUnavailable,
)

BINDING = DeviceBinding(
    serial="MTR-7781",
    model="METER-W1",
    owner_account_id="acc_01JA00",
    plan_sku="PLAN-METER",
    option_skus=[],
    start_date=date(2026, 12, 1),
    version=1,
    contract_id="con_01JA01",
    shipment_id=None,
)


def reading_the_secret(secret_id: str) -> Any:
    """A function's environment with the secret declared (no manifest function reads it
    yet; the kitting tasks will declare ``secrets=(names.DEVICE_PLATFORM,)``)."""
    return config.function_environment({device_platform.SECRET_ENV: secret_id})


def test_a_function_in_the_embedded_aws_reaches_the_local_platform():
    with EmbeddedAWS() as cloud:
        platform = cloud.device_platform
        with reading_the_secret(cloud.names.secrets[names.DEVICE_PLATFORM]):
            answer = device_platform.default_client().push_binding(BINDING)
        assert answer["status"] == "active"
        assert platform.bindings()["MTR-7781"]["binding"]["plan_sku"] == "PLAN-METER"
        assert platform.requests[-1].authorized  # the key came from the secret
        url = platform.url
    with pytest.raises(RuntimeError):
        _ = platform.url  # stopped with the embedded AWS
    stale = device_platform.DevicePlatformClient(url, platform.api_key, timeout=1.0)
    with pytest.raises(DevicePlatformUnavailable):
        stale.push_binding(BINDING)


def test_a_new_embedded_aws_gets_its_own_platform_and_key():
    """The cached credentials belong to one boto3 client, so the second run does not call
    the first run's (stopped) server with the first run's key."""
    seen = []
    for _ in range(2):
        with EmbeddedAWS() as cloud:
            with reading_the_secret(cloud.names.secrets[names.DEVICE_PLATFORM]):
                device_platform.default_client().push_binding(BINDING)
            seen.append((cloud.device_platform.url, cloud.device_platform.api_key))
            assert len(cloud.device_platform.requests) == 1
    assert seen[0][1] != seen[1][1]


def test_the_placeholder_is_not_configured_and_a_filled_secret_is_read_at_once(
    aws_storage: Any,
):
    """Storage alone (no platform) holds the deploy's random placeholder, as on a stage
    before ops fill it: refused, not cached, so ops' value is used on the next call."""
    secret_id = aws_storage.secrets[names.DEVICE_PLATFORM]
    secrets_manager = boto3.client("secretsmanager", region_name="ap-northeast-1")
    with reading_the_secret(secret_id):
        with pytest.raises(DevicePlatformNotConfigured, match="no JSON object"):
            device_platform.default_client()

        for value, problem in [
            ({"base_url": "device-platform.example.jp", "api_key": "k"}, "not an http"),
            ({"base_url": "https://device-platform.example.jp", "api_key": ""}, "empty"),
        ]:
            secrets_manager.put_secret_value(SecretId=secret_id, SecretString=json.dumps(value))
            with pytest.raises(DevicePlatformNotConfigured, match=problem):
                device_platform.default_client()

        filled = {"base_url": "https://device-platform.example.jp/", "api_key": "ops-key-1"}
        secrets_manager.put_secret_value(SecretId=secret_id, SecretString=json.dumps(filled))
        assert device_platform.default_client().base_url == "https://device-platform.example.jp"

        rotated = {"base_url": "https://rotated.example.jp", "api_key": "ops-key-2"}
        secrets_manager.put_secret_value(SecretId=secret_id, SecretString=json.dumps(rotated))
        assert device_platform.default_client().base_url == "https://device-platform.example.jp"
        device_platform.forget_cached_credentials()
        assert device_platform.default_client().base_url == "https://rotated.example.jp"
