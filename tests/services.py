"""Find PostgreSQL and Redis for the test suite, then run the command given.

Order: `DATABASE_URL` / `REDIS_URL` if set; else the local default ports; else throwaway
instances started from the installed binaries (and stopped afterwards); else one line saying what
to install, and exit 2. Usage: `python tests/services.py pytest ...`.
"""

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def wait_for(host: str, port: int, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(host, port):
            return True
        time.sleep(0.1)
    return False


def start_postgres(cleanup: list, info: dict | None = None) -> str | None:
    """Start a throwaway PostgreSQL; `info` receives its data directory and port."""
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not (initdb and pg_ctl):
        return None
    root = tempfile.mkdtemp(prefix="crm-test-pg-")
    data, port = os.path.join(root, "data"), free_port()
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: run it as the postgres system user
        if not shutil.which("runuser"):
            return None
        prefix = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres")
    subprocess.run(
        prefix + [initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(
        prefix
        + [
            pg_ctl,
            "-D",
            data,
            "-l",
            os.path.join(root, "log"),
            "-w",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cleanup.append(
        lambda: subprocess.run(
            prefix + [pg_ctl, "-D", data, "-m", "fast", "stop"], stdout=subprocess.DEVNULL
        )
    )
    cleanup.append(lambda: shutil.rmtree(root, ignore_errors=True))
    if info is not None:
        info.update(data=data, root=root, port=port)
    return f"postgres://postgres@127.0.0.1:{port}/crm"


def start_redis(cleanup: list) -> str | None:
    server = shutil.which("redis-server")
    if not server:
        return None
    port = free_port()
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    cleanup.append(proc.terminate)
    if not wait_for("127.0.0.1", port):
        return None
    return f"redis://127.0.0.1:{port}/0"


def main(argv: list[str]) -> int:
    cleanup: list = []
    env = dict(os.environ)
    try:
        if not env.get("DATABASE_URL"):
            if port_open("127.0.0.1", 5432):
                env["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/crm"
            else:
                url = start_postgres(cleanup)
                if not url:
                    print(
                        "tests need PostgreSQL: set DATABASE_URL, run it on 127.0.0.1:5432, "
                        "or install it (apt-get install postgresql)",
                        file=sys.stderr,
                    )
                    return 2
                env["DATABASE_URL"] = url
        if not env.get("REDIS_URL"):
            if port_open("127.0.0.1", 6379):
                env["REDIS_URL"] = "redis://127.0.0.1:6379/15"
            else:
                url = start_redis(cleanup)
                if not url:
                    print(
                        "tests need Redis: set REDIS_URL, run it on 127.0.0.1:6379, "
                        "or install it (apt-get install redis-server)",
                        file=sys.stderr,
                    )
                    return 2
                env["REDIS_URL"] = url
        # The suite drives tasks inline unless a test starts a worker itself.
        env.setdefault("CELERY_TASK_ALWAYS_EAGER", "1")
        # Live-server threads must not keep connections that block dropping the test database.
        env.setdefault("DB_CONN_MAX_AGE", "0")
        print(f"tests: database {env['DATABASE_URL']}, redis {env['REDIS_URL']}", flush=True)
        return subprocess.call(argv, env=env)
    finally:
        for step in reversed(cleanup):
            step()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
