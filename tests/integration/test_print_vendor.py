"""The print vendor as a function reaches it: ``default_client()`` reads the declared
``print-vendor`` secret (ops-filled: endpoint, user, password) and, in the embedded AWS,
talks to the local print-vendor server the runtime started and put in that secret."""

from __future__ import annotations

from datetime import date

import pytest

from local.runtime import EmbeddedAWS
from monosub import config, names
from monosub.adapters import print_vendor
from monosub.adapters.print_vendor import PrintJob, PrintVendorUnavailable

JOB = PrintJob(
    invoice_number="INV-2026-000042",
    issue_date=date(2026, 5, 31),
    due_date=date(2026, 6, 30),
    total_yen=5_500,
    recipient_name="山田 太郎",
    postal_code="530-0001",
    address="大阪府大阪市北区梅田1-1-1",
    pdf=b"%PDF-1.7\n",
)


def test_a_function_in_the_embedded_aws_reaches_the_local_print_vendor():
    with EmbeddedAWS() as cloud:
        vendor = cloud.print_vendor
        secret_id = cloud.names.secrets[names.PRINT_VENDOR]
        # No manifest function declares the secret yet; invoicing's delivery task will.
        with config.function_environment({print_vendor.SECRET_ENV: secret_id}):
            (receipt,) = print_vendor.default_client().submit("batch-1", [JOB])
            (result,) = print_vendor.default_client().results("batch-1")
        assert receipt.invoice_number == result.invoice_number == JOB.invoice_number
        assert result.archive_token == vendor.archive_token(JOB.invoice_number)
        assert all(r.authorized for r in vendor.requests())  # the user came from the secret
        endpoint, username, password = vendor.url, vendor.username, vendor.password
    print_vendor.forget_cached_credentials()
    with pytest.raises(RuntimeError):
        _ = vendor.url  # stopped with the embedded AWS
    stale = print_vendor.PrintVendorClient(endpoint, username, password, timeout=1.0)
    with pytest.raises(PrintVendorUnavailable):
        stale.results("batch-1")
