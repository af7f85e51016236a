"""The dashboard address: resolution (flag, RAY_ADDRESS, default), loopback, fast probing."""

from __future__ import annotations

import socket
import time

import pytest
from raytest import _free_port

from ntscale.errors import ClusterError, ConfigError
from ntscale.submit.address import DEFAULT_ADDRESS, is_loopback, probe, resolve_address


@pytest.fixture()
def no_ray_address(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)


@pytest.mark.usefixtures("no_ray_address")
@pytest.mark.parametrize(
    ("given", "url"),
    [
        (None, DEFAULT_ADDRESS),
        ("", DEFAULT_ADDRESS),
        ("10.1.2.3:8265", "http://10.1.2.3:8265"),
        ("  http://head:8265/  ", "http://head:8265"),
        ("https://ray.example.org/", "https://ray.example.org"),
        ("https://ray.example.org/prefix/", "https://ray.example.org/prefix"),
        ("[::1]:8265", "http://[::1]:8265"),
    ],
)
def test_address_resolution(given, url):
    assert resolve_address(given) == url


def test_ray_address_is_used_when_no_address_is_given(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.1.2.3:8265")
    assert resolve_address(None) == "http://10.1.2.3:8265"
    assert resolve_address("http://other:8265") == "http://other:8265"  # a flag wins


@pytest.mark.usefixtures("no_ray_address")
@pytest.mark.parametrize("bad", ["auto", "ray://head:10001"])
def test_driver_addresses_are_refused_with_the_fix(bad):
    with pytest.raises(ConfigError, match="needs the cluster's dashboard URL") as err:
        resolve_address(bad)
    assert repr(bad) in str(err.value) and "--address http://HEAD_IP:8265" in str(err.value)


@pytest.mark.usefixtures("no_ray_address")
@pytest.mark.parametrize("bad", ["ftp://head:21", "http://", "http://:8265"])
def test_non_dashboard_urls_are_refused(bad):
    with pytest.raises(ConfigError, match="is not a dashboard URL"):
        resolve_address(bad)


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        ("http://127.0.0.1:8265", True),
        ("127.0.1.1:8265", True),
        ("localhost:8265", True),
        ("http://[::1]:8265", True),
        ("http://10.0.0.5:8265", False),
        ("https://ray.example.org", False),
        ("http://127.example.org:8265", False),  # a name that only looks like 127.x
        ("http://127.0.0.1.example.org:8265", False),
    ],
)
def test_loopback_detection(address, loopback):
    assert is_loopback(address) is loopback


def test_probe_accepts_a_listening_port_and_refuses_a_closed_one_fast():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        probe(f"http://127.0.0.1:{server.getsockname()[1]}")  # no error
    url = f"http://127.0.0.1:{_free_port()}"
    start = time.monotonic()
    with pytest.raises(ClusterError) as err:
        probe(url, timeout_s=2.0)
    assert time.monotonic() - start < 2.5
    text = str(err.value)
    assert text.startswith(f"cannot reach the Ray dashboard at {url} (")
    assert "ray start --head --dashboard-host 0.0.0.0 --dashboard-port 8265" in text
    assert "RAY_ADDRESS" in text
