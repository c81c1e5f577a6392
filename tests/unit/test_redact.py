"""Secrets out of every text that is shown: the pure scrub, and the log filter the factory installs."""
import logging

import pytest

from dashboard.core.redact import scrub
from dashboard.factory import SecretScrubber

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text, expected", [
    ("cannot reach ftp://user:PW-123@lava.example.org/x", "cannot reach ftp://user:***@lava.example.org/x"),
    ("redis://:hunter22@127.0.0.1:6379/0 down", "redis://:***@127.0.0.1:6379/0 down"),
    ("LAVA said: state 'Idle tok-S3CRET' is not known", "LAVA said: state 'Idle <secret>' is not known"),
    ("nothing secret here: http://lava.example.org/", "nothing secret here: http://lava.example.org/"),
])
def test_scrub_takes_out_tokens_and_url_passwords(text, expected):
    assert scrub(text, ["tok-S3CRET", "", "x"]) == expected


def test_every_log_line_and_traceback_is_scrubbed():
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(SecretScrubber(["tok-S3CRET"]))
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s in an argument", "tok-S3CRET")
        try:
            raise ValueError("postgresql://u:pw-secret@db/x refused tok-S3CRET")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    assert len(records) == 2
    text = "\n".join(records)
    assert "tok-S3CRET" not in text and "pw-secret" not in text
    assert "<secret> in an argument" in text and "postgresql://u:***@db/x" in text


def test_the_tokens_in_apprise_urls_are_scrubbed_as_apprise_logs_them():
    """Apprise logs the URLs it makes of its own at DEBUG, tokens in the path: every piece of a
    notification URL that may be a token is a secret, ordinary words are not."""
    from dashboard.alerts.delivery import secrets_of

    secrets = secrets_of(["slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#alerts",
                          "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
                          "tgram://123456789:AABx8iXjE5C-vG4SDhf6ARgdFgxYxhuHb4A/-1001234"])
    lines = [
        "Slack POST URL: https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ (cert_verify=True)",
        "Socket Exception: url: /services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ",
        "Discord POST URL: https://discord.com/api/webhooks/4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js",
        "Telegram POST URL: https://api.telegram.org/bot123456789:AABx8iXjE5C-vG4SDhf6ARgdFgxYxhuHb4A/sendMessage",
    ]
    for line in lines:
        out = scrub(line, secrets)
        for token in ("T1JJ3T3L2", "A1BRTD4JD", "TIiajkdnlazkcOXrIdevi7FQ", "4174216298",
                      "JHMHI8qBe7bk2ZwO5U711o3dV_js", "AABx8iXjE5C-vG4SDhf6ARgdFgxYxhuHb4A", "123456789"):
            assert token not in out, (token, out)
        assert "<secret>" in out
    # What is not a token stays readable.
    assert scrub("POST to https://hooks.slack.com/services/ for #alerts", secrets) == \
        "POST to https://hooks.slack.com/services/ for #alerts"
    # Tokens without a digit (a Gotify app token), ntfy topics (in the host's place or the path),
    # and a host that is an address, which stays.
    others = secrets_of(["gotify://gotify.example.org/AbcDEfghIJkLmNo", "ntfy://labalerts",
                         "ntfys://ntfy.sh/lab-alerts-private", "json://10.20.30.40:5500/api/alerts"])
    assert scrub("token=AbcDEfghIJkLmNo topic labalerts and ntfy.sh/lab-alerts-private", others) == \
        "token=<secret> topic <secret> and ntfy.sh/<secret>"
    assert scrub("connected to 10.20.30.40:5500 for api alerts", others) == \
        "connected to 10.20.30.40:5500 for api alerts"
