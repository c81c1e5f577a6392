"""The LAVA URL the REST client is given: credentials in it are dropped, a scheme is required
(the client against a real HTTP server: tests/test_rest_client.py)."""
import pytest

from dashboard.sources.rest import LavaRest


def test_credentials_in_the_url_are_dropped():
    client = LavaRest("https://user:pw@lava.example.org/", "t")
    assert client.base == "https://lava.example.org"
    with pytest.raises(ValueError):
        LavaRest("lava.example.org", "")
