"""``fpw up``: the README's first command, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import samples
from tests.helpers import launch_fpw, wait_for


@pytest.mark.timeout(180)
def test_fpw_up_runs_the_whole_system_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}
    launched = launch_fpw(tmp_path, "up", "--fetchers", "2")
    proc, lines, reader = launched.proc, launched.lines, launched.reader
    try:
        inbox = tmp_path / "inbox"
        wait_for(
            lambda: any("Drop files into" in line for line in lines),
            timeout=90,
            what="fpw up to announce the inbox",
        )
        assert inbox.is_dir()
        assert any(str(inbox / "results") in line for line in lines)
        staging = tmp_path / "staging"
        staging.mkdir()
        samples.make_text(staging / "größe 1.txt", "a b c d\n")
        (staging / "größe 1.txt").rename(inbox / "größe 1.txt")
        result = wait_for(
            lambda: next((inbox / "results").glob("größe 1.txt.result.json"), None),
            timeout=60,
            what="the result",
        )
        assert json.loads(result.read_text(encoding="utf-8"))["analysis"]["words"] == 4

        # `fpw submit` in the same folder finds the running system by itself.
        file = tmp_path / "one more.txt"
        samples.make_text(file, "x y\n")
        submit = subprocess.run(
            [sys.executable, "-m", "shared.cli", "submit", str(file), "--wait", "--timeout", "60"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert submit.returncode == 0, submit.stderr
        assert json.loads(submit.stdout)["analysis"]["words"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        reader.join(timeout=5)
    assert code == 0, "".join(lines[-40:])
    assert any("stopped." in line for line in lines)
    assert not (tmp_path / ".fpw" / "config.toml").exists()


# -- supervision, persistence, admin commands and private files under `fpw up` --


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("FPW_", "AWS_"))}


class Up:
    """``fpw up`` in ``folder`` as a user runs it: a process, its output, its children."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.inbox = folder / "inbox"
        launched = launch_fpw(folder, "up", "--fetchers", "1")
        self.proc, self.lines, self._reader = launched.proc, launched.lines, launched.reader
        wait_for(
            lambda: any("Drop files into" in line for line in self.lines) or self.proc.poll(),
            timeout=120,
            what="fpw up to announce the inbox",
        )
        assert self.proc.poll() is None, self.output()

    def output(self) -> str:
        return "".join(self.lines[-60:])

    def children(self) -> dict[int, str]:
        """The parts ``fpw up`` runs now: pid -> command line."""
        found: dict[int, str] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.proc.pid:
                    cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    found[int(stat.parent.name)] = cmd
            except (OSError, IndexError, ValueError):
                continue
        return found

    def part(self, word: str) -> int:
        """The pid of the part whose command line has ``shared.cli <word>``."""
        return wait_for(
            lambda: next((p for p, c in self.children().items() if f"shared.cli {word}" in c), 0),
            timeout=60,
            what=f"the {word} process",
        )

    def fpw(self, *args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
        extra = ["--config", str(config)] if config else []
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", *args, *extra],
            cwd=self.folder,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def drop(self, name: str, text: str) -> None:
        staging = self.folder / "staging"
        staging.mkdir(exist_ok=True)
        samples.make_text(staging / name, text)
        (staging / name).rename(self.inbox / name)

    def result(self, name: str, timeout: float = 150) -> dict[str, object]:
        found = wait_for(
            lambda: next((self.inbox / "results").glob(f"{name}.result.json"), None),
            timeout=timeout,
            what=f"the result of {name}\n{self.output()}",
        )
        return json.loads(found.read_text(encoding="utf-8"))  # type: ignore[no-any-return]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=90)
        self._reader.join(timeout=5)
        return code


def holder_of_a_job(up: Up) -> str | None:
    """The fetcher `fpw status` shows working on a job (its holder id)."""
    page = up.fpw("status").stdout
    for line in page.splitlines():
        if line.startswith("  processor-") and "file-" in line:
            return line.split()[0]
    return None


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    up = Up(tmp_path_factory.mktemp("up"))
    try:
        yield up
    finally:
        if up.proc.poll() is None:
            assert up.stop() == 0, up.output()


@pytest.mark.timeout(300)
def test_a_fetcher_killed_mid_job_is_started_again_and_the_job_completes_once(
    running: Up,
) -> None:
    up = running
    processor, fetcher = up.part("processor"), up.part("fetcher")
    os.kill(processor, signal.SIGSTOP)  # the job stays with the fetcher until it is killed
    try:
        up.drop("held.txt", "one two three\n")
        holder = wait_for(lambda: holder_of_a_job(up), timeout=90, what="a fetcher holding the job")
        os.kill(fetcher, signal.SIGKILL)
    finally:
        os.kill(processor, signal.SIGCONT)
    wait_for(
        lambda: any("fetcher-1 killed by SIGKILL; starting it again" in line for line in up.lines),
        timeout=30,
        what="the supervisor's line",
    )
    assert up.part("fetcher") != fetcher
    # The dead fetcher is shown as gone, not as idle.
    page = wait_for(
        lambda: (r := up.fpw("status").stdout).partition("fetchers gone")[2].count(holder) and r,
        timeout=90,
        what=f"status showing {holder} as gone",
    )
    assert holder not in page.partition("fetchers running")[2].partition("fetchers gone")[0]
    assert up.result("held.txt")["analysis"]["words"] == 3  # type: ignore[index]
    wait_for(lambda: (up.inbox / "done" / "held.txt").exists(), timeout=30, what="original done")
    assert len(list((up.inbox / "results").glob("held*"))) == 1
    assert not (up.inbox / "failed").exists() or not list((up.inbox / "failed").iterdir())
    assert up.proc.poll() is None


@pytest.mark.timeout(180)
def test_admin_commands_work_beside_fpw_up_and_fail_in_one_line(running: Up) -> None:
    up = running
    status = up.fpw("status")
    assert status.returncode == 0, status.stderr
    assert status.stdout.startswith("fpw ") and "jobs " in status.stdout
    check = up.fpw("check")
    assert check.returncode in (0, 1, 2), check.stdout + check.stderr
    assert len(check.stdout.splitlines()) == 1 and check.stdout.startswith("FPW ")
    assert check.stderr == ""
    listing = up.fpw("clients", "list")
    assert listing.returncode == 0, listing.stderr
    assert "local headless client" in listing.stdout
    # With the client's settings an admin command is refused: one line, no traceback.
    denied = up.fpw("clients", "list", config=up.folder / ".fpw" / "config.toml")
    assert denied.returncode == 1
    assert denied.stdout == "" and len(denied.stderr.splitlines()) == 1, denied.stderr
    assert denied.stderr.startswith("fpw: error: AWS refused") and "--config" in denied.stderr
    denied_check = up.fpw("check", config=up.folder / ".fpw" / "config.toml")
    assert denied_check.returncode == 3 and len(denied_check.stdout.splitlines()) == 1
    assert denied_check.stdout.startswith("FPW UNKNOWN - ") and denied_check.stderr == ""
    # A reader that stops after one line, or reads nothing, ends nothing with a traceback.
    for reader, first in (("head -1", "fpw "), ("true", "")):
        piped = subprocess.run(
            f"{sys.executable} -m shared.cli status | {reader}",
            shell=True,
            cwd=up.folder,
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert piped.returncode == 0 and piped.stdout.startswith(first), piped.stdout
        assert len(piped.stdout.splitlines()) == (1 if first else 0)
        assert piped.stderr == "", piped.stderr


def test_every_file_fpw_up_writes_with_a_secret_is_owner_only(running: Up) -> None:
    home = running.folder / ".fpw"
    stack = json.loads((home / "stack" / "stack.json").read_text(encoding="utf-8"))
    secret = stack["admin_secret_access_key"].encode()
    token = (home / "stack" / "admin-api.token").read_bytes()
    holding = []
    for path in home.rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if secret in data or token in data or path.suffix in (".toml", ".json", ".pem", ".token"):
            holding.append(path.relative_to(home))
            assert path.stat().st_mode & 0o777 == 0o600, path
            assert path.parent.stat().st_mode & 0o777 == 0o700, path.parent
    names = {str(p) for p in holding}
    for expected in ("admin.toml", "config.toml", "client.toml", "fetcher-1.toml", "watcher.toml"):
        assert expected in names, names
    assert {"stack/stack.json", "stack/admin-api.token", "client/client-key.pem"} <= names
    assert home.stat().st_mode & 0o777 == 0o700


def started(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot), or None once it has ended (a
    zombie nobody reaped has ended): with the pid, it names one process, even on a
    busy machine that hands the pid to another process soon after."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def test_fpw_up_killed_with_sigkill_leaves_no_part_running(running: Up) -> None:
    parts = running.children()
    assert len(parts) >= 5, parts  # the stack's server, processor, fetcher, watcher, client
    since = {pid: started(pid) for pid in parts}
    running.proc.kill()
    running.proc.wait(timeout=30)
    wait_for(
        lambda: not [pid for pid, t in since.items() if t is not None and started(pid) == t],
        timeout=60,
        what="every part to end with fpw up",
    )


def test_fpw_check_and_status_say_in_one_line_that_aws_cannot_be_reached(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    config = tmp_path / "nowhere.toml"
    config.write_text(
        f'[aws]\nendpoint_url = "http://127.0.0.1:{port}"\n'
        'access_key_id = "AKIAEXAMPLE"\nsecret_access_key = "example"\n',
        encoding="utf-8",
    )
    env = clean_env()

    def fpw(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "shared.cli", *args, "--config", str(config)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    for args in (("check",), ("check", "--queue", "many", "10"), ("check", "--bogus")):
        check = fpw(*args)
        assert check.returncode == 3, check.stdout + check.stderr
        assert check.stdout.startswith("FPW UNKNOWN - ") and len(check.stdout.splitlines()) == 1
        assert check.stderr == ""
    for args in (("status",), ("clients", "list")):
        failed = fpw(*args)
        assert failed.returncode == 1 and failed.stdout == ""
        assert len(failed.stderr.splitlines()) == 1, failed.stderr
        assert failed.stderr.startswith("fpw: error: cannot reach AWS"), failed.stderr
        assert "aws.endpoint_url" in failed.stderr


@pytest.mark.timeout(300)
def test_a_job_in_flight_when_fpw_up_stops_completes_after_a_restart(tmp_path: Path) -> None:
    up = Up(tmp_path)
    processor = up.part("processor")
    os.kill(processor, signal.SIGSTOP)  # Ctrl-C comes while the job is being processed
    try:
        up.drop("in flight.txt", "alpha beta gamma delta epsilon\n")
        wait_for(lambda: holder_of_a_job(up), timeout=90, what="a fetcher holding the job")
    finally:
        assert up.stop() == 0, up.output()
    assert not (up.inbox / "results" / "in flight.txt.result.json").exists()
    data = tmp_path / ".fpw" / "stack" / "data"
    assert (data / "tables" / "JobsTable.json").is_file()
    again = Up(tmp_path)
    try:
        assert again.result("in flight.txt")["analysis"]["words"] == 5  # type: ignore[index]
        wait_for(
            lambda: (again.inbox / "done" / "in flight.txt").exists(),
            timeout=30,
            what="the original moved to done",
        )
        assert len(list((again.inbox / "results").glob("in flight*"))) == 1
    finally:
        assert again.stop() == 0, again.output()
