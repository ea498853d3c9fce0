"""A local stand-in for the bank's SFTP server (``docs/bank-sftp.md``), on 127.0.0.1.

A real SSH server (paramiko) so that the adapter's SFTP mode is exercised end to end: the host
key is checked against the pin, the password is checked, the upload, rename and read-back
travel over SFTP. It behaves as a bank's server does for what we rely on: requests are
uploaded to ``/upload``, the bank leaves result files in ``/download``, a plain SFTP rename
refuses an existing target, and nothing outside those two folders can be written.

The embedded runtime starts one and puts ``secret_value()`` in the ``bank-sftp`` secret.
``fail_next(n)`` drops the next ``n`` connections right after accepting them (as a server
that resets or is overloaded would), to show retries.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import secrets
import shutil
import socket
import struct
import tempfile
import threading
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from paramiko.common import (
    AUTH_FAILED,
    AUTH_SUCCESSFUL,
    OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED,
    OPEN_SUCCEEDED,
)
from paramiko.sftp import SFTP_FAILURE, SFTP_OK, SFTP_OP_UNSUPPORTED, SFTP_PERMISSION_DENIED

UPLOAD = "upload"  # our requests land here
DOWNLOAD = "download"  # what the bank leaves for us
USERNAME = "monosub"
# A client that closes its socket first makes paramiko log "Socket exception: Connection
# reset by peer" at ERROR on the server's side: normal here, not worth a line in the demo.
logging.getLogger("paramiko.transport").setLevel(logging.CRITICAL)
_ACCEPT_POLL_SECONDS = 0.05  # how soon stop() is noticed
_JOIN_SECONDS = 5.0


class BankSftpServer:
    """``with BankSftpServer() as bank:`` then deliver with ``bank.secret_value()``.

    ``root`` is the folder served as ``/`` (a temporary folder, removed at ``stop()``, when
    not given)."""

    def __init__(self, root: Path | None = None) -> None:
        self._own_root = root is None
        self._root_arg = root
        self.root: Path | None = None
        self.username = USERNAME
        self.password = secrets.token_urlsafe(18)
        self.host_key: paramiko.PKey | None = None
        self.connections = 0
        self._refuse = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._transports: list[paramiko.Transport] = []
        self._sessions: list[threading.Thread] = []

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> BankSftpServer:
        if self._listener is not None:
            return self
        root = self._root_arg if self._root_arg is not None else Path(tempfile.mkdtemp())
        self.root = root.resolve()
        (self.root / UPLOAD).mkdir(parents=True, exist_ok=True)
        (self.root / DOWNLOAD).mkdir(parents=True, exist_ok=True)
        self.host_key = _new_host_key()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.settimeout(_ACCEPT_POLL_SECONDS)
        self._stopping.clear()
        self._listener = listener
        self._thread = threading.Thread(target=self._accept_loop, name="bank-sftp", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Close the port and every session, and wait for their threads."""
        if self._listener is None:
            return
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=_JOIN_SECONDS)
        self._listener.close()
        with self._lock:
            transports, self._transports = self._transports, []
            sessions, self._sessions = self._sessions, []
        for transport in transports:
            transport.close()
        for thread in [*transports, *sessions]:
            if thread.is_alive():
                thread.join(timeout=_JOIN_SECONDS)
        self._listener, self._thread = None, None
        if self._own_root and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> BankSftpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the bank SFTP server is not started")
        return int(self._listener.getsockname()[1])

    # ---- what tests, the runtime and the demo use ----------------------------------------------

    def public_host_key(self) -> str:
        """The host key as a pin: ``"<type> <base64>"`` (what ssh-keyscan prints, no host)."""
        if self.host_key is None:
            raise RuntimeError("the bank SFTP server is not started")
        return f"{self.host_key.get_name()} {self.host_key.get_base64()}"

    def secret_value(self, remote_directory: str = "/" + UPLOAD) -> str:
        """The ``bank-sftp`` secret's value (sftp mode) that reaches this server."""
        return json.dumps(
            {
                "mode": "sftp",
                "host": "127.0.0.1",
                "port": self.port,
                "username": self.username,
                "password": self.password,
                "host_key": self.public_host_key(),
                "remote_directory": remote_directory,
            }
        )

    def received(self) -> dict[str, bytes]:
        """Every file in ``/upload`` by name (a leftover ``.part`` included)."""
        return self._files(UPLOAD)

    def downloads(self) -> dict[str, bytes]:
        """Every file in ``/download`` by name (what we have not taken yet)."""
        return self._files(DOWNLOAD)

    def put_download(self, name: str, content: bytes) -> None:
        """Leave a file for us in ``/download`` (a result file), as the bank would."""
        _check_name(name)
        target = self._folder(DOWNLOAD) / name
        part = target.with_name(name + ".part")
        part.write_bytes(content)
        part.replace(target)

    def fail_next(self, count: int) -> None:
        """Drop each of the next ``count`` connections as soon as it is accepted."""
        with self._lock:
            self._refuse += count

    # ---- serving -----------------------------------------------------------------------------

    def _folder(self, name: str) -> Path:
        if self.root is None:
            raise RuntimeError("the bank SFTP server is not started")
        return self.root / name

    def _files(self, folder: str) -> dict[str, bytes]:
        directory = self._folder(folder)
        return {
            path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()
        }

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            with self._lock:
                self.connections += 1
                refuse = self._refuse > 0
                if refuse:
                    self._refuse -= 1
            if refuse:
                _drop(connection)
                continue
            self._serve(connection)

    def _serve(self, connection: socket.socket) -> None:
        connection.settimeout(None)
        transport = paramiko.Transport(connection)
        assert self.host_key is not None and self.root is not None
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", _SftpSession, self, self.root)
        with self._lock:  # forget finished sessions as new ones come
            self._transports = [t for t in self._transports if t.is_alive()]
            self._sessions = [s for s in self._sessions if s.is_alive()]
            self._transports.append(transport)
        try:  # negotiation continues in the transport's own thread
            transport.start_server(event=threading.Event(), server=_Login(self))
        except (paramiko.SSHException, OSError):
            transport.close()

    def _register_session(self, session: threading.Thread) -> None:
        with self._lock:
            self._sessions.append(session)


def _new_host_key() -> paramiko.PKey:
    """A fresh ed25519 host key (paramiko does not generate ed25519 keys itself)."""
    pem = (
        ed25519.Ed25519PrivateKey.generate()
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
        .decode("ascii")
    )
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem))


def _drop(connection: socket.socket) -> None:
    """Close at once, with a reset rather than a clean end where the OS allows."""
    with contextlib.suppress(OSError):
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def _code(number: int | None) -> int:
    """The SFTP status for an OS errno (permission denied, no such file, else failure)."""
    return int(paramiko.SFTPServer.convert_errno(number or 0))


def _check_name(name: str) -> None:
    if not name or "/" in name or "\\" in name or name in {".", ".."}:
        raise ValueError(f"not a plain file name: {name!r}")


class _Login(paramiko.ServerInterface):
    """One user with a password; SFTP sessions only."""

    def __init__(self, server: BankSftpServer) -> None:
        self._server = server

    def get_allowed_auths(self, username: str) -> str:
        return "password"

    def check_auth_password(self, username: str, password: str) -> int:
        matches = secrets.compare_digest(
            username.encode(), self._server.username.encode()
        ) & secrets.compare_digest(password.encode(), self._server.password.encode())
        return AUTH_SUCCESSFUL if matches else AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return OPEN_SUCCEEDED
        return OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_subsystem_request(self, channel: paramiko.Channel, name: str) -> bool:
        return name == "sftp" and bool(super().check_channel_subsystem_request(channel, name))


class _SftpSession(paramiko.SFTPServer):
    """paramiko's SFTP subsystem, registered with the server so ``stop()`` can wait for it."""

    def __init__(
        self,
        channel: paramiko.Channel,
        name: str,
        server: paramiko.ServerInterface,
        bank: BankSftpServer,
        root: Path,
    ) -> None:
        super().__init__(channel, name, server, _Folders, root)
        self.daemon = True
        bank._register_session(self)


class _Handle(paramiko.SFTPHandle):
    def __init__(self, flags: int, file: Any, path: Path) -> None:
        super().__init__(flags)
        self.readfile = file
        self.writefile = file
        self._path = path

    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as failed:
            return _code(failed.errno)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK  # times and modes are not kept: nothing we rely on


class _Folders(paramiko.SFTPServerInterface):
    """The served tree, confined to ``root``: ``/upload`` is writable, ``/download`` may be
    read and emptied, anything else is read-only."""

    def __init__(self, server: paramiko.ServerInterface, root: Path) -> None:
        super().__init__(server)
        self._root = root

    # paths --------------------------------------------------------------------------------------

    def _local(self, path: str) -> Path | None:
        """The local path of an SFTP path, or None when it would leave the root."""
        canonical = self.canonicalize(path)
        local = Path(os.path.realpath(self._root / canonical.lstrip("/")))
        if local != self._root and self._root not in local.parents:
            return None
        return local

    def _area(self, local: Path) -> str | None:
        """``upload``/``download`` for a file inside one of them, else None."""
        relative = local.relative_to(self._root).parts
        return relative[0] if len(relative) == 2 and relative[0] in {UPLOAD, DOWNLOAD} else None

    # the interface -------------------------------------------------------------------------------

    def canonicalize(self, path: str) -> str:
        return str(super().canonicalize(path))

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        try:
            listing = []
            for name in sorted(os.listdir(local)):
                attributes = paramiko.SFTPAttributes.from_stat(os.stat(local / name))
                attributes.filename = name
                listing.append(attributes)
            return listing
        except OSError as failed:
            return _code(failed.errno)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(local))
        except OSError as failed:
            return _code(failed.errno)

    def lstat(self, path: str) -> paramiko.SFTPAttributes | int:
        return self.stat(path)

    def open(
        self, path: str, flags: int, attr: paramiko.SFTPAttributes
    ) -> paramiko.SFTPHandle | int:
        local = self._local(path)
        if local is None:
            return SFTP_PERMISSION_DENIED
        writing = bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
        if writing and not local.parent.is_dir():
            return _code(errno.ENOENT)
        if writing and self._area(local) != UPLOAD:
            return SFTP_PERMISSION_DENIED
        if flags & os.O_WRONLY:
            mode = "ab" if flags & os.O_APPEND else "wb"
        elif flags & os.O_RDWR:
            mode = "a+b" if flags & os.O_APPEND else "r+b"
        else:
            mode = "rb"
        try:
            descriptor = os.open(local, flags | getattr(os, "O_BINARY", 0), 0o644)
            file = os.fdopen(descriptor, mode)
        except OSError as failed:
            return _code(failed.errno)
        if local.is_dir():
            file.close()
            return _code(errno.EISDIR)
        return _Handle(flags, file, local)

    def remove(self, path: str) -> int:
        local = self._local(path)
        if local is None or self._area(local) is None:
            return SFTP_PERMISSION_DENIED
        try:
            local.unlink()
        except OSError as failed:
            return _code(failed.errno)
        return SFTP_OK

    def rename(self, oldpath: str, newpath: str) -> int:
        """Never replaces an existing file (the SFTP rename contract): link, then unlink."""
        old, new = self._local(oldpath), self._local(newpath)
        if old is None or new is None or self._area(old) != UPLOAD or self._area(new) != UPLOAD:
            return SFTP_PERMISSION_DENIED
        try:
            os.link(old, new)
        except FileExistsError:
            return SFTP_FAILURE
        except OSError as failed:
            return _code(failed.errno)
        old.unlink()
        return SFTP_OK

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return SFTP_OP_UNSUPPORTED  # a bank's server need not offer overwrite

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_PERMISSION_DENIED

    def rmdir(self, path: str) -> int:
        return SFTP_PERMISSION_DENIED

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        local = self._local(path)
        if local is None or self._area(local) != UPLOAD:
            return SFTP_PERMISSION_DENIED
        return SFTP_OK if local.exists() else _code(errno.ENOENT)

    def readlink(self, path: str) -> str | int:
        return SFTP_OP_UNSUPPORTED

    def symlink(self, target_path: str, path: str) -> int:
        return SFTP_PERMISSION_DENIED
