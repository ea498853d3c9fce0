"""Logical names of the declared resources, shared by the domain package and the
declarations (``functions/resources.py`` imports these; the dependency points one way:
functions -> monosub). The physical names reach code through ``monosub.config``."""

from __future__ import annotations

RECORDS = "records"
RUNS = "runs"
IDEMPOTENCY = "idempotency"
AUDIT = "audit"
CATALOG = "catalog"
BILLING = "billing"
EXCHANGE = "exchange"
DOCUMENTS = "documents"
DOMAIN_EVENTS = "domain-events"
FILE_INTAKE = "file-intake"
SHIPPING_KITTING = "shipping-kitting"
MONTH_END_REVENUE = "month-end-revenue"
INVOICING = "invoicing"
CASH = "cash"
EXCEPTIONS = "exceptions"
DIRECT_DEBIT = "direct-debit"
OVERDUE_FOLLOW_UP = "overdue-follow-up"
ERP_SYNC = "erp-sync"

# Secrets (the consent signing key's name is still in monosub.consent.secret).
DEVICE_PLATFORM = "device-platform"
PRINT_VENDOR = "print-vendor"
STRIPE = "stripe"
BANK_SFTP = "bank-sftp"
BANK_SFTP_LOGIN = "bank-sftp-login"
ERP = "erp"

# Functions other code invokes by name.
DOCUMENT_RENDERER = "document-renderer"
