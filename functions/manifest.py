"""THE declaration of every Lambda function: handler, triggers, resources it uses, limits.

The CDK app builds functions, routes, notifications, rules and grants from this list; the
embedded runtime registers and invokes the same handlers with the same environments.
"""

from __future__ import annotations

from functions.declarations import (
    DEFAULT_BUS,
    Access,
    Api,
    EventRule,
    Function,
    ObjectCreated,
    Route,
    Schedule,
    SignInTrigger,
    StateMachineTask,
)
from functions.resources import (
    AUDIT,
    BANK_SFTP,
    BILLING,
    CASH,
    CATALOG,
    CONSENT_SIGNING,
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
    NOTIFICATION_RECIPIENTS,
    NOTIFICATIONS,
    OVERDUE_FOLLOW_UP,
    PRINT_VENDOR,
    RECORDS,
    RUNS,
    SHIPPING_KITTING,
    STRIPE,
)
from monosub import auth
from monosub.names import DOCUMENT_RENDERER

R, W, RW = Access.READ, Access.WRITE, Access.READ_WRITE

# Who may call a staff route (403 for anyone else), here and nowhere else. A route names no
# groups: monosub's own staff (every staff group but agency). What a caller allowed on a
# route then sees is decided by monosub.access, in the data layer.
STAFF = auth.STAFF_GROUPS  # agencies too: they see only their own records
AGENCIES = frozenset({auth.AGENCY})
OPS = frozenset({auth.OPS})
OPS_AND_SALES = frozenset({auth.OPS, auth.SALES})
CATALOG_MANAGERS = frozenset({auth.OPS, auth.REGIONAL_MANAGER, auth.CORPORATE_MANAGER})
SALES_TEAM = frozenset({auth.SALES, auth.REGIONAL_MANAGER, auth.CORPORATE_MANAGER})
OPS_AND_SALES_TEAM = SALES_TEAM | OPS
MANAGERS_AND_OPS = frozenset({auth.REGIONAL_MANAGER, auth.CORPORATE_MANAGER, auth.OPS})
REGION_VIEW = frozenset({auth.REGIONAL_MANAGER, auth.OPS})
# The customer portal: customer users only (their own account; staff are refused).
CUSTOMERS = frozenset({auth.CUSTOMER})

# One block per area (each has its router in functions/api/<area>.py).
CORE_ROUTES: tuple[Route, ...] = (
    Route("GET", "/openapi.json", auth="public"),
    Route("GET", "/runs"),
    Route("GET", "/runs/{run_id}"),
    Route("POST", "/runs/{run_id}/retry"),  # ops only: re-drive a failed run's execution
)
LEADS_ROUTES: tuple[Route, ...] = (
    Route("POST", "/leads", auth="public"),
    Route("GET", "/leads"),
    Route("GET", "/leads/{lead_id}"),
    Route("POST", "/leads/{lead_id}/convert"),
    Route("GET", "/accounts/export", groups=STAFF),  # CSV of the accounts the caller sees
    Route("GET", "/accounts/{account_id}", groups=STAFF),
)
CATALOG_ROUTES: tuple[Route, ...] = (
    Route("GET", "/catalog/products", groups=STAFF),
    Route("GET", "/catalog/products/{sku}", groups=STAFF),
    Route("POST", "/catalog/products", groups=CATALOG_MANAGERS),
    Route("POST", "/catalog/products/{sku}/prices", groups=CATALOG_MANAGERS),
    Route("POST", "/catalog/products/{sku}/retire", groups=CATALOG_MANAGERS),
    Route("GET", "/campaigns", groups=STAFF),
    Route("POST", "/campaigns", groups=CATALOG_MANAGERS),
    Route("POST", "/prices/preview", groups=STAFF),
)
DEALS_ROUTES: tuple[Route, ...] = (
    Route("POST", "/accounts/{account_id}/deals", groups=STAFF),
    Route("GET", "/deals", groups=STAFF),
    Route("GET", "/deals/{deal_id}", groups=STAFF),
    Route("PATCH", "/deals/{deal_id}", groups=STAFF),
    Route("POST", "/deals/{deal_id}/stage", groups=STAFF),
)
AGENCY_ROUTES: tuple[Route, ...] = (
    # the agency channel: an agency user, for its own agency (from its sign-in)
    Route("POST", "/agency/registrations", groups=AGENCIES),
    Route("GET", "/agency/registrations", groups=AGENCIES),
    Route("GET", "/agency/performance", groups=AGENCIES),
    # agencies as data: ops keeps them; staff read them (an agency its own)
    Route("PUT", "/agencies/{agency_id}", groups=OPS),
    Route("GET", "/agencies/{agency_id}", groups=STAFF),
    Route("GET", "/agencies/{agency_id}/performance", groups=OPS_AND_SALES),
    # a region's agencies: its regional manager (custom:region), ops naming the region
    Route("GET", "/region/registrations", groups=REGION_VIEW),
    Route("GET", "/region/performance", groups=REGION_VIEW),
)
QUOTES_ROUTES: tuple[Route, ...] = (
    Route("POST", "/deals/{deal_id}/quotes"),
    Route("GET", "/quotes/{quote_id}"),
    Route("GET", "/quotes/{quote_id}/versions"),
    Route("GET", "/quotes/{quote_id}/pdf"),
    Route("POST", "/quotes/{quote_id}/revise"),
    Route("POST", "/quotes/{quote_id}/approve"),
    Route("POST", "/quotes/{quote_id}/send"),
)

CONTRACTS_ROUTES: tuple[Route, ...] = (
    Route("GET", "/contracts"),
    Route("GET", "/contracts/expiring"),  # the expiring-contracts dashboard
    Route("GET", "/contracts/export"),  # CSV of the contracts the caller sees
    Route("GET", "/contracts/{contract_id}"),
    Route("POST", "/contracts/{contract_id}/notice"),
    Route("POST", "/contracts/{contract_id}/cancel", groups=MANAGERS_AND_OPS),  # before start
)

CONSENT_ROUTES: tuple[Route, ...] = (
    Route("GET", "/consent/{token}", auth="public"),  # the page a customer's link opens
    Route("POST", "/consent/{token}", auth="public"),  # 同意する / 同意しない
    Route("GET", "/consents", groups=STAFF),  # pending (or expired) ones, with their age
    Route("GET", "/consents/{consent_id}"),
)

FULFILMENT_ROUTES: tuple[Route, ...] = (
    Route("GET", "/shipments"),
    Route("GET", "/shipments/{shipment_id}"),
    Route("POST", "/shipments/{shipment_id}/installation-complete", groups=OPS_AND_SALES_TEAM),
    # a device of an active contract replaced, free of charge: a shipment of its own kind
    Route("POST", "/contracts/{contract_id}/device-replacements", groups=OPS_AND_SALES_TEAM),
    Route("GET", "/contracts/{contract_id}/device-replacements", groups=OPS_AND_SALES_TEAM),
    Route(
        "GET",
        "/contracts/{contract_id}/device-replacements/{replacement_id}",
        groups=OPS_AND_SALES_TEAM,
    ),
)

DEVICES_ROUTES: tuple[Route, ...] = (
    # the rental device stock: ops keep it, sales read it (which devices are free)
    Route("GET", "/devices", groups=OPS_AND_SALES),
    Route("GET", "/devices/{serial}", groups=OPS_AND_SALES),
    Route("POST", "/devices", groups=OPS),  # stock in
    Route("POST", "/devices/{serial}/moves", groups=OPS),
    Route("POST", "/devices/{serial}/return", groups=OPS),  # unbinds it on the device platform
)

SIGNUP_ROUTES: tuple[Route, ...] = (
    # the sales team takes a customer's order on the phone: customer, deal, quote, 契約書
    Route("POST", "/phone-signups", groups=SALES_TEAM),
)

ORDER_ROUTES: tuple[Route, ...] = (
    # the web shop's system (client credentials): a paid order becomes deal and contract
    Route("POST", "/orders", auth="machine", groups=frozenset(), scopes=(auth.ORDERS_WRITE,)),
)

BILLING_ROUTES: tuple[Route, ...] = (
    Route("GET", "/billing-accounts/{account_id}"),
    Route("PATCH", "/billing-accounts/{account_id}", groups=MANAGERS_AND_OPS),
    Route("GET", "/invoices"),
    Route("GET", "/invoices/{invoice_id}"),
    Route("GET", "/invoices/{invoice_id}/pdf"),
    Route("POST", "/invoices/{invoice_id}/finalize", groups=OPS),
    Route("POST", "/invoices/{invoice_id}/void", groups=OPS),  # with a credit note
    Route("POST", "/contracts/{contract_id}/changes", groups=OPS_AND_SALES_TEAM),  # mid-term
)

OVERDUE_ROUTES: tuple[Route, ...] = (
    Route("GET", "/overdue", groups=OPS_AND_SALES_TEAM),  # JSON, or CSV with ?format=csv
    Route("GET", "/overdue/page", groups=OPS_AND_SALES_TEAM),  # the list as an HTML page
)

CASH_ROUTES: tuple[Route, ...] = (
    Route("GET", "/billing-accounts/{account_id}/payments"),
    Route("POST", "/invoices/{invoice_id}/card-payment", groups=OPS_AND_SALES),
    Route("GET", "/card-payouts", groups=OPS),
    Route("GET", "/exceptions", groups=OPS),
    Route("GET", "/exceptions/{exception_id}", groups=OPS),
    Route("POST", "/exceptions/{exception_id}/resolve", groups=OPS),
)

TASK_ROUTES: tuple[Route, ...] = (
    # a rep's own tasks; ops and managers anyone's (monosub.domain.tasks decides whose)
    Route("GET", "/tasks", groups=OPS_AND_SALES_TEAM),
    Route("PATCH", "/tasks/{task_id}", groups=OPS_AND_SALES_TEAM),
)

DOCUMENT_ROUTES: tuple[Route, ...] = (
    # customer documents in S3: uploaded through a presigned POST, downloaded through a
    # presigned GET; a record the caller may not see is 404 (agencies: their own records)
    Route("POST", "/documents", groups=STAFF),
    Route("GET", "/documents/{document_id}", groups=STAFF),
    Route("GET", "/accounts/{account_id}/documents", groups=STAFF),
    Route("GET", "/deals/{deal_id}/documents", groups=STAFF),
    Route("GET", "/contracts/{contract_id}/documents", groups=STAFF),
)

PORTAL_ROUTES: tuple[Route, ...] = (
    # the caller's own account (custom:account_id), never one named in the request
    Route("GET", "/me/invoices", groups=CUSTOMERS),  # 36 months, presigned PDF links
    Route("GET", "/me/consumption", groups=CUSTOMERS),  # per month per service, for charts
    Route("POST", "/me/invoices/{invoice_id}/card-payment", groups=CUSTOMERS),
    Route("GET", "/me/payment-method", groups=CUSTOMERS),
    Route("PUT", "/me/payment-method", groups=CUSTOMERS),  # from the next invoice
    Route("POST", "/me/meter-readings", groups=CUSTOMERS),
    Route("POST", "/me/inquiries", groups=CUSTOMERS),
    Route("GET", "/me/inquiries", groups=CUSTOMERS),
)

INQUIRY_ROUTES: tuple[Route, ...] = (
    # customers' billing inquiries as cases, with their due dates by the handling rules
    Route("GET", "/inquiries", groups=OPS_AND_SALES),
    Route("POST", "/inquiries/{inquiry_id}/answer", groups=OPS_AND_SALES),
)

API_ROUTES: tuple[Route, ...] = CORE_ROUTES + LEADS_ROUTES + CATALOG_ROUTES + DEALS_ROUTES
API_ROUTES += QUOTES_ROUTES + CONSENT_ROUTES + CONTRACTS_ROUTES + AGENCY_ROUTES + SIGNUP_ROUTES
API_ROUTES += FULFILMENT_ROUTES + DEVICES_ROUTES + BILLING_ROUTES + CASH_ROUTES
API_ROUTES += OVERDUE_ROUTES
API_ROUTES += TASK_ROUTES
API_ROUTES += ORDER_ROUTES
API_ROUTES += DOCUMENT_ROUTES
API_ROUTES += PORTAL_ROUTES + INQUIRY_ROUTES

NOTIFICATION_ROUTES: tuple[Route, ...] = (
    # the log of supplier and regulator notifications (an undelivered one is retried through
    # the exceptions queue)
    Route("GET", "/notifications", groups=OPS),
    Route("GET", "/notifications/{notification_id}", groups=OPS),
)
API_ROUTES += NOTIFICATION_ROUTES


def _intake_task(
    name: str,
    handler: str,
    placeholder: str,
    description: str,
    *,
    starts: tuple[str, ...] = (),
    signs_up: bool = False,
) -> Function:
    """A task of the file-intake state machine; every kind's processor runs inside these.
    ``signs_up``: applying an application form prices its quote (the renderer makes the
    PDFs) and emails the consent link."""
    return Function(
        name=name,
        handler=f"functions.tasks.intake.{handler}",
        description=f"File intake: {description}",
        triggers=(StateMachineTask(FILE_INTAKE, placeholder),),
        # catalog: price-book, campaigns; billing: usage-readings; cash: settlement,
        # debit results, bank statements
        tables={RUNS: RW, RECORDS: RW, CATALOG: RW, BILLING: RW, CASH: RW, EXCEPTIONS: RW},
        # documents: an application form kept with the customer it made
        buckets={EXCHANGE: RW, **({DOCUMENTS: RW} if signs_up else {})},
        publishes_to=(DOMAIN_EVENTS,),
        starts=starts,
        invokes=(DOCUMENT_RENDERER,) if signs_up else (),
        secrets=(CONSENT_SIGNING,) if signs_up else (),
        sends_email=signs_up,
        timeout_seconds=300,
        memory_mb=1024,
    )


def _kitting_task(
    name: str,
    handler: str,
    placeholder: str,
    description: str,
    *,
    secrets: tuple[str, ...] = (),
    sends_email: bool = False,
    timeout_seconds: int = 60,
) -> Function:
    """A task of the shipping/kitting state machine."""
    return Function(
        name=name,
        handler=f"functions.tasks.kitting.{handler}",
        description=f"Shipping/kitting: {description}",
        triggers=(StateMachineTask(SHIPPING_KITTING, placeholder),),
        tables={RUNS: RW, RECORDS: RW},
        publishes_to=(DOMAIN_EVENTS,),
        secrets=secrets,
        sends_email=sends_email,
        timeout_seconds=timeout_seconds,
    )


def _billing_task(
    name: str,
    handler: str,
    machine: str,
    placeholder: str,
    description: str,
    *,
    timeout_seconds: int = 300,
    memory_mb: int = 1024,
    cash: bool = False,
) -> Function:
    """A task of the month-end revenue or invoicing state machine: batches of accounts from
    S3, rows and invoices into the billing table (``cash``: customer credit applied too)."""
    return Function(
        name=name,
        handler=f"functions.tasks.billing.{handler}",
        description=description,
        triggers=(StateMachineTask(machine, placeholder),),
        tables={RUNS: RW, BILLING: RW, **({CASH: RW} if cash else {})},
        publishes_to=(DOMAIN_EVENTS,) if cash else (),  # InvoicePaid by credit
        buckets={EXCHANGE: RW},
        timeout_seconds=timeout_seconds,
        memory_mb=memory_mb,
    )


NOTIFICATION_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="notifications",
        handler="functions.events.notifications.handler",
        description="Supply facts (start, device change, suspension, end) told to suppliers "
        "and the regulator, once per recipient and meter; hourly, the retries that are due",
        triggers=(
            EventRule(
                rule="notifications-supply-facts",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.",
                detail_types=(
                    "ContractStarted",
                    "ContractEnded",
                    "DeviceReturned",
                    "DeviceReplaced",
                    "DevicesSuspended",
                ),
                description="Contracts started or ended, devices returned, replaced or suspended",
            ),
            Schedule(
                rule="notifications-retry-hourly",
                expression="cron(35 * * * ? *)",
                description="Notifications whose next delivery attempt is due",
            ),
        ),
        # contracts, shipments' serials; catalog: metered products; billing: readings
        tables={NOTIFICATIONS: RW, RECORDS: R, CATALOG: R, BILLING: R, EXCEPTIONS: RW},
        publishes_to=(DOMAIN_EVENTS,),  # ExceptionRaised
        secrets=(NOTIFICATION_RECIPIENTS,),
        timeout_seconds=120,
    ),
)


BILLING_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="billing-contracts",
        handler="functions.events.billing.handler",
        description="Contract events: billing starts on the ship/install date, a renewal's "
        "items are billed from its first day, an ended contract stops billing; a returned "
        "rental device bills its line one fewer",
        triggers=(
            EventRule(
                rule="billing-contract-events",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.contracts",
                detail_types=("ContractStarted", "ContractRenewed", "ContractEnded"),
                description="Contracts that start, renew or end",
            ),
            EventRule(
                rule="billing-device-returns",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.fulfilment",
                detail_types=("DeviceReturned",),
                description="Rental devices returned: their line is billed one fewer",
            ),
        ),
        tables={RECORDS: R, BILLING: RW, CATALOG: R},  # catalog: usage prices
    ),
    Function(
        name="month-end-revenue",
        handler="functions.schedules.billing.month_end_handler",
        description="Daily: the month-end revenue run of each month closed since the last "
        "one that ran (on the 1st, last month; other days nothing, unless the 1st was missed)",
        triggers=(
            Schedule(
                # Daily rather than monthly: a missed 1st is caught up the next day, and a
                # daily schedule can be alarmed (CloudWatch watches at most 7 days).
                rule="month-end-revenue-daily",
                expression="cron(0 16 * * ? *)",  # 01:00 in Tokyo
                description="Month-end revenue of the month that just closed",
            ),
        ),
        tables={RUNS: RW},
        starts=(MONTH_END_REVENUE,),
    ),
    Function(
        name="invoicing",
        handler="functions.schedules.billing.invoicing_handler",
        description="Daily: the invoicing run of each closing date up to yesterday not run yet",
        triggers=(
            Schedule(
                rule="invoicing-daily",
                expression="cron(0 17 * * ? *)",  # 02:00 in Tokyo
                description="Invoices of the billing accounts whose closing day was yesterday",
            ),
        ),
        tables={RUNS: RW, BILLING: R},  # which closing dates anyone closes on
        starts=(INVOICING,),
    ),
    _billing_task(
        "month-end-prepare",
        "prepare_month_end_handler",
        MONTH_END_REVENUE,
        "PrepareMonthEndFunctionArn",
        "Month-end revenue: every billing account in batches",
    ),
    _billing_task(
        "month-end-batch",
        "month_end_batch_handler",
        MONTH_END_REVENUE,
        "MonthEndBatchFunctionArn",
        "Month-end revenue: one batch's rows",
    ),
    _billing_task(
        "month-end-finish",
        "finish_month_end_handler",
        MONTH_END_REVENUE,
        "FinishMonthEndFunctionArn",
        "Month-end revenue: the revenue file and the run's totals",
    ),
    _billing_task(
        "invoicing-prepare",
        "prepare_invoicing_handler",
        INVOICING,
        "PrepareInvoicingFunctionArn",
        "Invoicing: the accounts closing on the date, in batches",
    ),
    _billing_task(
        "invoicing-batch",
        "invoice_batch_handler",
        INVOICING,
        "InvoiceBatchFunctionArn",
        "Invoicing: one batch's invoices drafted, finalized and numbered, customer credit "
        "(前受金) applied",
        timeout_seconds=900,
        cash=True,
    ),
    Function(
        name="invoicing-deliver",
        handler="functions.tasks.billing.deliver_invoices_handler",
        description="Invoicing: one batch's invoices rendered (PDF) and delivered by email or "
        "through the print vendor (SOAP)",
        triggers=(StateMachineTask(INVOICING, "DeliverInvoicesFunctionArn"),),
        tables={RUNS: RW, BILLING: RW},
        buckets={EXCHANGE: R, DOCUMENTS: R},  # the batch's result; the PDFs for the vendor
        invokes=(DOCUMENT_RENDERER,),
        sends_email=True,
        secrets=(PRINT_VENDOR,),
        timeout_seconds=900,
        memory_mb=1024,
    ),
    _billing_task(
        "invoicing-finish",
        "finish_invoicing_handler",
        INVOICING,
        "FinishInvoicingFunctionArn",
        "Invoicing: the closing's totals and failures; a number claim no batch came back for "
        "written, its credit applied and ledgers moved",
        cash=True,
    ),
)


CASH_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="stripe-webhook",
        handler="functions.webhooks.stripe.handler",
        description="Stripe's webhook: the signature checked on the raw body first, each "
        "event applied once to monosub invoices (payments, refunds, disputes, failures)",
        triggers=(Api((Route("POST", "/webhooks/stripe", auth="public"),)),),
        tables={BILLING: RW, CASH: RW, EXCEPTIONS: RW},
        publishes_to=(DOMAIN_EVENTS,),
        secrets=(STRIPE,),
        timeout_seconds=20,
    ),
    Function(
        name="direct-debit",
        handler="functions.schedules.cash.direct_debit_handler",
        description="Daily: a direct-debit run for each coming debit date whose request file "
        "is due at the bank",
        triggers=(
            Schedule(
                rule="direct-debit-daily",
                expression="cron(0 18 * * ? *)",  # 03:00 in Tokyo
                description="口座振替 request files due at the bank",
            ),
        ),
        tables={RUNS: RW, BILLING: R},  # open direct-debit invoices by due date
        starts=(DIRECT_DEBIT,),
    ),
    Function(
        name="direct-debit-prepare",
        handler="functions.tasks.cash.prepare_debit_handler",
        description="Direct debit: the request file of a debit date, written once",
        triggers=(StateMachineTask(DIRECT_DEBIT, "PrepareDebitFunctionArn"),),
        tables={RUNS: RW, BILLING: R, CASH: RW, EXCEPTIONS: RW},
        buckets={EXCHANGE: RW},
        publishes_to=(DOMAIN_EVENTS,),
        timeout_seconds=300,
        memory_mb=1024,
    ),
    Function(
        name="direct-debit-deliver",
        handler="functions.tasks.cash.deliver_debit_handler",
        description="Direct debit: the request file sent to the bank's SFTP",
        triggers=(StateMachineTask(DIRECT_DEBIT, "DeliverDebitFunctionArn"),),
        tables={RUNS: RW, CASH: RW},
        buckets={EXCHANGE: R},
        publishes_to=(DOMAIN_EVENTS,),
        secrets=(BANK_SFTP,),
        timeout_seconds=300,
    ),
    Function(
        name="direct-debit-finish",
        handler="functions.tasks.cash.finish_debit_handler",
        description="Direct debit: the run's totals",
        triggers=(StateMachineTask(DIRECT_DEBIT, "FinishDebitFunctionArn"),),
        tables={RUNS: RW},
    ),
)


def _overdue_task(name: str, handler: str, placeholder: str, description: str) -> Function:
    return Function(
        name=name,
        handler=f"functions.tasks.overdue.{handler}",
        description=f"Overdue follow-up: {description}",
        triggers=(StateMachineTask(OVERDUE_FOLLOW_UP, placeholder),),
        # invoices and accounts; follow-up state; contracts (deal, rep) and tasks; shipments
        tables={RUNS: RW, BILLING: R, CASH: RW, RECORDS: RW},
        buckets={EXCHANGE: RW, DOCUMENTS: R},  # the invoices' PDFs, attached to notices
        publishes_to=(DOMAIN_EVENTS,),
        sends_email=True,
        secrets=(DEVICE_PLATFORM,),
        timeout_seconds=900,
        memory_mb=1024,
    )


OVERDUE_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="overdue-follow-up",
        handler="functions.schedules.overdue.handler",
        description="Daily: today's overdue follow-up run",
        triggers=(
            Schedule(
                rule="overdue-follow-up-daily",
                expression="cron(0 0 * * ? *)",  # 09:00 in Tokyo
                description="Reminders, notices, tasks and suspensions of the day",
            ),
        ),
        tables={RUNS: RW},
        starts=(OVERDUE_FOLLOW_UP,),
    ),
    _overdue_task(
        "overdue-prepare",
        "prepare_handler",
        "PrepareFollowUpFunctionArn",
        "the open invoices due, in batches",
    ),
    _overdue_task(
        "overdue-batch", "batch_handler", "FollowUpBatchFunctionArn", "one batch's levels fired"
    ),
    _overdue_task(
        "overdue-finish",
        "finish_handler",
        "FinishFollowUpFunctionArn",
        "the day's totals and failures",
    ),
    Function(
        name="overdue-resume",
        handler="functions.events.overdue.handler",
        description="A paid invoice: resume the customer's suspended devices once nothing is "
        "past due",
        triggers=(
            EventRule(
                rule="overdue-resume-on-payment",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.cash",
                detail_types=("InvoicePaid",),
                description="Invoices paid: suspended customers may be resumed",
            ),
        ),
        tables={BILLING: R, CASH: RW},
        publishes_to=(DOMAIN_EVENTS,),
        secrets=(DEVICE_PLATFORM,),
    ),
)


ERP_FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="erp-outbox",
        handler="functions.events.erp.handler",
        description="Domain events → the ERP outbox: a customer's or contract's record staged "
        "once per (entity, version); paid or reopened invoices watched for the ERP's status",
        triggers=(
            EventRule(
                rule="erp-outbox",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.",
                detail_types=(
                    "CustomerSignedUp",
                    "CustomerRegistered",
                    "LeadConverted",
                    "ContractCreated",
                    "ContractStarted",
                    "ContractRenewed",
                    "ContractEnded",
                    "ContractCancelled",
                    "ContractChanged",
                    "UsageReadingsStored",
                    "InvoicePaid",
                    "InvoiceReopened",
                ),
                description="What the ERP is to be told of: customers, contracts, readings, "
                "invoices whose payment changed",
            ),
        ),
        tables={RECORDS: RW, BILLING: R},  # the outbox in records; billing accounts read
    ),
    Function(
        name="erp-sync",
        handler="functions.schedules.erp.handler",
        description="Daily: today's ERP sync run (push the outbox, pull invoice statuses)",
        triggers=(
            Schedule(
                rule="erp-sync-daily",
                expression="cron(0 19 * * ? *)",  # 04:00 in Tokyo
                description="The ERP sync of the day",
            ),
        ),
        tables={RUNS: RW, RECORDS: R},  # whether anything waits (else no run that day)
        starts=(ERP_SYNC,),
    ),
    Function(
        name="erp-sync-step",
        handler="functions.tasks.erp.handler",
        description="ERP sync: every step of the state machine (Prepare, PushBatch, "
        "PullStatus, Finish), by the state's step field",
        triggers=(StateMachineTask(ERP_SYNC, "ErpSyncFunctionArn"),),
        # outbox, watch list and ERP statuses (records); invoices and billing accounts
        # (billing); refused records and mismatches (exceptions); the run (runs)
        tables={RECORDS: RW, BILLING: R, RUNS: RW, EXCEPTIONS: RW},
        buckets={EXCHANGE: RW},  # batches and results under runs/erp-sync/
        publishes_to=(DOMAIN_EVENTS,),  # ExceptionRaised
        secrets=(ERP,),
        timeout_seconds=300,
    ),
)


FUNCTIONS: tuple[Function, ...] = (
    Function(
        name="api",
        handler="functions.api.app.handler",
        description="The HTTP API (API Gateway REST proxy): leads, accounts, runs",
        triggers=(Api(API_ROUTES),),
        tables={
            RECORDS: RW,
            RUNS: R,
            IDEMPOTENCY: RW,
            CATALOG: RW,
            BILLING: RW,
            CASH: RW,
            EXCEPTIONS: RW,
            NOTIFICATIONS: RW,  # the notification log; ops' retry of an undelivered one
        },
        publishes_to=(DOMAIN_EVENTS,),
        sends_email=True,
        # consent links; returned rental devices; card payment links; notification retries;
        # a void's credit note printed for a paper customer
        secrets=(CONSENT_SIGNING, DEVICE_PLATFORM, STRIPE, NOTIFICATION_RECIPIENTS, PRINT_VENDOR),
        # documents: issued PDFs and uploads, for download; exchange: an application form
        # retried by ops is read from the intake's archive
        buckets={DOCUMENTS: R, EXCHANGE: R},
        # presigned POSTs are signed with this role: it may put what it lets a client upload,
        # under uploads/ only (the PDFs monosub issues are the renderer's to write)
        uploads_to={DOCUMENTS: "uploads/"},
        invokes=(DOCUMENT_RENDERER,),  # quote PDFs
        # POST /runs/{run_id}/retry: every workflow whose runs are executions
        redrives=(
            FILE_INTAKE,
            SHIPPING_KITTING,
            MONTH_END_REVENUE,
            INVOICING,
            DIRECT_DEBIT,
            OVERDUE_FOLLOW_UP,
            ERP_SYNC,
        ),
        timeout_seconds=29,
    ),
    Function(
        name="sign-in-groups",
        handler="functions.auth.pre_token.handler",
        description="Cognito, before it issues tokens: monosub's roles from the directory's "
        "groups (SAML), the customer role for Google and Facebook sign-ins",
        triggers=(SignInTrigger(),),
        timeout_seconds=5,  # Cognito waits at most 5 seconds for a trigger
        memory_mb=256,
    ),
    Function(
        name=DOCUMENT_RENDERER,
        handler="functions.documents.render.handler",
        description="Renders a quote or contract as PDF (WeasyPrint) into the documents bucket",
        triggers=(),  # invoked synchronously by the functions that declare `invokes`
        buckets={DOCUMENTS: W},
        image="document-renderer",  # Pango: a container image, not zip + layers
        timeout_seconds=60,
        memory_mb=1024,
    ),
    Function(
        name="file-dropped",
        handler="functions.files.dropped.handler",
        description="A partner dropped a file under inbox/: open its run, start file intake",
        triggers=(ObjectCreated(bucket=EXCHANGE, prefix="inbox/"),),
        tables={RUNS: RW},
        buckets={EXCHANGE: RW},  # removes re-drops of finished files from inbox/
        starts=(FILE_INTAKE,),
    ),
    Function(
        name="document-uploaded",
        handler="functions.files.document_uploaded.handler",
        description="A customer document was uploaded under uploads/: check its bytes (type, "
        "size, nothing executable), store it or reject it into quarantine/, once",
        triggers=(ObjectCreated(bucket=DOCUMENTS, prefix="uploads/"),),
        tables={RECORDS: RW},
        buckets={DOCUMENTS: RW},  # reads the upload; moves a rejected one to quarantine/
        publishes_to=(DOMAIN_EVENTS,),  # DocumentStored / DocumentRejected
        timeout_seconds=60,
        memory_mb=1024,  # up to 30 MiB read and hashed; CPU grows with memory
    ),
    Function(
        name="intake-sweep",
        handler="functions.files.sweep.handler",
        description="Hourly: start intake for any file under inbox/ that has no run "
        "(a lost notification) and report runs stuck for over an hour",
        triggers=(
            Schedule(
                rule="intake-sweep-hourly",
                expression="cron(5 * * * ? *)",
                description="Hourly catch-up of dropped files that were not picked up",
            ),
        ),
        tables={RUNS: RW},
        buckets={EXCHANGE: RW},  # removes re-drops of finished files from inbox/
        starts=(FILE_INTAKE,),
        timeout_seconds=120,
    ),
    _intake_task(
        "intake-inspect",
        "inspect_handler",
        "InspectFunctionArn",
        "fingerprint the file, check its kind, parse and validate every row",
    ),
    _intake_task(
        "intake-apply",
        "apply_handler",
        "ApplyFunctionArn",
        "apply the validated batch through the kind's processor",
        starts=(SHIPPING_KITTING,),  # warehouse-shipments: each shipment's kitting run
        signs_up=True,  # application-form: the quote, its 契約書 and the consent email
    ),
    _intake_task(
        "intake-complete",
        "complete_handler",
        "CompleteFunctionArn",
        "archive the file and close the run as succeeded",
    ),
    _intake_task(
        "intake-quarantine",
        "quarantine_handler",
        "QuarantineFunctionArn",
        "move the file to quarantine/ with its error report; close the run as quarantined",
    ),
    _kitting_task(
        "kitting-prepare",
        "prepare_handler",
        "PrepareFunctionArn",
        "the serials of a warehouse file's devices still to push",
    ),
    _kitting_task(
        "kitting-device",
        "device_handler",
        "KitDeviceFunctionArn",
        "push one serial's binding to the device platform",
        secrets=(DEVICE_PLATFORM,),
        timeout_seconds=30,
    ),
    _kitting_task(
        "kitting-complete",
        "complete_handler",
        "CompleteShipmentFunctionArn",
        "mark the shipment shipped and start the contract on the ship date",
    ),
    _kitting_task(
        "kitting-notify",
        "notify_handler",
        "NotifyCustomerFunctionArn",
        "email the customer the serials and tracking numbers",
        sends_email=True,
    ),
    Function(
        name="fulfilment-orders",
        handler="functions.events.fulfilment.handler",
        description="OrderConfirmed makes the order's shipment; ContractCancelled cancels "
        "one the warehouse was not told of",
        triggers=(
            EventRule(
                rule="fulfilment-orders",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.",
                detail_types=("OrderConfirmed", "ContractCancelled"),
                description="Confirmed orders and cancelled contracts",
            ),
        ),
        tables={RECORDS: RW, CATALOG: R},
        publishes_to=(DOMAIN_EVENTS,),
    ),
    Function(
        name="warehouse-instructions",
        handler="functions.schedules.warehouse.handler",
        description="Daily: the warehouse's shipping-instruction file for the shipments due, "
        "each shipment once",
        triggers=(
            Schedule(
                rule="warehouse-instructions-daily",
                expression="cron(0 6 * * ? *)",  # 15:00 in Tokyo
                description="Daily shipping instructions for the warehouse",
            ),
        ),
        tables={RECORDS: RW, RUNS: RW},
        buckets={EXCHANGE: RW},
        publishes_to=(DOMAIN_EVENTS,),
        timeout_seconds=300,
    ),
    Function(
        name="quote-answers",
        handler="functions.events.quote_answers.handler",
        description="A customer agreed to or declined a quote: accept it, win the deal, "
        "make the contract, publish OrderConfirmed (or record the decline)",
        triggers=(
            EventRule(
                rule="quote-consent-answers",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.consent",
                description="Consent answers (the function acts on quotes' only)",
            ),
        ),
        tables={RECORDS: RW, CATALOG: R},
        buckets={DOCUMENTS: R},
        publishes_to=(DOMAIN_EVENTS,),
        invokes=(DOCUMENT_RENDERER,),  # the contract PDF
        timeout_seconds=60,
    ),
    Function(
        name="renewal-quotes",
        handler="functions.events.renewal_quotes.handler",
        description="RenewalQuoteDue: price the contract's next term as a renewal quote "
        "(a draft for the rep to send), once per term",
        triggers=(
            EventRule(
                rule="renewal-quotes-due",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.contracts",
                detail_types=("RenewalQuoteDue",),
                description="A contract's renewal quote is due",
            ),
        ),
        tables={RECORDS: RW, CATALOG: R},
        publishes_to=(DOMAIN_EVENTS,),
        invokes=(DOCUMENT_RENDERER,),  # the quote PDF
        timeout_seconds=60,
    ),
    Function(
        name="contract-renewals",
        handler="functions.schedules.renewals.handler",
        description="Daily: end the contracts whose term is over without renewal, renew the "
        "others automatically, then RenewalQuoteDue for each auto-renewing contract whose "
        "notice date is near, once per contract term",
        triggers=(
            Schedule(
                rule="contract-renewals-daily",
                expression="cron(0 21 * * ? *)",  # 06:00 in Tokyo
                description="Daily: terms that are over, and the renewal quotes that fall due",
            ),
        ),
        tables={RECORDS: RW, RUNS: RW},
        publishes_to=(DOMAIN_EVENTS,),
        timeout_seconds=300,
    ),
    Function(
        name="consent-follow-up",
        handler="functions.schedules.consents.handler",
        description="Daily: remind the recipients of unanswered consents (once per level, "
        "the same link); those unanswered for too long expire and go to the exceptions queue",
        triggers=(
            Schedule(
                rule="consent-follow-up-daily",
                # 08:30 in Tokyo: in the inbox when offices open; no other schedule fires
                # then (the embedded runtime cannot order two rules firing at one instant)
                expression="cron(30 23 * * ? *)",
                description="Reminders and expiries of unanswered consent links",
            ),
        ),
        tables={RECORDS: RW, EXCEPTIONS: RW},
        publishes_to=(DOMAIN_EVENTS,),
        sends_email=True,
        secrets=(CONSENT_SIGNING,),  # the same link, re-derived
        timeout_seconds=300,
    ),
    Function(
        name="event-journal",
        handler="functions.events.journal.handler",
        description="Writes every domain event into the audit trail",
        triggers=(
            EventRule(
                rule="journal-all-domain-events",
                bus=DOMAIN_EVENTS,
                source_prefix="monosub.",
                description="Every monosub domain event goes to the audit trail",
            ),
        ),
        tables={AUDIT: W},
    ),
    Function(
        name="execution-redriven",
        handler="functions.events.execution_redriven.handler",
        description="A run's execution re-driven from the Step Functions console: the run "
        "ledger says running again and the audit trail says who (console)",
        triggers=(
            EventRule(
                rule="executions-redriven",
                bus=DEFAULT_BUS,
                source_prefix="aws.states",
                detail_types=("Step Functions Execution Status Change",),
                # a re-drive announces the execution RUNNING again with a redriveCount
                detail={"status": ["RUNNING"], "redriveCount": [{"numeric": [">", 0]}]},
                own_state_machines=True,
                description="Executions of this stage's state machines re-driven (any caller)",
            ),
        ),
        tables={RUNS: RW},
        publishes_to=(DOMAIN_EVENTS,),  # RunRedriven, for the audit trail
        timeout_seconds=10,
        memory_mb=256,
    ),
    *BILLING_FUNCTIONS,
    *CASH_FUNCTIONS,
    *OVERDUE_FUNCTIONS,
    *NOTIFICATION_FUNCTIONS,
    *ERP_FUNCTIONS,
)


def function(name: str) -> Function:
    return next(f for f in FUNCTIONS if f.name == name)
