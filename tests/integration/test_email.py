"""Email goes out through SES from the declared sender; the embedded AWS captures it."""

from __future__ import annotations

from local.runtime import EmbeddedAWS
from monosub.email import Email, default_mailer


def test_a_function_that_sends_email_sends_from_the_stage_sender():
    from moto.ses.models import ses_backends

    with EmbeddedAWS() as cloud, cloud.as_function("api"):
        message_id = default_mailer.send(
            Email(
                to=["hanako@example.jp"],
                subject="お見積りのご確認",
                text="本文",
                html="<p>本文</p>",
            )
        )
        sent = ses_backends["123456789012"]["ap-northeast-1"].sent_messages
    assert message_id
    (message,) = sent
    assert message.source == cloud.names.email_sender
    assert message.destinations["ToAddresses"] == ["hanako@example.jp"]
    assert message.subject == "お見積りのご確認"
