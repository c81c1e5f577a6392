"""Notifications to an https:// destination whose certificate a private CA signed (a lab's own chat
or webhook server), through the real sender (a child process, the real Apprise) to a real TLS
webhook receiver on 127.0.0.1: refused in words without the CA; delivered when the dashboard's
environment names it, by SSL_CERT_FILE (what the rest of the dashboard reads, docs/labs.md) or by
REQUESTS_CA_BUNDLE."""
import pytest

from dashboard.alerts.delivery import apprise_send
from tests.test_alerts import Receiver
from tests.test_lava_tls import pki  # noqa: F401 (fixture)

CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
PROXIES = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")


@pytest.fixture
def tls_receiver(pki, monkeypatch):  # noqa: F811
    for name in CA_VARIABLES + PROXIES:
        monkeypatch.delenv(name, raising=False)
    receiver = Receiver(tls=(pki.cert, pki.key))
    yield receiver
    receiver.stop()


def send(receiver):
    url = f"jsons://127.0.0.1:{receiver.port}/hooks/s3cret-path-token"
    return url, apprise_send([url], "[FIRING] device_bad: qemu-01", "qemu-01 has been Bad", "warning")


def test_a_destination_behind_a_private_ca_is_refused_in_words_without_it(tls_receiver):
    url, failed = send(tls_receiver)
    assert list(failed) == [url]
    # Why, in words (Apprise itself says only "a connection error"), and never the URL's path.
    assert failed[url].startswith("certificate verify failed: unable to get local issuer "
                                  "certificate"), failed[url]
    assert "s3cret" not in failed[url]
    assert tls_receiver.received == []


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_the_ca_named_in_the_environment_is_trusted(tls_receiver, pki, monkeypatch,  # noqa: F811
                                                    variable):
    monkeypatch.setenv(variable, str(pki.ca))
    url, failed = send(tls_receiver)
    assert failed == {}
    assert [m["title"] for m in tls_receiver.received] == ["[FIRING] device_bad: qemu-01"]


def test_another_ca_is_not_enough(tls_receiver, pki, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))
    url, failed = send(tls_receiver)
    assert list(failed) == [url] and "certificate" in failed[url].lower()
    assert tls_receiver.received == []


def test_requests_own_bundle_wins_over_openssl_s(tls_receiver, pki, monkeypatch):  # noqa: F811
    monkeypatch.setenv("SSL_CERT_FILE", str(pki.other_ca))  # LAVA's side, say
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki.ca))  # the destinations'
    assert send(tls_receiver)[1] == {}
    assert len(tls_receiver.received) == 1
