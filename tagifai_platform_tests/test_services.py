"""Starting and stopping the local services' processes."""

import sys

import psutil

from tagifai_platform import services

SLEEP = "import time; time.sleep(600)"
IGNORE_SIGTERM = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(600)"
)


def test_stop_says_whether_sigterm_was_enough_and_kills_what_ignored_it(tmp_path):
    polite = services.start_process(tmp_path, "polite", [sys.executable, "-c", SLEEP])
    stubborn = services.start_process(tmp_path, "stubborn", [sys.executable, "-c", IGNORE_SIGTERM])
    log = tmp_path / "stubborn.log"
    services.wait_for(lambda: b"ready" in log.read_bytes(), "the SIGTERM handler", stubborn, timeout=60)

    assert services.stop_process(tmp_path, "polite", timeout=10) is True
    assert services.stop_process(tmp_path, "stubborn", timeout=1) is False
    assert services.stop_process(tmp_path, "never-started") is True

    assert not psutil.pid_exists(polite.pid) and not psutil.pid_exists(stubborn.pid)
    assert not list(tmp_path.glob("*.pid"))
