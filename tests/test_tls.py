"""HTTPS, as the seed serves its API (`curl -k https://...:8081/v1/...`): `api.tls_cert` and
`api.tls_key` make `switchboard run` and `switchboard demo` serve over TLS (uvicorn's), with a
certificate the test makes; REST, SSE and a WebSocket (wss) over it. A certificate or key that
cannot serve is refused in one line, exit code 2, before anything is appended.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from engine import exitcodes
from engine.config import ConfigError, parse
from engine.listen import TlsFiles, tls_files
from tests.test_cli import SWITCHBOARD, free_port, one_line, sb

CAPTURE = Path(__file__).resolve().parent / "ami-captures" / "originate-answered.jsonl"


def make_certificate(folder: Path, name: str, subject: str = "/CN=localhost") -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM, no passphrase)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: no certificate to test with")
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", subject, "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    return TlsFiles(str(cert), str(key))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificate(tmp_path_factory.mktemp("tls"), "server")


def trusting(files: TlsFiles) -> ssl.SSLContext:
    """A client context that trusts the test's certificate (and verifies it)."""
    return ssl.create_default_context(cafile=files.cert)


def config(files: TlsFiles, extra: str = "") -> str:
    return f'[api]\ntls_cert = "{files.cert}"\ntls_key = "{files.key}"\n{extra}'


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def wait_for(url: str, verify: ssl.SSLContext) -> dict:
    for _ in range(150):
        try:
            return httpx.get(url, timeout=1, verify=verify).json()
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


@pytest.fixture
def fake_asterisk() -> Iterator[int]:
    port = free_port()
    fake = subprocess.Popen([sys.executable, "-m", "engine.ami.testserver", "--capture",
                             str(CAPTURE), "--port", str(port)], env=env(),
                            stderr=subprocess.PIPE, text=True)
    try:
        yield port
    finally:
        fake.send_signal(signal.SIGINT)
        fake.communicate(timeout=10)


def test_run_serves_rest_sse_and_websocket_over_https(
        tmp_path: Path, certificate: TlsFiles, fake_asterisk: int) -> None:
    port = free_port()
    (tmp_path / "switchboard.toml").write_text(config(certificate, (
        f'[[servers]]\nname = "pbx1"\nport = {fake_asterisk}\nusername = "admin"\n'
        'secret = "admin"\n')))
    proc = subprocess.Popen([*SWITCHBOARD, "run", "--port", str(port)], cwd=tmp_path,
                            env=env(), stderr=subprocess.PIPE, text=True)
    base, verify = f"https://127.0.0.1:{port}", trusting(certificate)
    try:
        status = wait_for(f"{base}/status", verify)
        assert status["last_position"] >= 1
        systems = httpx.get(f"{base}/v1/core/systems", verify=verify, timeout=5).json()
        assert systems["statuscode"] == 200
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on that port
            httpx.get(f"http://127.0.0.1:{port}/status", timeout=2)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{base}/status", timeout=2)  # nobody trusts a self-signed one
        assert httpx.get(f"{base}/health", verify=False, timeout=5).json() == {"ok": True}

        with httpx.stream("GET", f"{base}/events", params={"from": 0}, verify=verify,
                          timeout=10) as response:  # SSE over TLS, from the log's start
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    message = json.loads(line[len("data: "):])
                    break
        assert message["id"] and message["topic"].startswith("/")

        with connect(f"wss://127.0.0.1:{port}/ws?meta=1&from=0", ssl=verify,
                     open_timeout=10) as ws:  # and the WebSocket, wss
            ws.send(json.dumps({"type": "subscribe", "topic": "/"}))
            frame = json.loads(ws.recv(timeout=10))
        assert frame["id"] and frame["topic"].startswith("/")
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert f"API on https://127.0.0.1:{port}/status" in err


def test_demo_serves_over_https(tmp_path: Path, certificate: TlsFiles) -> None:
    (tmp_path / "switchboard.toml").write_text(config(certificate))
    proc = subprocess.Popen([*SWITCHBOARD, "demo", "--port", "0", "--no-sample"], cwd=tmp_path,
                            env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        assert ready.startswith("ready https://127.0.0.1:"), ready
        base = ready.split()[1]
        status = httpx.get(f"{base}/status", verify=trusting(certificate), timeout=5).json()
        assert status["servers"][0]["name"] == "sim"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert proc.returncode == 0


def test_a_certificate_that_cannot_serve_is_said_in_one_line(tmp_path: Path,
                                                            certificate: TlsFiles) -> None:
    other = make_certificate(tmp_path, "other", "/CN=other")
    encrypted = tmp_path / "encrypted.key"
    subprocess.run(["openssl", "pkey", "-in", certificate.key, "-aes256", "-passout",
                    "pass:secret", "-out", str(encrypted)], check=True, capture_output=True)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    cut = tmp_path / "cut.crt"
    cut.write_text(Path(certificate.cert).read_text()[:200])
    missing = tmp_path / "missing.crt"
    for cert, key, message in (
        (missing, certificate.key, f"api.tls_cert: cannot read {missing}: No such file or "
                                   "directory"),
        (tmp_path, certificate.key, f"api.tls_cert: cannot read {tmp_path}: Is a directory"),
        (garbage, certificate.key, f"api.tls_cert: {garbage} is not a PEM certificate"),
        (certificate.cert, garbage, f"api.tls_key: {garbage} is not a PEM private key"),
        (certificate.cert, certificate.cert, f"api.tls_key: {certificate.cert} is not a PEM "
                                             "private key"),
        (certificate.cert, other.key, f"api.tls_key: {other.key} is not the private key of "
                                      f"{certificate.cert}"),
        (certificate.cert, encrypted, f"api.tls_key: {encrypted} is encrypted"),
        (cut, certificate.key, f"api.tls_cert, api.tls_key: {cut} and {certificate.key} "
                               "cannot serve TLS"),
    ):
        api = parse({"api": {"tls_cert": str(cert), "tls_key": str(key)}}).api
        with pytest.raises(ConfigError) as refused:
            tls_files(api)
        assert str(refused.value).startswith(message), str(refused.value)
        assert "\n" not in str(refused.value)
    assert tls_files(parse({}).api) is None
    good = {"tls_cert": certificate.cert, "tls_key": certificate.key}
    assert tls_files(parse({"api": good}).api) == certificate


@pytest.mark.parametrize("verb", [["run"], ["demo", "--no-sample"]])
def test_run_and_demo_refuse_a_bad_tls_setting_and_append_nothing(
        tmp_path: Path, certificate: TlsFiles, verb: list[str]) -> None:
    (tmp_path / "switchboard.toml").write_text(
        f'[api]\ntls_cert = "{certificate.cert}"\ntls_key = "{tmp_path / "nope.key"}"\n'
        '[auth]\ninitial_admin = "root"\ninitial_password = "correct horse battery"\n')
    result = sb(*verb, "--port", "0", cwd=tmp_path)
    assert result.returncode == exitcodes.USAGE == 2
    assert one_line(result) == (f"switchboard: api.tls_key: cannot read {tmp_path / 'nope.key'}"
                                ": No such file or directory")
    assert sb("events", cwd=tmp_path).stdout == ""

    (tmp_path / "switchboard.toml").write_text(f'[api]\ntls_cert = "{certificate.cert}"\n')
    result = sb(*verb, "--port", "0", cwd=tmp_path)
    assert result.returncode == 2
    assert one_line(result) == ("switchboard: switchboard.toml: api.tls_cert, api.tls_key: "
                                "set both (a PEM certificate and its private key) to serve "
                                "HTTPS, or neither")
