"""Static checks of the Terraform in infra/ (no terraform binary needed).

Every .tf file is parsed with python-hcl2 and held against the code it deploys: the settings
(every QUIRE_* name must be a Settings field), docker-compose.yml's service names, the GPU
worker's shutdown contract, the broker's eviction policy, the bucket's protections, the
scaler's metric and the IAM split (only the scaler may publish metrics).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.settings import Settings

hcl2 = pytest.importorskip("hcl2")

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
PROD = INFRA / "envs" / "prod"
SERVICES_TF = MODULES / "services" / "main.tf"
QUIRE_NAME = re.compile(r"\bQUIRE_[A-Z0-9_]+\b")
SERVICE_NAMES = {"api", "worker-cpu", "worker-gpu", "worker-train", "sweeper", "scaler"}


# --- helpers ------------------------------------------------------------------------------------


def _unq(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and block labels: drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


@cache
def _parse(path: Path) -> dict[str, Any]:
    with path.open() as f:
        return hcl2.load(f)


def _tf_files() -> list[Path]:
    return sorted(INFRA.rglob("*.tf"))


def _module_dirs() -> list[Path]:
    return sorted(p for p in MODULES.iterdir() if p.is_dir())


def _blocks(folder: Path, kind: str) -> list[dict[str, Any]]:
    """Every top-level block of one kind (resource, data, variable, module, locals) in a folder."""
    found: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.tf")):
        found.extend(_parse(path).get(kind, []))
    return found


def _labelled(folder: Path, kind: str) -> dict[tuple[str, str], dict[str, Any]]:
    """{(type, name): body} of the resource or data blocks of a folder."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for block in _blocks(folder, kind):
        for rtype, named in block.items():
            for rname, body in named.items():
                out[(_unq(rtype), _unq(rname))] = body
    return out


def _resources(module: str) -> dict[tuple[str, str], dict[str, Any]]:
    return _labelled(MODULES / module, "resource")


def _locals(module: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in _blocks(MODULES / module, "locals"):
        merged.update({k: v for k, v in block.items() if k != "__is_block__"})
    return merged


def _variables(folder: Path) -> set[str]:
    return {_unq(name) for block in _blocks(folder, "variable") for name in block}


def _one(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested block that occurs once (python-hcl2 gives blocks as lists)."""
    value = body[key]
    return value[0] if isinstance(value, list) else value


def _containers() -> dict[str, dict[str, Any]]:
    """Container definitions (locals *_container) by container name."""
    return {
        _unq(v["name"]): v
        for k, v in _locals("services").items()
        if k.endswith("_container") and isinstance(v, dict)
    }


def _prod_modules() -> dict[str, dict[str, Any]]:
    """{name: body} of the module calls in envs/prod."""
    return {_unq(n): body for block in _blocks(PROD, "module") for n, body in block.items()}


def _policy_actions(doc: dict[str, Any]) -> set[str]:
    return {_unq(a) for st in doc.get("statement", []) for a in st.get("actions", [])}


# --- tests --------------------------------------------------------------------------------------


def test_every_tf_file_parses() -> None:
    files = _tf_files()
    assert len(files) >= 20, files
    for path in files:
        assert isinstance(_parse(path), dict), path
    for folder in [*_module_dirs(), PROD]:
        for name in ("main.tf", "variables.tf", "outputs.tf"):
            assert (folder / name).is_file(), folder / name
    assert (PROD / "versions.tf").is_file()
    assert (PROD / "terraform.tfvars.example").is_file()


def test_every_quire_name_in_the_task_definitions_is_a_setting() -> None:
    fields = {f"QUIRE_{name.upper()}" for name in Settings.model_fields}
    names = set(QUIRE_NAME.findall(SERVICES_TF.read_text()))
    assert names, "no QUIRE_* names in the services module"
    assert names <= fields, sorted(names - fields)
    # And each container really sets the production basics.
    for name, container in _containers().items():
        env = {_unq(e["name"]) for e in container_env(container)}
        secrets = {_unq(s["name"]) for s in container_secrets(container)}
        assert {"QUIRE_MODE", "QUIRE_STORE_BACKEND", "QUIRE_S3_BUCKET"} <= env, name
        assert {"QUIRE_DATABASE_URL", "QUIRE_REDIS_URL", "QUIRE_SECRET_KEY"} <= secrets, name
        assert not env & secrets, name


def _resolve_list(value: Any) -> list[dict[str, Any]]:
    """A container's environment/secrets: a literal list, a local, or concat() of locals."""
    if isinstance(value, list):
        return value
    local = _locals("services")
    refs = re.findall(r"local\.([a-z_]+)", value)
    assert refs, value
    out: list[dict[str, Any]] = []
    for ref in refs:
        item = local[ref]
        if isinstance(item, list):
            out.extend(item)
        else:  # concat() of lists with conditionals: the literal part, names found by regex
            out.extend({"name": n} for n in QUIRE_NAME.findall(str(item)))
    return out


def container_env(container: dict[str, Any]) -> list[dict[str, Any]]:
    return _resolve_list(container["environment"])


def container_secrets(container: dict[str, Any]) -> list[dict[str, Any]]:
    return _resolve_list(container["secrets"])


def test_production_values_of_the_task_environment() -> None:
    local = _locals("services")
    common = {_unq(e["name"]): _unq(e["value"]) for e in local["common_environment"]}
    assert common["QUIRE_MODE"] == "production"
    assert common["QUIRE_STORE_BACKEND"] == "s3"
    scaler = {_unq(e["name"]): _unq(e["value"]) for e in local["scaler_environment"]}
    assert scaler["QUIRE_SCALER_PUBLISH"] == "true"
    assert scaler["QUIRE_SCALER_SERVICE_NAME"] == "${local.gpu_service}"
    assert _unq(local["gpu_service"]) == "worker-gpu"
    assert scaler["QUIRE_CLOUDWATCH_NAMESPACE"] == Settings().cloudwatch_namespace == "Quire"
    scaler_env = _containers()["scaler"]["environment"]
    assert "local.scaler_environment" in scaler_env


def test_modules_exist_and_get_only_declared_variables() -> None:
    modules = _blocks(PROD, "module")
    called = {}
    for block in modules:
        for name, body in block.items():
            called[_unq(name)] = body
    assert set(called) == {d.name for d in _module_dirs()}
    prod_vars = _variables(PROD)
    for name, body in called.items():
        source = (PROD / _unq(body["source"])).resolve()
        assert source.is_dir(), (name, source)
        declared = _variables(source)
        passed = {k for k in body if k not in {"source", "__is_block__"}}
        assert passed <= declared, (name, sorted(passed - declared))
        for key, value in body.items():  # var.X used in prod must be declared in prod
            for ref in re.findall(r"var\.([a-z0-9_]+)", str(value)):
                assert ref in prod_vars, (name, key, ref)
    # Every module.X.Y output used anywhere in prod is declared in module X.
    text = "\n".join(p.read_text() for p in PROD.glob("*.tf"))
    for mod, output in set(re.findall(r"module\.([a-z_]+)\.([a-z0-9_]+)", text)):
        source = (PROD / _unq(called[mod]["source"])).resolve()
        outputs = {_unq(n) for b in _blocks(source, "output") for n in b}
        assert output in outputs, (mod, output)


def test_module_variables_without_default_are_passed() -> None:
    for block in _blocks(PROD, "module"):
        for name, body in block.items():
            source = (PROD / _unq(body["source"])).resolve()
            for vblock in _blocks(source, "variable"):
                for vname, vbody in vblock.items():
                    if "default" not in vbody:
                        assert _unq(vname) in body, (_unq(name), _unq(vname))


def test_gpu_service_asks_for_a_gpu_and_outlasts_the_soft_shutdown() -> None:
    gpu = _containers()["worker-gpu"]
    requirements = [{k: _unq(v) for k, v in r.items()} for r in gpu["resourceRequirements"]]
    assert requirements == [{"type": "GPU", "value": "1"}]
    soft = Settings.model_fields["worker_soft_shutdown_seconds"].default
    assert int(gpu["stopTimeout"]) > soft
    resources = _resources("services")
    service = resources[("aws_ecs_service", "worker_gpu")]
    strategy = _one(service, "capacity_provider_strategy")
    assert strategy["capacity_provider"] == "${var.gpu_capacity_provider_name}"
    taskdef = resources[("aws_ecs_task_definition", "worker_gpu")]
    assert [_unq(c) for c in taskdef["requires_compatibilities"]] == ["EC2"]
    assert "local.worker_gpu_container" in taskdef["container_definitions"]


def test_train_service_trains_on_a_gpu_and_outlasts_the_soft_shutdown() -> None:
    from worker.scaling.scaler import TRAIN_SERVICE

    train = _containers()["worker-train"]
    assert [_unq(a) for a in train["command"]] == ["quire", "worker", "--queues", "train"]
    requirements = [{k: _unq(v) for k, v in r.items()} for r in train["resourceRequirements"]]
    assert requirements == [{"type": "GPU", "value": "1"}]
    env = {_unq(e["name"]): _unq(e.get("value")) for e in container_env(train)}
    assert env["QUIRE_TRAINING_DEVICE"] == "cuda"
    soft = Settings.model_fields["worker_soft_shutdown_seconds"].default
    assert int(train["stopTimeout"]) > soft
    resources = _resources("services")
    service = resources[("aws_ecs_service", "worker_train")]
    assert service["name"] == "${local.train_service}"
    assert _unq(_locals("services")["train_service"]) == TRAIN_SERVICE == "worker-train"
    strategy = _one(service, "capacity_provider_strategy")
    assert strategy["capacity_provider"] == "${var.gpu_capacity_provider_name}"
    assert service["desired_count"] == 0  # the scaling module owns the count
    assert "desired_count" in str(_one(service, "lifecycle")["ignore_changes"])
    taskdef = resources[("aws_ecs_task_definition", "worker_train")]
    assert [_unq(c) for c in taskdef["requires_compatibilities"]] == ["EC2"]
    assert "local.worker_train_container" in taskdef["container_definitions"]
    assert taskdef["task_role_arn"] == '${aws_iam_role.task["worker-train"].arn}'
    # The GPU instances hold both GPU services' tasks, one each.
    assert "var.train_max_tasks" in _prod_modules()["ecs"]["gpu_max_instances"]


def test_cpu_worker_stop_timeout_outlasts_the_soft_shutdown() -> None:
    variables = {
        _unq(n): b for blk in _blocks(MODULES / "services", "variable") for n, b in blk.items()
    }
    assert (
        variables["worker_stop_timeout_seconds"]["default"]
        > variables["worker_soft_shutdown_seconds"]["default"]
    )
    assert variables["worker_soft_shutdown_seconds"]["default"] == (
        Settings.model_fields["worker_soft_shutdown_seconds"].default
    )


def test_gpu_capacity_from_the_gpu_ami_with_warm_pool_and_managed_scaling() -> None:
    data = _labelled(MODULES / "ecs", "data")
    ami = data[("aws_ssm_parameter", "gpu_ami")]
    assert (
        _unq(ami["name"])
        == "/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id"
    )
    res = _resources("ecs")
    asg = res[("aws_autoscaling_group", "gpu")]
    assert asg["protect_from_scale_in"] is True
    assert _one(asg, "warm_pool")
    provider = _one(res[("aws_ecs_capacity_provider", "gpu")], "auto_scaling_group_provider")
    assert _unq(provider["managed_termination_protection"]) == "ENABLED"
    assert _unq(_one(provider, "managed_scaling")["status"]) == "ENABLED"
    cluster = res[("aws_ecs_cluster", "this")]
    setting = _one(cluster, "setting")
    assert (_unq(setting["name"]), _unq(setting["value"])) == ("containerInsights", "enabled")


def test_redis_parameter_group_sets_noeviction() -> None:
    group = _resources("data")[("aws_elasticache_parameter_group", "this")]
    params = {_unq(p["name"]): _unq(p["value"]) for p in group["parameter"]}
    assert params["maxmemory-policy"] == "noeviction"
    assert _unq(group["family"]) == "redis7"
    redis = _resources("data")[("aws_elasticache_replication_group", "this")]
    assert redis["transit_encryption_enabled"] is True
    assert redis["at_rest_encryption_enabled"] is True


def test_database_is_postgres_16_encrypted_with_backups() -> None:
    db = _resources("data")[("aws_db_instance", "this")]
    assert _unq(db["engine"]) == "postgres"
    assert _unq(db["engine_version"]).split(".")[0] == "16"
    assert db["storage_encrypted"] is True
    assert db["backup_retention_period"] == "${var.db_backup_retention_days}"
    assert db["multi_az"] == "${var.db_multi_az}"
    assert db["publicly_accessible"] is False


def test_bucket_has_versioning_sse_kms_lifecycle_and_no_public_access() -> None:
    res = _resources("data")
    versioning = _one(res[("aws_s3_bucket_versioning", "store")], "versioning_configuration")
    assert _unq(versioning["status"]) == "Enabled"
    sse = _one(res[("aws_s3_bucket_server_side_encryption_configuration", "store")], "rule")
    default = _one(sse, "apply_server_side_encryption_by_default")
    assert _unq(default["sse_algorithm"]) == "aws:kms"
    assert default["kms_master_key_id"] == "${aws_kms_key.this.arn}"
    lifecycle = _one(res[("aws_s3_bucket_lifecycle_configuration", "store")], "rule")
    assert _unq(lifecycle["status"]) == "Enabled"
    assert _one(lifecycle, "noncurrent_version_expiration")
    block = res[("aws_s3_bucket_public_access_block", "store")]
    for key in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[key] is True, key


def test_scaling_targets_backlog_per_task_in_the_quire_namespace() -> None:
    res = _resources("scaling")
    policy = res[("aws_appautoscaling_policy", "backlog_per_task")]
    assert _unq(policy["policy_type"]) == "TargetTrackingScaling"
    config = _one(policy, "target_tracking_scaling_policy_configuration")
    metric = _one(config, "customized_metric_specification")
    assert _unq(metric["metric_name"]) == "BacklogPerTask"
    assert _unq(metric["namespace"]) == "Quire" == Settings().cloudwatch_namespace
    dimension = _one(metric, "dimensions")
    assert _unq(dimension["name"]) == "Service"
    target = res[("aws_appautoscaling_target", "gpu")]
    assert target["min_capacity"] == "${var.min_capacity}"
    assert target["max_capacity"] == "${var.max_capacity}"
    step = res[("aws_appautoscaling_policy", "from_zero")]
    assert _unq(step["policy_type"]) == "StepScaling"
    alarm = res[("aws_cloudwatch_metric_alarm", "from_zero")]
    assert "aws_appautoscaling_policy.from_zero.arn" in str(alarm["alarm_actions"])
    metrics = {
        _unq(_one(q, "metric")["metric_name"]) for q in alarm["metric_query"] if "metric" in q
    }
    assert {"Backlog", "RunningWorkers"} <= metrics


def test_train_service_is_sized_on_the_trainings_it_needs() -> None:
    res = _resources("scaling")
    target = res[("aws_appautoscaling_target", "train")]
    assert _unq(target["resource_id"]) == "service/${var.cluster_name}/${var.train_service_name}"
    assert (target["min_capacity"], target["max_capacity"]) == (0, "${var.train_max_capacity}")
    policy = res[("aws_appautoscaling_policy", "train_size")]
    assert _unq(policy["policy_type"]) == "StepScaling"
    config = _one(policy, "step_scaling_policy_configuration")
    assert _unq(config["adjustment_type"]) == "ExactCapacity"
    alarm = res[("aws_cloudwatch_metric_alarm", "train_size")]
    assert "aws_appautoscaling_policy.train_size.arn" in str(alarm["alarm_actions"])
    metrics = {
        _unq(_one(q, "metric")["metric_name"]): _one(q, "metric")
        for q in alarm["metric_query"]
        if "metric" in q
    }
    needed = metrics["WorkersNeeded"]
    assert needed["namespace"] == "${local.namespace}"
    assert _unq(_locals("scaling")["namespace"]) == "Quire" == Settings().cloudwatch_namespace
    assert needed["dimensions"] == {"Service": "${var.train_service_name}"}
    scaling = _prod_modules()["scaling"]
    assert scaling["train_service_name"] == "${module.services.train_service_name}"


def test_metric_names_match_the_scaler() -> None:
    from worker.scaling.scaler import (
        QueueMetrics,
        TrainingMetrics,
        metric_data,
        training_metric_data,
    )

    published = {d["MetricName"] for d in metric_data(QueueMetrics(1, 0, 0, 0), "worker-gpu")}
    published |= {
        d["MetricName"] for d in training_metric_data(TrainingMetrics(0, 0, 0), "worker-train")
    }
    text = "\n".join(p.read_text() for p in (MODULES / "monitoring").glob("*.tf"))
    text += "\n".join(p.read_text() for p in (MODULES / "scaling").glob("*.tf"))
    names = "Backlog|InFlight|RunningWorkers|BusyWorkers|BacklogPerTask|WorkersNeeded"
    used = set(re.findall(rf'"({names})"', text))
    assert used == published


def test_service_names_match_compose() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    long_running = {
        name
        for name, svc in compose["services"].items()
        if svc.get("restart") == "unless-stopped" and name not in {"redis", "postgres", "s3"}
    }
    assert long_running == SERVICE_NAMES
    res = _resources("services")
    local = _locals("services")
    names = {
        _unq(local[ref.group(1)])
        if (ref := re.fullmatch(r"\$\{local\.(\w+)\}", body["name"]))
        else _unq(body["name"])
        for (rtype, _), body in res.items()
        if rtype == "aws_ecs_service"
    }
    assert names == SERVICE_NAMES
    assert {_unq(n) for n in _locals("services")["service_names"]} == SERVICE_NAMES
    assert set(_containers()) == SERVICE_NAMES


def test_only_the_scaler_may_put_metric_data() -> None:
    docs = _labelled(MODULES / "services", "data")
    res = _resources("services")
    publishers = set()
    for (rtype, rname), body in res.items():
        if rtype != "aws_iam_role_policy":
            continue
        doc_name = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", body["policy"])
        assert doc_name, body["policy"]
        actions = _policy_actions(docs[("aws_iam_policy_document", doc_name.group(1))])
        assert not any(a.endswith(":*") or a == "*" for a in actions), (rname, actions)
        if "cloudwatch:PutMetricData" in actions:
            publishers.add(body["role"])
    assert publishers == {'${aws_iam_role.task["scaler"].id}'}
    # No other module grants it either.
    for module in _module_dirs():
        if module.name != "services":
            assert "PutMetricData" not in "".join(p.read_text() for p in module.glob("*.tf"))


def test_task_s3_access_is_limited_to_the_bucket() -> None:
    docs = _labelled(MODULES / "services", "data")
    for (_, name), doc in docs.items():
        if not name.startswith("task_"):
            continue
        for statement in doc.get("statement", []):
            actions = [_unq(a) for a in statement["actions"]]
            if any(a.startswith("s3:") for a in actions):
                for resource in statement["resources"]:
                    assert _unq(resource).startswith("${var.bucket_arn"), (name, resource)
            if any(a.startswith("kms:") for a in actions):
                assert statement["resources"] == ["${var.kms_key_arn}"], name


def test_execution_role_reads_only_the_quire_secrets() -> None:
    doc = _labelled(MODULES / "services", "data")[("aws_iam_policy_document", "execution_secrets")]
    (read,) = [s for s in doc["statement"] if "secretsmanager:GetSecretValue" in s["actions"][0]]
    assert "*" not in read["resources"]
    assert len(read["resources"]) == 3


def test_alb_health_check_is_healthz() -> None:
    group = _resources("services")[("aws_lb_target_group", "api")]
    assert _unq(_one(group, "health_check")["path"]) == "/healthz"


def test_log_groups_have_retention() -> None:
    for module in _module_dirs():
        for (rtype, name), body in _resources(module.name).items():
            if rtype == "aws_cloudwatch_log_group":
                assert "retention_in_days" in body, (module.name, name)


@pytest.mark.parametrize(
    ("role", "needed"),
    [
        # prepare_job writes page images, ingest_batch archive members, import_dataset zips.
        ("task_worker_cpu", {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}),
        ("task_worker_gpu", {"s3:GetObject"}),  # page images and models, trained ones too
    ],
)
def test_workers_may_do_what_their_steps_do_in_the_store(role: str, needed: set[str]) -> None:
    doc = _labelled(MODULES / "services", "data")[("aws_iam_policy_document", role)]
    assert needed <= _policy_actions(doc)
