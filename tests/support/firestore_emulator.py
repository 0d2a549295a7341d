"""Start, reset and stop Google's real Cloud Firestore emulator for tests.

The emulator is the Java server shipped by the ``google-cloud-cli-firestore-emulator``
package (see ``../shared/docs/facts.md``). :func:`start_emulator` runs it on a free
loopback port in its own process group, waits until ``GET /`` answers ``Ok`` and returns a
:class:`FirestoreEmulator` handle; :meth:`FirestoreEmulator.reset` deletes every document
(``DELETE /emulator/v1/projects/{project}/databases/(default)/documents``) and
:meth:`FirestoreEmulator.stop` ends the whole process group (SIGTERM, then SIGKILL).

The jar is looked up in this order: ``$FIRESTORE_EMULATOR_JAR``; the Debian package's path
(``/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar``);
``<sdk_root>/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar`` where the SDK
root comes from ``gcloud info``. Java is ``$JAVA``, else ``java`` on PATH. If either is
missing, :class:`EmulatorUnavailableError` says how to install them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_fixed,
)

JAR_NAME = "cloud-firestore-emulator.jar"
DEBIAN_JAR = Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator") / JAR_NAME
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
#: ``demo-`` projects never reach real Google services (Firebase convention).
DEFAULT_PROJECT = "demo-tapeflow"

INSTALL_HINT = """\
The Cloud Firestore emulator (Java 17 + Google's emulator jar) is required by the state
tests and was not found. On Debian/Ubuntu, with Google Cloud's apt repository configured
(https://cloud.google.com/sdk/docs/install#deb):

    sudo apt-get install google-cloud-cli-firestore-emulator openjdk-17-jre-headless

or, with the gcloud CLI: `gcloud components install cloud-firestore-emulator`.
If the jar lives elsewhere, set FIRESTORE_EMULATOR_JAR=/path/to/cloud-firestore-emulator.jar
(and JAVA=/path/to/java if java is not on PATH). CI machines have it preinstalled."""


class EmulatorUnavailableError(RuntimeError):
    """Java or the emulator jar is missing, or the emulator did not come up."""


class _EmulatorExitedError(EmulatorUnavailableError):
    """The emulator process ended during start-up (e.g. its port was taken)."""


def find_java() -> str:
    """Path of the ``java`` executable (``$JAVA`` first, then PATH).

    Raises:
        EmulatorUnavailableError: no java found.
    """
    candidate = os.environ.get("JAVA") or shutil.which("java")
    if not candidate or not Path(candidate).exists():
        raise EmulatorUnavailableError(f"java not found (checked $JAVA and PATH).\n{INSTALL_HINT}")
    return candidate


def _gcloud_sdk_root() -> Path | None:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        return None
    try:
        out = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError):
        return None
    return Path(out) if out else None


def find_jar() -> Path:
    """Path of the emulator jar (see the module docstring for the search order).

    Raises:
        EmulatorUnavailableError: the jar was not found anywhere.
    """
    checked: list[str] = []
    env_jar = os.environ.get("FIRESTORE_EMULATOR_JAR")
    if env_jar:
        if Path(env_jar).is_file():
            return Path(env_jar)
        checked.append(f"$FIRESTORE_EMULATOR_JAR={env_jar}")
    if DEBIAN_JAR.is_file():
        return DEBIAN_JAR
    checked.append(str(DEBIAN_JAR))
    sdk_root = _gcloud_sdk_root()
    if sdk_root is not None:
        jar = sdk_root / "platform" / "cloud-firestore-emulator" / JAR_NAME
        if jar.is_file():
            return jar
        checked.append(str(jar))
    else:
        checked.append("gcloud (not on PATH or `gcloud info` failed)")
    raise EmulatorUnavailableError(
        "Firestore emulator jar not found; checked: " + ", ".join(checked) + "\n" + INSTALL_HINT
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout_s: float = 2.0) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.read().decode(errors="replace")
    except (urllib.error.URLError, OSError):
        return None


@dataclass
class FirestoreEmulator:
    """A running emulator: ``host`` (``"127.0.0.1:PORT"``, the value for
    ``FIRESTORE_EMULATOR_HOST``), its ``project_id``, process and log file."""

    port: int
    project_id: str
    process: subprocess.Popen
    log_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the emulator's combined stdout/stderr."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def reset(self) -> None:
        """Delete every document of the project's default database.

        Raises:
            EmulatorUnavailableError: the emulator did not accept the request.
        """
        req = urllib.request.Request(
            f"{self.url}/emulator/v1/projects/{self.project_id}/databases/(default)/documents",
            method="DELETE",
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                if resp.status != 200:
                    raise EmulatorUnavailableError(f"emulator reset answered HTTP {resp.status}")
        except urllib.error.URLError as exc:
            raise EmulatorUnavailableError(f"emulator reset failed: {exc}") from exc

    def stop(self) -> None:
        """Terminate the emulator's process group (SIGTERM, SIGKILL after 10 s)."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        with contextlib.suppress(OSError):
            self.log_path.unlink()


def _start_once(
    java: str, jar: Path, project_id: str, startup_timeout_s: float
) -> FirestoreEmulator:
    port = free_port()
    fd, log_name = tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")
    with os.fdopen(fd, "wb") as log_file:
        proc = subprocess.Popen(
            [
                java,
                "-Xmx256m",
                "-Duser.language=en",
                "-cp",
                str(jar),
                MAIN_CLASS,
                "start",
                "--host=127.0.0.1",
                f"--port={port}",
                f"--project_id={project_id}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: stop() kills java and any child
        )
    emu = FirestoreEmulator(port=port, project_id=project_id, process=proc, log_path=Path(log_name))

    def not_ready(body: str | None) -> bool:
        if proc.poll() is not None:
            return False  # exited: stop waiting, reported below
        return body is None or body.strip() != "Ok"

    try:
        Retrying(
            retry=retry_if_result(not_ready),
            stop=stop_after_delay(startup_timeout_s),
            wait=wait_fixed(0.2),
        )(_get, emu.url + "/")
    except RetryError:
        tail = emu.log_tail()
        emu.stop()
        raise EmulatorUnavailableError(
            f"Firestore emulator did not answer 'Ok' within {startup_timeout_s:.0f} s "
            f"on {emu.host}; log:\n{tail}"
        ) from None
    if proc.poll() is not None:
        tail = emu.log_tail()
        emu.stop()
        raise _EmulatorExitedError(
            f"Firestore emulator exited with code {proc.returncode}; log:\n{tail}"
        )
    return emu


def start_emulator(
    project_id: str = DEFAULT_PROJECT, *, startup_timeout_s: float = 90.0
) -> FirestoreEmulator:
    """Start the emulator on a free 127.0.0.1 port and wait until it answers ``Ok``.

    A start whose process exits (e.g. the port was taken between choosing and binding) is
    retried twice on a new port.

    Raises:
        EmulatorUnavailableError: java or the jar is missing (with install instructions),
            or the emulator did not come up (with its log).
    """
    java = find_java()
    jar = find_jar()
    return Retrying(
        retry=retry_if_exception_type(_EmulatorExitedError),
        stop=stop_after_attempt(3),
        reraise=True,
    )(_start_once, java, jar, project_id, startup_timeout_s)
