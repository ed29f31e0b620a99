"""A real single-node SLURM for the cluster tests (no tests here).

Debian's slurm-wlm 22.05 with munge for authentication and slurmdbd on a
private MariaDB for accounting (sacct), all started as root from a scratch
folder with their own configuration files (``SLURM_CONF``), key and sockets,
on free loopback ports; nothing under /etc is read or changed
(../shared/spec/cluster.md has the configuration this follows). Every daemon
runs in the foreground as a child of this process, so ``stop`` ends each by
its own pid, and the test module's fixture calls it also when a test fails.
"""
import getpass
import os
import shutil
import socket
import subprocess
import time

PACKAGES = ("slurm-wlm", "munge", "slurmdbd", "mariadb-server")
DAEMONS = ("munged", "mungekey", "mariadbd", "mariadb-install-db", "slurmdbd", "slurmctld", "slurmd")
CLIENTS = ("mariadb", "sacctmgr", "sbatch", "squeue", "sacct", "scancel", "sinfo")
_SEARCH = os.environ.get("PATH", "") + ":/usr/sbin:/sbin:/usr/bin"


def which(name):
    return shutil.which(name, path=_SEARCH)


def unavailable_reason():
    """None when a SLURM can be started here (installing it with apt as root if needed), else why not.

    Not root: skipped (the daemons run as root, and installing needs it). As
    root with apt, a failed installation is an error, not a skip.
    """
    if os.geteuid() != 0:
        return "the single-node SLURM runs its daemons as root; this user is %s" % getpass.getuser()
    missing = [name for name in DAEMONS + CLIENTS if which(name) is None]
    if not missing:
        return None
    if which("apt-get") is None:
        return "SLURM is not installed (%s missing) and there is no apt-get to install it" % ", ".join(missing)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + list(PACKAGES)
    result = subprocess.run(install, capture_output=True, text=True, env=env)
    if result.returncode != 0:  # package lists may be missing on a fresh machine
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, env=env)
        result = subprocess.run(install, capture_output=True, text=True, env=env)
    missing = [name for name in DAEMONS + CLIENTS if which(name) is None]
    if result.returncode != 0 or missing:
        raise RuntimeError("apt-get install %s failed (missing: %s):\n%s"
                           % (" ".join(PACKAGES), ", ".join(missing), (result.stdout + result.stderr)[-3000:]))
    return None


def free_ports(count):
    """``count`` distinct TCP ports that are free on the loopback interface right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_until(check, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))


class LocalSlurm:
    """munged, MariaDB, slurmdbd, slurmctld and slurmd in ``root``; ``env`` reaches them."""

    def __init__(self, root):
        self.root = os.path.abspath(root)
        self.host = socket.gethostname().split(".")[0]
        self.processes = []  # (name, Popen), in start order
        self.ports = dict(zip(("slurmctld", "slurmd", "slurmdbd", "mariadb"), free_ports(4)))
        self.conf = os.path.join(self.root, "slurm.conf")
        self.munge_socket = os.path.join(self.root, "munge", "munge.socket")
        self.db_socket = os.path.join(self.root, "db.sock")
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    # --- start ----------------------------------------------------------------------

    def start(self):
        """Start every daemon; on any failure stop those already started and raise."""
        for folder in ("munge", "state", "spool", "log", "db"):
            os.makedirs(self.path(folder), exist_ok=True)
        os.chmod(self.path("munge"), 0o700)
        try:
            self._start_munge()
            self._start_database()
            self._write_configuration()
            self._daemon("slurmdbd", [which("slurmdbd"), "-D"])
            wait_until(lambda: self._port_open(self.ports["slurmdbd"]), 30, "slurmdbd")
            self._client(["sacctmgr", "-i", "add", "cluster", "atnettest"])
            self._daemon("slurmctld", [which("slurmctld"), "-D", "-f", self.conf])
            self._daemon("slurmd", [which("slurmd"), "-D", "-f", self.conf])
            wait_until(lambda: self._client(["sinfo", "-h", "-o", "%T"], check=False).stdout.strip() == "idle",
                       60, "the node to be idle")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_munge(self):
        key = self.path("munge", "munge.key")
        subprocess.run([which("mungekey"), "-c", "-k", key], check=True, capture_output=True)
        self._daemon("munged", [which("munged"), "-F", "--force", "--num-threads=4", "--socket", self.munge_socket,
                                "--key-file", key, "--pid-file", self.path("munge", "munged.pid"),
                                "--log-file", self.path("log", "munged.log"),
                                "--seed-file", self.path("munge", "munged.seed")])
        wait_until(lambda: os.path.exists(self.munge_socket), 20, "munged's socket")

    def _start_database(self):
        subprocess.run([which("mariadb-install-db"), "--no-defaults", "--datadir=" + self.path("db"), "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)
        self._daemon("mariadbd", [which("mariadbd"), "--no-defaults", "--datadir=" + self.path("db"), "--user=root",
                                  "--bind-address=127.0.0.1", "--port=%d" % self.ports["mariadb"],
                                  "--socket=" + self.db_socket, "--pid-file=" + self.path("mariadbd.pid"),
                                  "--log-error=" + self.path("log", "mariadb.log"), "--skip-name-resolve",
                                  "--innodb-buffer-pool-size=64M", "--innodb-lock-wait-timeout=900",
                                  "--innodb-flush-log-at-trx-commit=0"])
        sql = [which("mariadb"), "--no-defaults", "-S", self.db_socket, "-uroot"]
        wait_until(lambda: subprocess.run(sql + ["-e", "select 1"], capture_output=True).returncode == 0, 30,
                   "MariaDB")
        subprocess.run(sql + ["-e", "CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY 'atnet-test'; "
                                    "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"],
                       check=True, capture_output=True)

    def _write_configuration(self):
        with open("/proc/meminfo") as handle:
            memory_mb = int(handle.readline().split()[1]) // 1024
        lines = ["ClusterName=atnettest", "SlurmctldHost=%s(127.0.0.1)" % self.host, "SlurmUser=root",
                 "SlurmdUser=root", "AuthType=auth/munge", "AuthInfo=socket=" + self.munge_socket,
                 "StateSaveLocation=" + self.path("state"), "SlurmdSpoolDir=" + self.path("spool"),
                 "SlurmctldPidFile=" + self.path("slurmctld.pid"), "SlurmdPidFile=" + self.path("slurmd.pid"),
                 "SlurmctldLogFile=" + self.path("log", "slurmctld.log"),
                 "SlurmdLogFile=" + self.path("log", "slurmd.log"),
                 "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SchedulerType=sched/backfill",
                 "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core", "ReturnToService=2",
                 "MpiDefault=none", "JobAcctGatherType=jobacct_gather/none", "MailProg=/bin/true",
                 "SlurmctldPort=%d" % self.ports["slurmctld"], "SlurmdPort=%d" % self.ports["slurmd"],
                 "AccountingStorageType=accounting_storage/slurmdbd", "AccountingStorageHost=127.0.0.1",
                 "AccountingStoragePort=%d" % self.ports["slurmdbd"], "AccountingStoragePass=" + self.munge_socket,
                 "NodeName=%s NodeAddr=127.0.0.1 CPUs=%d RealMemory=%d State=UNKNOWN"
                 % (self.host, os.cpu_count() or 1, memory_mb * 9 // 10),
                 "PartitionName=debug Nodes=%s Default=YES MaxTime=INFINITE State=UP" % self.host]
        with open(self.conf, "w") as handle:
            handle.write("\n".join(lines) + "\n")
        dbd = ["AuthType=auth/munge", "AuthInfo=socket=" + self.munge_socket, "DbdHost=localhost",
               "DbdAddr=127.0.0.1", "DbdPort=%d" % self.ports["slurmdbd"], "SlurmUser=root",
               "PidFile=" + self.path("slurmdbd.pid"), "LogFile=" + self.path("log", "slurmdbd.log"),
               "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1",
               "StoragePort=%d" % self.ports["mariadb"], "StorageUser=slurm", "StoragePass=atnet-test",
               "StorageLoc=slurm_acct_db"]
        path = self.path("slurmdbd.conf")  # slurmdbd reads it beside SLURM_CONF; it must be private
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
            handle.write("\n".join(dbd) + "\n")

    def _daemon(self, name, command):
        log = open(self.path("log", name + ".out"), "ab")
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=self.env)
        log.close()
        self.processes.append((name, process))
        time.sleep(0.2)
        if process.poll() is not None:
            raise RuntimeError("%s exited at once (code %s):\n%s" % (name, process.returncode, self.log_tail(name)))
        return process

    def _port_open(self, port):
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", port)) == 0

    def _client(self, command, check=True):
        result = subprocess.run([which(command[0])] + command[1:], capture_output=True, text=True, env=self.env)
        if check and result.returncode != 0:
            raise RuntimeError("%s failed: %s" % (" ".join(command), result.stderr.strip()))
        return result

    # --- use --------------------------------------------------------------------------

    def sacct(self, job):
        """``{task id: (state, exit code)}`` of a job's tasks from the accounting database."""
        result = self._client(["sacct", "-n", "-P", "-X", "-j", str(job), "-o", "JobID,State,ExitCode"])
        rows = [line.split("|") for line in result.stdout.splitlines() if line.strip()]
        return {row[0]: (row[1], row[2]) for row in rows}

    def queue(self):
        return self._client(["squeue", "-h", "-r", "-o", "%i %T"]).stdout.split("\n")

    def log_tail(self, name, lines=25):
        found = []
        for path in (self.path("log", name + ".log"), self.path("log", name + ".out")):
            if os.path.isfile(path):
                with open(path, errors="replace") as handle:
                    found += handle.readlines()[-lines:]
        return "".join(found)

    # --- stop -------------------------------------------------------------------------

    def stop(self):
        """Cancel every job of this private cluster, then end each daemon by its pid, newest first."""
        if any(name == "slurmctld" and p.poll() is None for name, p in self.processes):
            self._client(["scancel", "--user", getpass.getuser()], check=False)
            try:
                wait_until(lambda: not [j for j in self.queue() if j.strip()], 20, "the jobs to end")
            except RuntimeError:
                pass
        for name, process in reversed(self.processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self.processes = []

    def pids(self):
        return [p.pid for _, p in self.processes]
