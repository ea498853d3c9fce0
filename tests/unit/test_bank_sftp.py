"""Delivery of the direct-debit request file to the bank (no AWS): the real paramiko client
against the local SFTP server (bytes, idempotent redelivery, never overwriting, the pinned
host key, credentials, an unreachable or dropping server), the connector mode against a
stubbed Transfer client (the exact request, the error classes), and the configuration."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import paramiko
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from functions.declarations import secret_env
from local.bank_sftp import BankSftpServer
from monosub import names
from monosub.adapters import bank_sftp
from monosub.adapters.bank_sftp import (
    BankSftpNotConfigured,
    BankSftpRejected,
    BankSftpUnavailable,
    ConnectorConfig,
    SftpConfig,
)

FILE_NAME = "ZENGIN_DEBIT_20261227.txt"
BUCKET = "monosub-dev-exchange"
KEY = f"outbox/direct-debit/2026-12-27/{FILE_NAME}"
CONNECTOR_ID = "c-0123456789abcdef0"


def request_file(name: str = "ﾓﾉｻﾌﾞ") -> bytes:
    """Four 120-byte cp932 records, as the request file is (header, data, trailer, end)."""
    records = [f"191{name}".ljust(120), "2" + "0" * 119, "8" + "0" * 119, "9".ljust(120)]
    return "\r\n".join(records).encode("cp932")


CONTENT = request_file()


@pytest.fixture
def bank(tmp_path: Path) -> Iterator[BankSftpServer]:
    with BankSftpServer(tmp_path / "bank") as running:
        yield running


@pytest.fixture
def config(bank: BankSftpServer) -> SftpConfig:
    parsed = bank_sftp.parse_config(bank.secret_value())
    assert isinstance(parsed, SftpConfig)
    return parsed


def deliver(config: bank_sftp.BankSftpConfig, content: bytes = CONTENT, **kw: Any) -> Any:
    values: dict[str, Any] = {"bucket": BUCKET, "key": KEY, "file_name": FILE_NAME, **kw}
    return bank_sftp.deliver(content=content, config=config, **values)


def other_host_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


def pin(client: paramiko.SSHClient, bank: BankSftpServer) -> None:
    """Trust the local server's host key only (a test client talking to it directly)."""
    assert bank.host_key is not None
    client.get_host_keys().add(f"[127.0.0.1]:{bank.port}", bank.host_key.get_name(), bank.host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())


# ---- SFTP mode against the local server ----------------------------------------------------


def test_the_file_arrives_with_its_exact_bytes_and_no_part_file_is_left(
    bank: BankSftpServer, config: SftpConfig
):
    receipt = deliver(config)

    assert bank.received() == {FILE_NAME: CONTENT}
    assert receipt.as_dict() == {
        "mode": "sftp",
        "file_name": FILE_NAME,
        "remote_path": f"/upload/{FILE_NAME}",
        "size": len(CONTENT),
        "sha256": hashlib.sha256(CONTENT).hexdigest(),
        "transfer_id": None,
        "status": "delivered",
    }


def test_a_redelivery_of_the_same_bytes_is_recognised_and_nothing_is_duplicated(
    bank: BankSftpServer, config: SftpConfig
):
    first = deliver(config)
    again = deliver(config)

    assert again.status == "already-delivered"
    assert replace(again, status="delivered") == first
    assert bank.received() == {FILE_NAME: CONTENT}


@pytest.mark.parametrize(
    "other",
    [request_file("ﾍﾞﾂﾉｶｲｼｬ"), request_file("ﾓﾉｻﾌｱ")],  # another size; the same size
    ids=["other-size", "same-size"],
)
def test_other_bytes_under_a_delivered_name_are_refused_and_the_file_is_kept(
    bank: BankSftpServer, config: SftpConfig, other: bytes
):
    deliver(config)
    assert other != CONTENT

    with pytest.raises(BankSftpRejected, match="already holds another file"):
        deliver(config, other)

    assert bank.received() == {FILE_NAME: CONTENT}


def test_a_part_file_left_by_an_interrupted_attempt_is_replaced(
    bank: BankSftpServer, config: SftpConfig
):
    assert bank.root is not None
    (bank.root / "upload" / f"{FILE_NAME}.part").write_bytes(CONTENT[:100])

    assert deliver(config).status == "delivered"
    assert bank.received() == {FILE_NAME: CONTENT}


def test_a_server_presenting_another_host_key_is_refused_before_anything_is_sent(
    bank: BankSftpServer, config: SftpConfig
):
    with pytest.raises(BankSftpRejected, match="host key other than the pinned one"):
        deliver(replace(config, host_key=other_host_key()))

    assert bank.received() == {}


def test_a_wrong_password_is_rejected(bank: BankSftpServer, config: SftpConfig):
    with pytest.raises(BankSftpRejected, match="refused our credentials"):
        deliver(replace(config, password="not-the-password"))

    assert bank.received() == {}


def test_a_key_the_server_does_not_accept_is_rejected(bank: BankSftpServer, config: SftpConfig):
    private_key = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode()
    )

    with pytest.raises(BankSftpRejected, match="refused our credentials"):
        deliver(replace(config, password=None, private_key=private_key))


@pytest.mark.parametrize(
    ("directory", "message"),
    [("/download", "permission denied"), ("/", "permission denied"), ("/nowhere", "no such")],
)
def test_a_remote_directory_we_may_not_write_is_rejected(
    bank: BankSftpServer, config: SftpConfig, directory: str, message: str
):
    with pytest.raises(BankSftpRejected, match=message):
        deliver(replace(config, remote_directory=directory))

    assert bank.received() == {}
    assert bank.downloads() == {}


def test_a_stopped_server_is_unavailable(bank: BankSftpServer, config: SftpConfig):
    bank.stop()

    with pytest.raises(BankSftpUnavailable):
        deliver(config)


def test_dropped_connections_are_unavailable_and_the_retry_delivers(
    bank: BankSftpServer, config: SftpConfig
):
    bank.fail_next(2)

    for _ in range(2):
        with pytest.raises(BankSftpUnavailable):
            deliver(config)
    assert bank.received() == {}

    assert deliver(config).status == "delivered"
    assert bank.connections == 3
    assert bank.received() == {FILE_NAME: CONTENT}


def test_the_file_name_must_be_a_plain_name(config: SftpConfig):
    for bad in ["", "../x.txt", "a/b.txt", ".hidden", f"{FILE_NAME}.part", " x.txt"]:
        with pytest.raises(ValueError, match="plain file name"):
            deliver(config, file_name=bad)


# ---- the local server itself ---------------------------------------------------------------


def test_stop_leaves_no_thread_and_closes_the_port(tmp_path: Path):
    before = set(threading.enumerate())
    bank = BankSftpServer(tmp_path).start()
    port = bank.port
    config = bank_sftp.parse_config(bank.secret_value())
    deliver(config)
    bank.fail_next(1)
    with pytest.raises(BankSftpUnavailable):
        deliver(config)
    # a session still open when the server stops
    idle = paramiko.SSHClient()
    pin(idle, bank)
    idle.connect(
        "127.0.0.1",
        port=port,
        username=bank.username,
        password=bank.password,
        allow_agent=False,
        look_for_keys=False,
    )
    idle.open_sftp().listdir("/upload")

    bank.stop()
    idle.close()

    # the client's own transport thread ends shortly after close(): give it (not the server)
    # a moment on a loaded machine
    deadline = time.monotonic() + 5
    while [t for t in set(threading.enumerate()) - before if t.is_alive()]:
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert [t for t in set(threading.enumerate()) - before if t.is_alive()] == []
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass
    assert (tmp_path / "upload" / FILE_NAME).read_bytes() == CONTENT  # a given root is kept


def test_a_temporary_root_is_removed_at_stop():
    bank = BankSftpServer().start()
    root = bank.root
    assert root is not None and root.is_dir()
    bank.stop()
    assert not root.exists()


@pytest.fixture
def sftp(bank: BankSftpServer) -> Iterator[paramiko.SFTPClient]:
    client = paramiko.SSHClient()
    pin(client, bank)
    client.connect(
        "127.0.0.1",
        port=bank.port,
        username=bank.username,
        password=bank.password,
        allow_agent=False,
        look_for_keys=False,
    )
    with client, client.open_sftp() as session:
        yield session


def test_what_the_bank_leaves_in_download_can_be_read_and_taken(
    bank: BankSftpServer, sftp: paramiko.SFTPClient
):
    bank.put_download("RESULT_20261227.txt", b"result")

    assert sftp.listdir("/download") == ["RESULT_20261227.txt"]
    with sftp.open("/download/RESULT_20261227.txt", "rb") as file:
        assert file.read() == b"result"
    sftp.remove("/download/RESULT_20261227.txt")
    assert bank.downloads() == {}
    with pytest.raises(ValueError, match="plain file name"):
        bank.put_download("../escape.txt", b"x")


def test_paths_stay_inside_the_root(
    bank: BankSftpServer, sftp: paramiko.SFTPClient, tmp_path: Path
):
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"secret")
    assert bank.root is not None
    os.symlink(outside, bank.root / "download" / "link.txt")

    with pytest.raises(FileNotFoundError):  # "/.." is "/": the root's own (absent) file
        sftp.open("/../outside.txt", "rb")
    with pytest.raises(PermissionError):
        sftp.open("/download/link.txt", "rb")
    with pytest.raises(PermissionError):
        sftp.open("/download/new.txt", "wb")
    with pytest.raises(OSError):
        sftp.posix_rename("/upload/a", "/upload/b")
    with pytest.raises(PermissionError):
        sftp.mkdir("/upload/sub")


def test_a_plain_rename_never_replaces_an_existing_file(
    bank: BankSftpServer, sftp: paramiko.SFTPClient
):
    sftp.putfo(io.BytesIO(b"first"), "/upload/a.txt")
    sftp.putfo(io.BytesIO(b"second"), "/upload/b.txt")

    with pytest.raises(OSError):
        sftp.rename("/upload/b.txt", "/upload/a.txt")

    assert bank.received() == {"a.txt": b"first", "b.txt": b"second"}


# ---- connector mode against a stubbed Transfer client ----------------------------------------


CONNECTOR = ConnectorConfig(connector_id=CONNECTOR_ID, remote_directory="/upload")
START_REQUEST = {
    "ConnectorId": CONNECTOR_ID,
    "SendFilePaths": [f"/{BUCKET}/{KEY}"],
    "RemoteDirectoryPath": "/upload",
}


@pytest.fixture
def transfer() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "transfer",
        region_name="ap-northeast-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_the_connector_is_asked_to_send_the_s3_object(transfer: tuple[Any, Stubber]):
    client, stubber = transfer
    transfer_id = "8d2a8f36-0e7b-4b1c-9a3c-3f2f1d2a9b10"
    stubber.add_response("start_file_transfer", {"TransferId": transfer_id}, START_REQUEST)

    receipt = deliver(CONNECTOR, transfer_client=client)

    assert receipt.as_dict() == {
        "mode": "connector",
        "file_name": FILE_NAME,
        "remote_path": f"/upload/{FILE_NAME}",
        "size": len(CONTENT),
        "sha256": hashlib.sha256(CONTENT).hexdigest(),
        "transfer_id": transfer_id,
        "status": "started",
    }


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("AccessDeniedException", 400, BankSftpRejected),
        ("ResourceNotFoundException", 400, BankSftpRejected),
        ("InvalidRequestException", 400, BankSftpRejected),
        ("ThrottlingException", 400, BankSftpUnavailable),
        ("ServiceUnavailableException", 503, BankSftpUnavailable),
        ("InternalServiceError", 500, BankSftpUnavailable),
    ],
)
def test_transfer_errors_are_split_by_what_a_retry_can_do(
    transfer: tuple[Any, Stubber], code: str, status: int, error: type[Exception]
):
    client, stubber = transfer
    stubber.add_client_error(
        "start_file_transfer", code, "no", http_status_code=status, expected_params=START_REQUEST
    )

    with pytest.raises(error, match=code):
        deliver(CONNECTOR, transfer_client=client)


def test_the_connector_sends_the_objects_own_name_so_it_must_be_the_file_name(
    transfer: tuple[Any, Stubber],
):
    client, _ = transfer
    with pytest.raises(ValueError, match="under its own name"):
        deliver(CONNECTOR, transfer_client=client, key="outbox/direct-debit/request.txt")


@pytest.mark.parametrize(
    ("pages", "expected"),
    [
        ([[]], ("queued", None)),
        ([[("QUEUED", None)]], ("queued", None)),
        ([[("IN_PROGRESS", None)]], ("in-progress", None)),
        ([[("COMPLETED", None)]], ("completed", None)),
        (
            [[("COMPLETED", None)], [("FAILED", "REMOTE_SERVER_ERROR")]],
            ("failed", "REMOTE_SERVER_ERROR"),
        ),
    ],
)
def test_transfer_status_reads_every_page_of_results(
    transfer: tuple[Any, Stubber], pages: list[list[tuple[str, str | None]]], expected: Any
):
    client, stubber = transfer
    transfer_id = "8d2a8f36-0e7b-4b1c-9a3c-3f2f1d2a9b10"
    for number, page in enumerate(pages):
        results = [
            {"FilePath": f"/upload/{FILE_NAME}", "StatusCode": code}
            | ({"FailureCode": failure, "FailureMessage": "the server said no"} if failure else {})
            for code, failure in page
        ]
        answer: dict[str, Any] = {"FileTransferResults": results}
        if number + 1 < len(pages):
            answer["NextToken"] = f"page-{number + 1}"
        request: dict[str, Any] = {"ConnectorId": CONNECTOR_ID, "TransferId": transfer_id}
        if number:
            request["NextToken"] = f"page-{number}"
        stubber.add_response("list_file_transfer_results", answer, request)

    status = bank_sftp.transfer_status(CONNECTOR_ID, transfer_id, transfer_client=client)

    assert (status.status, status.failure_code) == expected


def test_transfer_status_of_an_unknown_transfer_is_rejected(transfer: tuple[Any, Stubber]):
    client, stubber = transfer
    stubber.add_client_error("list_file_transfer_results", "ResourceNotFoundException", "gone")

    with pytest.raises(BankSftpRejected):
        bank_sftp.transfer_status(CONNECTOR_ID, "unknown", transfer_client=client)


# ---- configuration -----------------------------------------------------------------------------


def test_the_secret_is_the_declared_bank_sftp_secret():
    assert bank_sftp.SECRET == names.BANK_SFTP
    assert secret_env(names.BANK_SFTP) == bank_sftp.SECRET_ENV


def test_deliver_reads_the_secret_when_given_no_config(
    bank: BankSftpServer, monkeypatch: pytest.MonkeyPatch
):
    read: list[str] = []

    def fake_read(env: str, parse: Any) -> Any:
        read.append(env)
        return parse(bank.secret_value())

    monkeypatch.setattr(bank_sftp.secret_cache, "read", fake_read)

    assert bank_sftp.deliver(
        bucket=BUCKET, key=KEY, content=CONTENT, file_name=FILE_NAME
    ).status == ("delivered")
    assert read == ["SECRET_BANK_SFTP"]


def test_a_connector_secret_is_parsed():
    value = {"mode": "connector", "connector_id": CONNECTOR_ID, "remote_directory": "/upload/"}
    assert bank_sftp.parse_config(json.dumps(value)) == CONNECTOR


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("Xq3kR8vT2mN9pL4wY7zB1cF6hJ0sD5gA8eU2iO9yT3rE6wQ1aS4dF7gH0jK2lZ5x", "no JSON object"),
        ("", "no JSON object"),
        ({"mode": "ftp", "remote_directory": "/upload"}, "mode"),
        ({"mode": "connector", "remote_directory": "/upload"}, "connector_id"),
        ({"mode": "connector", "connector_id": "x", "remote_directory": "/u"}, "connector_id"),
        ({"mode": "connector", "connector_id": CONNECTOR_ID}, "remote_directory"),
        ({"mode": "connector", "connector_id": CONNECTOR_ID, "remote_directory": "up"}, "absolute"),
    ],
)
def test_an_unusable_secret_is_not_configured(value: Any, message: str):
    text = value if isinstance(value, str) else json.dumps(value)
    with pytest.raises(BankSftpNotConfigured, match=message):
        bank_sftp.parse_config(text)


SFTP_VALUE = {
    "mode": "sftp",
    "host": "sftp.bank.example",
    "username": "monosub",
    "password": "pw",
    "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPORuHVRw/pS3jUNCZdGLaAhI0obSapYIPQpPBqfTY7M",
    "remote_directory": "/upload",
}


def test_an_sftp_secret_is_parsed_with_port_22_by_default_and_no_secret_in_its_repr():
    parsed = bank_sftp.parse_config(json.dumps(SFTP_VALUE))

    assert parsed == SftpConfig(
        host="sftp.bank.example",
        username="monosub",
        password="pw",
        host_key=SFTP_VALUE["host_key"],
        remote_directory="/upload",
        port=22,
    )
    assert "pw" not in repr(parsed)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": None}, "password or a private_key"),
        ({"host_key": None}, "host_key"),
        ({"host_key": "ssh-ed25519"}, "host_key"),
        ({"host_key": "ssh-ed25519 not*base64"}, "host_key"),
        ({"port": "22"}, "port"),
        ({"port": 70000}, "port"),
        ({"host": " "}, "host"),
        ({"username": None}, "username"),
    ],
)
def test_an_incomplete_sftp_secret_is_not_configured(changes: dict[str, Any], message: str):
    value = {k: v for k, v in (SFTP_VALUE | changes).items() if v is not None}
    with pytest.raises(BankSftpNotConfigured, match=message):
        bank_sftp.parse_config(json.dumps(value))


def test_an_unreadable_private_key_is_not_configured(config: SftpConfig):
    with pytest.raises(BankSftpNotConfigured, match="private_key"):
        deliver(replace(config, password=None, private_key="-----BEGIN NOTHING-----"))
