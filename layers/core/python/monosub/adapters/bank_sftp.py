"""Delivery of the direct-debit request file (全銀 口座振替依頼データ) to the bank's SFTP server.

The request file is already written to S3 by the caller (the run keeps it: it is what the
result file is checked against). This module only gets those bytes to the bank:

- on AWS, a Transfer Family **SFTP connector** sends the S3 object itself
  (``StartFileTransfer``); the connector holds the bank's credentials and pinned host key,
  so nothing secret passes through the function, and the transfer is asynchronous
  (``transfer_status`` reads its result);
- locally (and anywhere a connector is not wanted) the file is uploaded over **SFTP** with
  paramiko, imported lazily because it is a dev-only dependency the Lambda layers do not hold.

Which one is used is the ``mode`` of the ``bank-sftp`` secret (``docs/bank-sftp.md``).

A file the bank may already have taken is never overwritten: an SFTP upload lands under
``<name>.part`` and is renamed to ``<name>`` (atomic on the server, and a plain SFTP rename
refuses an existing target). A redelivery of the same bytes is recognised by size and sha256
(``already-delivered``); the same name with other bytes is a conflict a person must look at.

Errors are split by what a retry can do, because Step Functions decides by the exception's
**class name** (``Retry``/``Catch`` ``ErrorEquals`` match the name exactly, never a base class):

- ``BankSftpUnavailable``: connection refused or reset, timeout, SSH negotiation failure,
  throttling or a 5xx from Transfer. Worth retrying with back-off: an SFTP redelivery of
  the same bytes is recognised, not duplicated.
- ``BankSftpRejected``: authentication failure, host key mismatch, permission denied, a
  different file already under the name, AccessDenied/ResourceNotFound from Transfer. A
  retry gets the same answer.
- ``BankSftpNotConfigured``: the secret does not hold a usable configuration yet.

Renaming any of these classes silently disables the state machines' Retry/Catch on them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import posixpath
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from monosub import aws, names, secret_cache

if TYPE_CHECKING:
    import paramiko

# The secret holding the configuration, declared in functions/resources.py; a function that
# declares it gets its id in this variable (functions.declarations.secret_env).
SECRET = names.BANK_SFTP
SECRET_ENV = "SECRET_BANK_SFTP"
DEFAULT_PORT = 22
TIMEOUT_SECONDS = 15.0
PART_SUFFIX = ".part"
_READ_CHUNK = 32768

# Transfer's error codes by what a retry can do (anything else: by HTTP status, 5xx retried).
_TRANSFER_RETRYABLE = {
    "ThrottlingException",
    "ServiceUnavailableException",
    "InternalServiceError",
    "RequestTimeout",
    "RequestTimeoutException",
}
_TRANSFER_REFUSED = {
    "AccessDeniedException",
    "ResourceNotFoundException",
    "InvalidRequestException",
    "ValidationException",
}

Status = Literal["started", "delivered", "already-delivered"]


class BankSftpUnavailable(Exception):
    """The bank's server or Transfer could not be reached or asked us to slow down: worth
    retrying. Step Functions matches this exact class name."""


class BankSftpRejected(Exception):
    """The bank's server or Transfer refused the delivery (credentials, host key, permission,
    a different file under the same name): a retry gets the same answer.
    Step Functions matches this exact class name."""


class BankSftpNotConfigured(RuntimeError):
    """The ``bank-sftp`` secret does not hold a usable configuration (ops fill it after the
    first deploy: docs/bank-sftp.md)."""


@dataclass(frozen=True)
class ConnectorConfig:
    """Send through a Transfer Family SFTP connector (on AWS)."""

    connector_id: str
    remote_directory: str
    mode: Literal["connector"] = "connector"


@dataclass(frozen=True)
class SftpConfig:
    """Upload directly over SFTP, trusting only ``host_key`` (``"<type> <base64>"``)."""

    host: str
    username: str
    host_key: str
    remote_directory: str
    port: int = DEFAULT_PORT
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)  # PEM or OpenSSH format
    mode: Literal["sftp"] = "sftp"


BankSftpConfig = ConnectorConfig | SftpConfig


@dataclass(frozen=True)
class DeliveryReceipt:
    """What was delivered where. ``status`` is ``started`` for a connector transfer (its end
    is read with ``transfer_status``), ``delivered`` or ``already-delivered`` over SFTP."""

    mode: str
    file_name: str
    remote_path: str
    size: int
    sha256: str
    transfer_id: str | None
    status: Status

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class TransferStatus:
    """A connector transfer as Transfer reports it: ``queued``, ``in-progress``,
    ``completed`` or ``failed`` (with Transfer's failure code and message)."""

    status: Literal["queued", "in-progress", "completed", "failed"]
    file_paths: tuple[str, ...] = ()
    failure_code: str | None = None
    failure_message: str | None = None


# ---- configuration -----------------------------------------------------------------------------


def load_config() -> BankSftpConfig:
    """The configuration in the declared ``bank-sftp`` secret (the calling function must
    declare it: ``secrets=(names.BANK_SFTP,)``). Cached a few minutes (monosub.secret_cache);
    a secret that is not usable yet is read again on next use."""
    return secret_cache.read(SECRET_ENV, parse_config)


def forget_cached_config() -> None:
    """Read the secret again on next use (after ops changed it)."""
    secret_cache.forget(SECRET_ENV)


def parse_config(secret_string: str) -> BankSftpConfig:
    """The configuration a ``bank-sftp`` secret value holds, or ``BankSftpNotConfigured``
    naming what is missing (the deploy's random placeholder is not JSON)."""
    try:
        value = json.loads(secret_string)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise BankSftpNotConfigured(
            f"secret {SECRET} holds no JSON object: put "
            '{"mode": "connector", ...} or {"mode": "sftp", ...} in it (docs/bank-sftp.md)'
        )
    mode = value.get("mode")
    remote_directory = _text(value, "remote_directory")
    if not remote_directory.startswith("/"):
        raise BankSftpNotConfigured(f"secret {SECRET}: remote_directory must be absolute")
    remote_directory = posixpath.normpath(remote_directory)
    if mode == "connector":
        connector_id = _text(value, "connector_id")
        if not connector_id.startswith("c-"):
            raise BankSftpNotConfigured(f"secret {SECRET}: connector_id is not a c-... id")
        return ConnectorConfig(connector_id=connector_id, remote_directory=remote_directory)
    if mode == "sftp":
        port = value.get("port", DEFAULT_PORT)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise BankSftpNotConfigured(f"secret {SECRET}: port is not a TCP port")
        password, private_key = value.get("password"), value.get("private_key")
        if not (isinstance(password, str) and password) and not (
            isinstance(private_key, str) and private_key
        ):
            raise BankSftpNotConfigured(f"secret {SECRET}: give a password or a private_key")
        host_key = _text(value, "host_key")
        _public_key_parts(host_key)  # refuse a malformed pin now, not at the bank's door
        return SftpConfig(
            host=_text(value, "host"),
            port=port,
            username=_text(value, "username"),
            password=password if isinstance(password, str) and password else None,
            private_key=private_key if isinstance(private_key, str) and private_key else None,
            host_key=host_key,
            remote_directory=remote_directory,
        )
    raise BankSftpNotConfigured(f"secret {SECRET}: mode must be 'connector' or 'sftp'")


def _text(value: dict[str, Any], name: str) -> str:
    text = value.get(name)
    if not isinstance(text, str) or not text.strip():
        raise BankSftpNotConfigured(f"secret {SECRET}: {name} is missing")
    return text.strip()


def _public_key_parts(host_key: str) -> tuple[str, bytes]:
    """``("ssh-ed25519", <key blob>)`` from ``"ssh-ed25519 AAAA... [comment]"``."""
    parts = host_key.split()
    try:
        if len(parts) < 2:
            raise ValueError(host_key)
        return parts[0], base64.b64decode(parts[1], validate=True)
    except (ValueError, binascii.Error) as malformed:
        raise BankSftpNotConfigured(
            f"secret {SECRET}: host_key is not '<type> <base64>' (as ssh-keyscan prints it)"
        ) from malformed


# ---- delivery ----------------------------------------------------------------------------------


def deliver(
    *,
    bucket: str,
    key: str,
    content: bytes,
    file_name: str,
    config: BankSftpConfig | None = None,
    transfer_client: Any = None,
) -> DeliveryReceipt:
    """Deliver the file already written at ``s3://bucket/key`` (``content`` is its bytes)
    to the bank as ``file_name``.

    ``config`` defaults to the ``bank-sftp`` secret (``load_config()``); tests and local
    tools pass one. ``transfer_client`` defaults to the shared boto3 ``transfer`` client.
    With a connector, the S3 object's own name is what lands at the bank, so ``key`` must end
    in ``file_name``.
    """
    _check_file_name(file_name)
    settings = config if config is not None else load_config()
    if isinstance(settings, ConnectorConfig):
        return _start_transfer(
            settings,
            bucket=bucket,
            key=key,
            content=content,
            file_name=file_name,
            transfer_client=transfer_client,
        )
    return _upload(settings, content, file_name)


def transfer_status(
    connector_id: str, transfer_id: str, *, transfer_client: Any = None
) -> TransferStatus:
    """Where a connector transfer stands (results are kept by Transfer for 7 days)."""
    client = transfer_client if transfer_client is not None else aws.client("transfer")
    results: list[dict[str, Any]] = []
    request: dict[str, Any] = {"ConnectorId": connector_id, "TransferId": transfer_id}
    while True:
        page = _transfer_call(client.list_file_transfer_results, **request)
        results.extend(page.get("FileTransferResults", []))
        if not page.get("NextToken"):
            break
        request["NextToken"] = page["NextToken"]
    paths = tuple(str(r.get("FilePath", "")) for r in results)
    failed = next((r for r in results if r.get("StatusCode") == "FAILED"), None)
    if failed is not None:
        return TransferStatus(
            "failed", paths, failed.get("FailureCode"), failed.get("FailureMessage")
        )
    codes = {r.get("StatusCode") for r in results}
    if results and codes == {"COMPLETED"}:
        return TransferStatus("completed", paths)
    if "IN_PROGRESS" in codes or "COMPLETED" in codes:
        return TransferStatus("in-progress", paths)
    return TransferStatus("queued", paths)


def _check_file_name(file_name: str) -> None:
    if (
        not file_name
        or file_name != file_name.strip()
        or "/" in file_name
        or "\\" in file_name
        or file_name.startswith(".")
        or file_name.endswith(PART_SUFFIX)
    ):
        raise ValueError(f"not a plain file name for the bank: {file_name!r}")


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


# ---- connector mode ----------------------------------------------------------------------------


def _start_transfer(
    config: ConnectorConfig,
    *,
    bucket: str,
    key: str,
    content: bytes,
    file_name: str,
    transfer_client: Any,
) -> DeliveryReceipt:
    if posixpath.basename(key) != file_name:
        raise ValueError(
            f"the connector sends s3://{bucket}/{key} under its own name, not {file_name!r}: "
            "write the object under the file name the bank expects"
        )
    client = transfer_client if transfer_client is not None else aws.client("transfer")
    answer = _transfer_call(
        client.start_file_transfer,
        ConnectorId=config.connector_id,
        SendFilePaths=[f"/{bucket}/{key}"],
        RemoteDirectoryPath=config.remote_directory,
    )
    return DeliveryReceipt(
        mode="connector",
        file_name=file_name,
        remote_path=posixpath.join(config.remote_directory, file_name),
        size=len(content),
        sha256=_sha256(content),
        transfer_id=str(answer["TransferId"]),
        status="started",
    )


def _transfer_call(operation: Any, **request: Any) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer: dict[str, Any] = operation(**request)
    except ClientError as failed:
        error = failed.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(failed.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        message = f"Transfer refused {failed.operation_name}: {code} {error.get('Message', '')}"
        if code in _TRANSFER_RETRYABLE or (code not in _TRANSFER_REFUSED and status >= 500):
            raise BankSftpUnavailable(message.strip()) from failed
        raise BankSftpRejected(message.strip()) from failed
    except BotoCoreError as failed:  # endpoint unreachable, timeouts
        raise BankSftpUnavailable(f"Transfer unreachable: {failed}") from failed
    return answer


# ---- SFTP mode ---------------------------------------------------------------------------------


def _upload(config: SftpConfig, content: bytes, file_name: str) -> DeliveryReceipt:
    import paramiko

    remote_path = posixpath.join(config.remote_directory, file_name)
    part_path = remote_path + PART_SUFFIX
    digest = _sha256(content)

    def receipt(status: Status) -> DeliveryReceipt:
        return DeliveryReceipt(
            mode="sftp",
            file_name=file_name,
            remote_path=remote_path,
            size=len(content),
            sha256=digest,
            transfer_id=None,
            status=status,
        )

    where = f"{config.username}@{config.host}:{config.port}{remote_path}"
    try:
        with _connect(config) as client:
            sftp = client.open_sftp()
            sftp.get_channel().settimeout(TIMEOUT_SECONDS)  # type: ignore[union-attr]
            try:
                if _already_there(sftp, remote_path, content, digest, where):
                    return receipt("already-delivered")
                if _exists(sftp, part_path):  # ours, from an attempt cut short
                    sftp.remove(part_path)
                sftp.putfo(io.BytesIO(content), part_path, file_size=len(content), confirm=True)
                try:
                    sftp.rename(part_path, remote_path)  # refuses an existing target
                except OSError:
                    if _already_there(sftp, remote_path, content, digest, where):
                        sftp.remove(part_path)  # a concurrent attempt delivered it first
                        return receipt("already-delivered")
                    raise
                size = sftp.stat(remote_path).st_size
                if size != len(content):
                    raise BankSftpRejected(
                        f"{where} holds {size} bytes after the upload, not {len(content)}"
                    )
                return receipt("delivered")
            finally:
                sftp.close()
    except (BankSftpRejected, BankSftpUnavailable):
        raise
    except paramiko.BadHostKeyException as wrong:
        raise BankSftpRejected(
            f"{config.host}:{config.port} presented a host key other than the pinned one "
            f"({wrong.key.get_name()} {wrong.key.fingerprint})"
        ) from wrong
    except paramiko.AuthenticationException as refused:
        raise BankSftpRejected(
            f"{config.username}@{config.host}:{config.port} refused our credentials: {refused}"
        ) from refused
    except paramiko.SSHException as failed:  # negotiation, banner, protocol
        raise BankSftpUnavailable(f"SSH with {config.host}:{config.port} failed: {failed}") from (
            failed
        )
    except PermissionError as denied:
        raise BankSftpRejected(f"permission denied at {where}: {denied}") from denied
    except FileNotFoundError as missing:  # the remote directory does not exist
        raise BankSftpRejected(f"no such remote path for {where}: {missing}") from missing
    except (OSError, EOFError) as failed:  # refused, reset, timeout, a generic SFTP failure
        raise BankSftpUnavailable(f"SFTP to {where} failed: {failed!r}") from failed


def _connect(config: SftpConfig) -> paramiko.SSHClient:
    """An SSH client connected and authenticated, trusting only the pinned host key (the
    pinned key's type is the one negotiated; any other key is ``BadHostKeyException``)."""
    import paramiko

    key_type, key_blob = _public_key_parts(config.host_key)
    try:
        pinned = paramiko.PKey.from_type_string(key_type, key_blob)
    except (paramiko.SSHException, ValueError) as unknown:
        raise BankSftpNotConfigured(
            f"secret {SECRET}: host_key is not a key paramiko knows ({key_type})"
        ) from unknown
    client = paramiko.SSHClient()
    host_entry = config.host if config.port == DEFAULT_PORT else f"[{config.host}]:{config.port}"
    client.get_host_keys().add(host_entry, pinned.get_name(), pinned)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            config.host,
            port=config.port,
            username=config.username,
            password=config.password,
            pkey=_private_key(config.private_key) if config.private_key else None,
            timeout=TIMEOUT_SECONDS,
            banner_timeout=TIMEOUT_SECONDS,
            auth_timeout=TIMEOUT_SECONDS,
            channel_timeout=TIMEOUT_SECONDS,
            allow_agent=False,
            look_for_keys=False,
        )
    except BaseException:
        client.close()
        raise
    return client


def _private_key(text: str) -> paramiko.PKey:
    import paramiko
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    data = text.encode("utf-8")
    try:
        try:
            loaded: Any = serialization.load_ssh_private_key(data, password=None)
        except ValueError:
            loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as unreadable:
        raise BankSftpNotConfigured(
            f"secret {SECRET}: private_key is not an unencrypted PEM/OpenSSH key"
        ) from unreadable
    key_class: type[paramiko.PKey]
    if isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    elif isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    else:
        raise BankSftpNotConfigured(f"secret {SECRET}: private_key type is not supported")
    return key_class.from_private_key(io.StringIO(text))


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
    except FileNotFoundError:
        return False
    return True


def _already_there(
    sftp: paramiko.SFTPClient, path: str, content: bytes, digest: str, where: str
) -> bool:
    """True when ``path`` holds exactly ``content``; False when it does not exist; a
    ``BankSftpRejected`` when it holds anything else (never overwritten: the bank may have
    taken it)."""
    try:
        size = sftp.stat(path).st_size
    except FileNotFoundError:
        return False
    if size == len(content):
        remote = hashlib.sha256()
        with sftp.open(path, "rb") as file:
            while chunk := file.read(_READ_CHUNK):
                remote.update(chunk)
        if remote.hexdigest() == digest:
            return True
    raise BankSftpRejected(
        f"{where} already holds another file ({size} bytes); it is not overwritten: "
        "the bank may have taken it"
    )
