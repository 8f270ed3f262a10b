"""The client is installed on users' machines: importing it must pull in no server code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("api", "worker", "shared", "cli", "torch", "sqlalchemy", "celery")


def test_importing_the_client_loads_no_server_package() -> None:
    probe = (
        "import json, sys\n"
        "import quire_client.main\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout))
    assert "quire_client" in loaded and "httpx" in loaded
    assert loaded.isdisjoint(FORBIDDEN), sorted(loaded & set(FORBIDDEN))


def test_python_dash_m_runs_the_client() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "quire_client", "status", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: quire status" in done.stdout
