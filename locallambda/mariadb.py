"""A throwaway MariaDB server on loopback, standing in for RDS MySQL.

Own datadir, port and socket under a temporary folder; no system service, no config file read (--no-defaults).
The datadir is created with `mariadbd --bootstrap` from the system-table scripts the Debian package ships (no
mariadb-install-db, which needs the client tools), together with the database, user and rows asked for. The server
dies with the process that started it (PR_SET_PDEATHSIG), so a crashed test run leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from harness import free_port

SYSTEM_TABLES = [Path("/usr/share/mysql/mysql_system_tables.sql"), Path("/usr/share/mysql/mysql_system_tables_data.sql")]
# Small InnoDB files: a throwaway instance needs megabytes, not the default ~100 MB of redo log.
SMALL = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M", "--log-warnings=0"]


def mariadbd() -> str:
    found = shutil.which("mariadbd") or shutil.which("mariadbd", path="/usr/sbin:/usr/local/sbin")
    if found is None or not all(p.is_file() for p in SYSTEM_TABLES):
        raise RuntimeError("MariaDB is not installed: apt-get install mariadb-server-core (part of mariadb-server)")
    return found


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class TempMariaDB:
    """`with TempMariaDB(folder, "appdb", "app", "pw", ["CREATE TABLE ...", ...]) as db:` -> db.port."""

    def __init__(self, folder: Path, database: str, user: str, password: str, statements: list[str] = ()):
        self.folder, self.database, self.user, self.password = Path(folder), database, user, password
        self.statements = list(statements)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = self.folder / "mariadb.log"
        self.user_args = ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses root unless told

    def _bootstrap_sql(self) -> bytes:
        # --bootstrap reads one statement per line: the system tables, then the grant tables are loaded
        # (FLUSH PRIVILEGES) so that CREATE USER works, then the caller's schema and rows.
        lines = ["CREATE DATABASE IF NOT EXISTS mysql;", "USE mysql;"]
        lines += [p.read_text() for p in SYSTEM_TABLES]
        lines += [
            "FLUSH PRIVILEGES;",
            f"CREATE DATABASE `{self.database}`;",
            f"CREATE USER {_quote(self.user)}@'127.0.0.1' IDENTIFIED BY {_quote(self.password)};",
            f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `{self.database}`.* TO {_quote(self.user)}@'127.0.0.1';",
            f"USE `{self.database}`;",
        ]
        lines += [s.rstrip(";") + ";" for s in self.statements]
        return "\n".join(lines).encode() + b"\n"

    def start(self, timeout: float = 60) -> TempMariaDB:
        binary = mariadbd()
        data = self.folder / "data"
        data.mkdir(parents=True)
        with open(self.log_path, "ab") as log:
            subprocess.run([binary, "--no-defaults", "--bootstrap", f"--datadir={data}", *self.user_args, *SMALL],
                           input=self._bootstrap_sql(), stdout=log, stderr=subprocess.STDOUT, check=True, timeout=timeout)
            self.proc = subprocess.Popen(
                [binary, "--no-defaults", f"--datadir={data}", *self.user_args, *SMALL,
                 "--bind-address=127.0.0.1", f"--port={self.port}", f"--socket={self.folder / 'mysqld.sock'}",
                 f"--pid-file={self.folder / 'mysqld.pid'}", "--skip-name-resolve", "--skip-log-bin"],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mariadbd exited with {self.proc.returncode}:\n{self.output()[-3000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError(f"mariadbd did not listen on {self.port} within {timeout}s") from None
                time.sleep(0.05)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 30) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # a clean InnoDB shutdown
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> TempMariaDB:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
