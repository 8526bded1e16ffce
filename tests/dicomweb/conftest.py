"""A private Orthanc with the DICOMweb plugin, started once per test session.

It runs Debian's /usr/sbin/Orthanc on free ports with a temporary configuration and storage
folder, so it never touches (or depends on) a system Orthanc on 8042. HTTP basic auth is on, with
one test user. Orthanc 1.10 cannot bind its HTTP server to one address, so remote access is
refused instead, and the DICOM (DIMSE) server is off: the tests speak DICOMweb only. When
Orthanc or the plugin is missing the tests fail under CI=true and are skipped elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ORTHANC = os.environ.get("QA_MEETING_TEST_ORTHANC", "/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = os.environ.get(
    "QA_MEETING_TEST_ORTHANC_DICOMWEB", "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
)
USERNAME, PASSWORD = "qa-test", "orthanc-test-password"
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class OrthancServer:
    base_url: str  # Orthanc's REST root, e.g. http://127.0.0.1:40123
    dicomweb_url: str  # its DICOMweb root: base_url + /dicom-web
    username: str
    password: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _require(path: str) -> None:
    if Path(path).is_file():
        return
    message = (
        f"{path} is missing: install Orthanc and its DICOMweb plugin with "
        "`apt-get install -y orthanc orthanc-dicomweb`"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def _wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Orthanc exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, auth=(USERNAME, PASSWORD), timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    pytest.fail(f"Orthanc did not answer within {STARTUP_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    """A running Orthanc with DICOMweb, basic auth and an empty store, for this session."""
    _require(ORTHANC)
    _require(DICOMWEB_PLUGIN)
    folder = tmp_path_factory.mktemp("orthanc")
    http_port, dicom_port = _free_port(), _free_port()
    configuration = {
        "Name": "qa-meeting-test",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "storage"),
        "TemporaryDirectory": str(folder / "tmp"),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USERNAME: PASSWORD},
        "OrthancExplorerEnabled": False,
        "WebDavEnabled": False,
        "HttpCompressionEnabled": False,
        "Plugins": [DICOMWEB_PLUGIN],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": False},
    }
    config = folder / "orthanc.json"
    config.write_text(json.dumps(configuration, indent=2), encoding="utf-8")
    log = folder / "orthanc.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [ORTHANC, str(config)], stdout=output, stderr=subprocess.STDOUT, cwd=folder
        )
    base_url = f"http://127.0.0.1:{http_port}"
    try:
        _wait_until_up(process, f"{base_url}/system", log)
        yield OrthancServer(base_url, f"{base_url}/dicom-web", USERNAME, PASSWORD)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(folder, ignore_errors=True)
