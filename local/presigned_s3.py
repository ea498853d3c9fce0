"""The embedded S3 as browsers reach it: presigned POST uploads and presigned GET downloads
over real HTTP, checked as S3 checks them, served from moto's S3 in this process.

moto's own server mode needs Flask (not a dependency here), and moto accepts any POST
without looking at its policy and any GET without looking at its signature or expiry. So
this small server (werkzeug, threaded, on 127.0.0.1 and a free port) does what S3 does with
a presigned request, then hands the object to moto through the in-process client:

- **POST** ``/<bucket>`` (``multipart/form-data``, path style): the policy's SigV4 signature
  (against the process's credentials), its expiration, every condition (exact field, ``eq``,
  ``starts-with``, ``content-length-range``: ``EntityTooSmall``/``EntityTooLarge``), and no
  form field the policy does not name; then ``PutObject`` (its S3 notifications fire, so the
  ``document-uploaded`` function runs before the answer, 204).
- **GET**/**HEAD** ``/<bucket>/<key>``: the query-string SigV4 signature and
  ``X-Amz-Expires``; then ``GetObject`` with ``versionId`` and the ``response-content-*``
  overrides, answered with the object's bytes and headers.

Refusals are S3's XML errors with S3's status codes. Not played: other request kinds (an
unsigned or header-signed request is 403), ``${filename}`` in the key, redirects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import boto3
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from monosub import aws

_UNSIGNED_FIELDS = {"policy", "x-amz-signature", "file"}
_GET_OVERRIDES = {
    "response-content-disposition": "ResponseContentDisposition",
    "response-content-type": "ResponseContentType",
    "response-cache-control": "ResponseCacheControl",
    "response-content-language": "ResponseContentLanguage",
    "response-content-encoding": "ResponseContentEncoding",
}
_ERROR_STATUS = {
    "NoSuchKey": 404,
    "NoSuchBucket": 404,
    "NoSuchVersion": 404,
    "InvalidArgument": 400,
}


class S3Refusal(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(self.code)}</Code><Message>{escape(self.message)}</Message>"
            "</Error>"
        )
        return Response(body, status=self.status, content_type="application/xml")


def _denied(message: str) -> S3Refusal:
    return S3Refusal(403, "AccessDenied", message)


class PresignedS3Server:
    """Start with ``start()``; ``url`` is the endpoint to presign against."""

    def __init__(self, host: str = "127.0.0.1", max_upload_bytes: int = 64 * 1024 * 1024):
        self.host = host
        self.max_upload_bytes = max_upload_bytes
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> PresignedS3Server:
        self._server = make_server(
            self.host, 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="presigned-s3", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # ---- requests ------------------------------------------------------------------------------

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        request.max_content_length = self.max_upload_bytes
        try:
            response = self._handle(request)
        except S3Refusal as refusal:
            response = refusal.response()
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        raw_path = str(request.environ.get("RAW_URI") or request.full_path).split("?", 1)[0]
        bucket, _, raw_key = raw_path.lstrip("/").partition("/")
        if request.method == "POST" and not raw_key:
            return self._upload(request, bucket)
        if request.method in ("GET", "HEAD") and raw_key:
            _verify_query_signature(request, raw_path)
            return self._download(request, bucket, unquote(raw_key))
        raise S3Refusal(405, "MethodNotAllowed", f"{request.method} is not played here")

    def _upload(self, request: Request, bucket: str) -> Response:
        fields = {name.lower(): value for name, value in request.form.items()}
        upload = request.files.get("file")
        if upload is None:
            raise S3Refusal(400, "InvalidArgument", "POST requires exactly one file upload")
        data = upload.read()
        policy = _verified_policy(fields)
        _check_conditions(policy, fields, bucket, len(data))
        metadata = {
            name.removeprefix("x-amz-meta-"): value
            for name, value in fields.items()
            if name.startswith("x-amz-meta-")
        }
        extra: dict[str, Any] = {"Metadata": metadata}
        if "content-type" in fields:
            extra["ContentType"] = fields["content-type"]
        aws.client("s3").put_object(Bucket=bucket, Key=fields["key"], Body=data, **extra)
        status = int(fields.get("success_action_status") or 204)
        return Response(b"", status=status if status in (200, 201, 204) else 204)

    def _download(self, request: Request, bucket: str, key: str) -> Response:
        parameters: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if request.args.get("versionId"):
            parameters["VersionId"] = request.args["versionId"]
        for name, parameter in _GET_OVERRIDES.items():
            if request.args.get(name):
                parameters[parameter] = request.args[name]
        s3 = aws.client("s3")
        try:
            found = s3.get_object(**parameters)
        except s3.exceptions.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", "InternalError"))
            raise S3Refusal(_ERROR_STATUS.get(code, 500), code, str(error)) from error
        body = b"" if request.method == "HEAD" else found["Body"].read()
        headers = {"ETag": found.get("ETag", ""), "Content-Length": str(found["ContentLength"])}
        for field, header in (
            ("ContentDisposition", "Content-Disposition"),
            ("CacheControl", "Cache-Control"),
            ("ContentLanguage", "Content-Language"),
            ("ContentEncoding", "Content-Encoding"),
            ("VersionId", "x-amz-version-id"),
        ):
            if found.get(field):
                headers[header] = str(found[field])
        return Response(
            body,
            status=200,
            headers=headers,
            content_type=found.get("ContentType") or "binary/octet-stream",
        )


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (tests upload many files)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


# ---- SigV4 ---------------------------------------------------------------------------------


def _signing_key(credential: str) -> tuple[bytes, str]:
    """The SigV4 key of ``<access key>/<date>/<region>/<service>/aws4_request`` from this
    process's credentials, and the credential's scope."""
    access_key, _, scope = credential.partition("/")
    parts = scope.split("/")
    if len(parts) != 4 or parts[3] != "aws4_request":
        raise S3Refusal(400, "AuthorizationQueryParametersError", "malformed credential")
    credentials = boto3.session.Session().get_credentials()
    if credentials is None or credentials.access_key != access_key:
        raise S3Refusal(403, "InvalidAccessKeyId", "the access key is not known here")
    key = ("AWS4" + credentials.secret_key).encode()
    for part in parts:
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key, scope


def _verified_policy(fields: dict[str, str]) -> dict[str, Any]:
    if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256" or "policy" not in fields:
        raise _denied("the POST is not a SigV4 presigned POST")
    key, _ = _signing_key(fields.get("x-amz-credential", ""))
    expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
        raise S3Refusal(403, "SignatureDoesNotMatch", "the policy's signature does not match")
    try:
        policy: dict[str, Any] = json.loads(base64.b64decode(fields["policy"]))
        expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError) as error:
        raise S3Refusal(400, "InvalidPolicyDocument", str(error)) from error
    if expiration <= datetime.now(UTC):
        raise _denied("Invalid according to Policy: Policy expired.")
    return policy


def _check_conditions(
    policy: dict[str, Any], fields: dict[str, str], bucket: str, size: int
) -> None:
    covered = set()
    for condition in policy.get("conditions", []):
        if isinstance(condition, dict):
            ((name, value),) = condition.items()
            operator, name = "eq", name.lower()
        elif condition[0] == "content-length-range":
            low, high = int(condition[1]), int(condition[2])
            if size < low:
                raise S3Refusal(400, "EntityTooSmall", f"{size} bytes, at least {low} allowed")
            if size > high:
                raise S3Refusal(400, "EntityTooLarge", f"{size} bytes, at most {high} allowed")
            continue
        else:
            operator, name, value = (
                condition[0],
                str(condition[1]).lstrip("$").lower(),
                condition[2],
            )
        actual = bucket if name == "bucket" else fields.get(name)
        covered.add(name)
        holds = actual is not None and (
            actual == value if operator == "eq" else actual.startswith(str(value))
        )
        if not holds:
            raise _denied(
                f"Invalid according to Policy: Policy Condition failed: "
                f'["{operator}", "${name}", "{value}"]'
            )
    extra = [
        name
        for name in fields
        if name not in covered
        and name not in _UNSIGNED_FIELDS
        and not name.startswith("x-ignore-")
        and name not in ("x-amz-algorithm", "x-amz-credential", "x-amz-date")
    ]
    if extra:
        raise _denied(f"Invalid according to Policy: Extra input fields: {', '.join(extra)}")


def _verify_query_signature(request: Request, raw_path: str) -> None:
    """A presigned GET as S3 checks it: SigV4 over the method, path, query and host, and
    not past ``X-Amz-Date`` + ``X-Amz-Expires``."""
    args = request.args
    if args.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in args:
        raise _denied("only presigned (SigV4 query) requests are played here")
    signed_at = datetime.strptime(args.get("X-Amz-Date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    if datetime.now(UTC) > signed_at + timedelta(seconds=int(args.get("X-Amz-Expires", "0"))):
        raise _denied("Request has expired")
    key, scope = _signing_key(args.get("X-Amz-Credential", ""))
    query = "&".join(
        f"{_encode(name)}={_encode(value)}"
        for name, value in sorted(
            (name, value)
            for name, values in args.lists()
            for value in values
            if name != "X-Amz-Signature"
        )
    )
    signed_headers = args.get("X-Amz-SignedHeaders", "host").split(";")
    headers = "".join(
        f"{name}:{(request.headers.get(name) or '').strip()}\n" for name in signed_headers
    )
    canonical = "\n".join(
        [request.method, raw_path, query, headers, ";".join(signed_headers), "UNSIGNED-PAYLOAD"]
    )
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            args["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, args["X-Amz-Signature"]):
        raise S3Refusal(403, "SignatureDoesNotMatch", "the URL's signature does not match")


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")
