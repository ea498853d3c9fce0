"""Every table, bucket, event bus and state machine, declared once.

Read by the CDK app and by the embedded runtime. Access patterns: ``docs/data-model.md``.
"""

from __future__ import annotations

from functions.declarations import Bucket, EventBus, Index, Secret, StateMachine, Table
from monosub.consent.secret import SIGNING_SECRET as CONSENT_SIGNING
from monosub.domain.notifications import NOTIFICATIONS
from monosub.domain.notifications import RECIPIENTS_SECRET as NOTIFICATION_RECIPIENTS
from monosub.models.billing import INVOICE_LIST_FIELDS
from monosub.names import (
    AUDIT,
    BANK_SFTP,
    BANK_SFTP_LOGIN,
    BILLING,
    CASH,
    CATALOG,
    DEVICE_PLATFORM,
    DIRECT_DEBIT,
    DOCUMENTS,
    DOMAIN_EVENTS,
    ERP,
    ERP_SYNC,
    EXCEPTIONS,
    EXCHANGE,
    FILE_INTAKE,
    IDEMPOTENCY,
    INVOICING,
    MONTH_END_REVENUE,
    OVERDUE_FOLLOW_UP,
    PRINT_VENDOR,
    RECORDS,
    RUNS,
    SHIPPING_KITTING,
    STRIPE,
)

__all__ = [
    "AUDIT",
    "BANK_SFTP",
    "BANK_SFTP_LOGIN",
    "BILLING",
    "CASH",
    "CATALOG",
    "CONSENT_SIGNING",
    "DEVICE_PLATFORM",
    "DIRECT_DEBIT",
    "DOCUMENTS",
    "DOMAIN_EVENTS",
    "ERP",
    "ERP_SYNC",
    "EXCEPTIONS",
    "EXCHANGE",
    "FILE_INTAKE",
    "IDEMPOTENCY",
    "INVOICING",
    "MONTH_END_REVENUE",
    "NOTIFICATIONS",
    "NOTIFICATION_RECIPIENTS",
    "OVERDUE_FOLLOW_UP",
    "PRINT_VENDOR",
    "RECORDS",
    "RUNS",
    "SHIPPING_KITTING",
    "STRIPE",
]

TABLES: tuple[Table, ...] = (
    Table(
        name=RECORDS,
        purpose="The customer record: leads, accounts, contacts, deals, activity, "
        "and the normalized-key index items used for duplicate detection",
        partition_key="pk",
        sort_key="sk",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),
        holds_personal_data=True,
    ),
    Table(
        name=RUNS,
        purpose="The run ledger: one item per scheduled or file-triggered run, keyed by its "
        "business key, plus content fingerprints of dropped files",
        partition_key="pk",
        sort_key="sk",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"), Index("gsi2", "gsi2pk", "gsi2sk")),
    ),
    Table(
        name=CATALOG,
        purpose="The catalog: products, plans, options, effective-dated prices, campaigns",
        partition_key="pk",
        sort_key="sk",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),
    ),
    Table(
        name=BILLING,
        purpose="Billing: billing accounts (settings, contract components, what was billed), "
        "invoices, numbering counters, month-end revenue rows",
        partition_key="pk",
        sort_key="sk",
        # keys only: accounts by closing day, pending number claims, open invoices by
        # payment method and due date are found, then read by key; gsi4: an account's
        # invoices with what a list shows (the staff list reads them by key, the customer
        # portal lists the issued ones in one query); gsi3 (whole issued invoices) is what
        # gsi4 replaced
        indexes=(
            Index("gsi1", "gsi1pk", "gsi1sk", keys_only=True),
            Index("gsi2", "gsi2pk", "gsi2sk", keys_only=True),
            Index("gsi3", "gsi3pk", "gsi3sk", retired=True),
            Index("gsi4", "gsi4pk", "gsi4sk", include=INVOICE_LIST_FIELDS),
        ),
        holds_personal_data=True,
    ),
    Table(
        name=CASH,
        purpose="Cash: payments and their allocation to invoices, customer credit, webhook "
        "events received, settlement payouts, direct-debit requests",
        partition_key="pk",
        sort_key="sk",
        # keys only: an account's payments, a month's payouts
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk", keys_only=True),),
        holds_personal_data=True,
    ),
    Table(
        name=EXCEPTIONS,
        purpose="The exceptions queue: input no channel could apply by itself (a payment "
        "matching no invoice, a payout that does not add up), with the original input, until "
        "ops resolve or reject it",
        partition_key="pk",
        sort_key="sk",
        indexes=(Index("gsi1", "gsi1pk", "gsi1sk"),),  # by status, kind, time
        holds_personal_data=True,
    ),
    Table(
        name=IDEMPOTENCY,
        purpose="Powertools idempotency records",
        partition_key="id",
        ttl_attribute="expiration",
    ),
    Table(
        name=NOTIFICATIONS,
        purpose="Supplier and regulator notifications: one per supply fact, recipient and "
        "meter (written once: the fact's key is its id), with every delivery attempt",
        partition_key="pk",
        sort_key="sk",
        # by status, by meter (sparse), by recipient: each in time order (the search's filters
        # are key conditions, docs/notifications.md)
        indexes=(
            Index("gsi1", "gsi1pk", "gsi1sk"),
            Index("gsi2", "gsi2pk", "gsi2sk"),
            Index("gsi3", "gsi3pk", "gsi3sk"),
        ),
        holds_personal_data=True,
    ),
    Table(
        name=AUDIT,
        purpose="The audit trail: every domain event, per subject, in time order",
        partition_key="pk",
        sort_key="sk",
        holds_personal_data=True,
    ),
)

BUCKETS: tuple[Bucket, ...] = (
    Bucket(
        name=EXCHANGE,
        purpose="Files exchanged with partners: what they drop and what we write for them",
        prefixes=("inbox/", "archive/", "quarantine/", "outbox/"),
        # bank files (account holders, account numbers), warehouse files (ship-to names and
        # addresses), customer lists from partners
        holds_personal_data=True,
    ),
    Bucket(
        name=DOCUMENTS,
        purpose="Customer documents: the PDFs monosub issues (quotes, contracts, invoices), "
        "one object per version, never overwritten with other bytes; files staff upload "
        "(uploads/, checked after the upload; rejected ones moved to quarantine/) and files "
        "system channels attach (attached/)",
        prefixes=("quotes/", "contracts/", "invoices/", "uploads/", "quarantine/", "attached/"),
    ),
)

EVENT_BUSES: tuple[EventBus, ...] = (
    EventBus(name=DOMAIN_EVENTS, purpose="Domain events (LeadReceived, LeadConverted, ...)"),
)

GOOGLE_SIGN_IN = "google-sign-in"
FACEBOOK_SIGN_IN = "facebook-sign-in"

SECRETS: tuple[Secret, ...] = (
    Secret(
        name=CONSENT_SIGNING,
        purpose="HMAC-SHA256 key that signs consent links (customer agreement without a login)",
    ),
    Secret(
        name=DEVICE_PLATFORM,
        purpose="The device platform's base URL and API key, as JSON "
        '{"base_url": ..., "api_key": ...}: kitting pushes each shipped device\'s binding there',
        filled_by="ops",
    ),
    Secret(
        name=PRINT_VENDOR,
        purpose="The print-and-delivery vendor's SOAP endpoint and WS-Security user, as JSON "
        '{"endpoint": ..., "username": ..., "password": ...}: invoicing submits each '
        "month's invoices there to be printed, mailed and archived",
        filled_by="ops",
    ),
    Secret(
        name=NOTIFICATION_RECIPIENTS,
        purpose="Where supply notifications go, as JSON keyed by recipient id "
        "(monosub/data/notification_recipients.json): a REST recipient's "
        '{"base_url": ..., "hmac_key": ...} or {"base_url": ..., "api_key": ...}, a SOAP '
        'recipient\'s {"endpoint": ..., "username": ..., "password": ...}',
        filled_by="ops",
    ),
    Secret(
        name=ERP,
        purpose="The on-premises ERP's SOAP endpoint and WS-Security user, as JSON "
        '{"endpoint": ..., "username": ..., "password": ...}: the daily ERP sync pushes '
        "customers, contracts and meter readings there and reads invoice statuses back",
        filled_by="ops",
    ),
    Secret(
        name=STRIPE,
        purpose="Stripe's secret API key and the webhook endpoint's signing secret, as JSON "
        '{"api_key": "sk_...", "webhook_secret": "whsec_..."}: card payments and webhooks',
        filled_by="ops",
    ),
    Secret(
        name=BANK_SFTP,
        purpose="How direct-debit request files reach the bank, as JSON: "
        '{"mode": "connector", "connector_id": ..., "remote_directory": ...} (a Transfer '
        "Family SFTP connector) or an SFTP server's host, user, credentials and pinned host key",
        filled_by="ops",
    ),
    Secret(
        name=GOOGLE_SIGN_IN,
        purpose="The Google OAuth client secret of the customer sign-in (the whole secret "
        "string; the client id is the stage's context google_client_id); read by Cognito at "
        "deploy, no function",
        filled_by="ops",
    ),
    Secret(
        name=FACEBOOK_SIGN_IN,
        purpose="The Facebook app secret of the customer sign-in (the whole secret string; "
        "the app id is the stage's context facebook_app_id); read by Cognito at deploy",
        filled_by="ops",
    ),
    Secret(
        name=BANK_SFTP_LOGIN,
        purpose="The bank's SFTP user the Transfer Family connector signs in with, in "
        'Transfer\'s format {"Username": ..., "Password": ...} or with "PrivateKey" '
        "(read by the connector only, no function)",
        filled_by="ops",
    ),
)

STATE_MACHINES: tuple[StateMachine, ...] = (
    StateMachine(
        name=FILE_INTAKE,
        purpose="One dropped file: fingerprint, validate, apply whole or quarantine",
        definition="file-intake.asl.json",
    ),
    StateMachine(
        name=SHIPPING_KITTING,
        purpose="One shipment's devices from one warehouse file: push each binding to the "
        "device platform, mark the shipment shipped, start the contract, email the customer",
        definition="shipping-kitting.asl.json",
    ),
    StateMachine(
        name=MONTH_END_REVENUE,
        purpose="One closed month's revenue rows for every billing account (batches of "
        "accounts in a Distributed Map), then the month's revenue file",
        definition="month-end-revenue.asl.json",
        item_bucket=EXCHANGE,
    ),
    StateMachine(
        name=INVOICING,
        purpose="One closing date's invoices: drafted, finalized with gapless numbers, what "
        "was billed moved (batches of accounts in a Distributed Map)",
        definition="invoicing.asl.json",
        item_bucket=EXCHANGE,
    ),
    StateMachine(
        name=DIRECT_DEBIT,
        purpose="One debit date's 口座振替 request: the 全銀 file of the direct-debit invoices "
        "due that day, written once and sent to the bank's SFTP",
        definition="direct-debit.asl.json",
    ),
    StateMachine(
        name=OVERDUE_FOLLOW_UP,
        purpose="One day's overdue follow-up: the follow-up levels due for every open invoice "
        "(emails, tasks, suspensions), each once (batches of invoices in a Distributed Map)",
        definition="overdue-follow-up.asl.json",
        item_bucket=EXCHANGE,
    ),
    StateMachine(
        name=ERP_SYNC,
        purpose="One day's ERP sync: the pending outbox (customers, contracts, meter readings) "
        "pushed over SOAP in batches (a Distributed Map), then the ERP's invoice statuses read "
        "back and mismatches raised once",
        definition="erp-sync.asl.json",
        item_bucket=EXCHANGE,
    ),
)


def table(name: str) -> Table:
    return next(t for t in TABLES if t.name == name)


def bucket(name: str) -> Bucket:
    return next(b for b in BUCKETS if b.name == name)
