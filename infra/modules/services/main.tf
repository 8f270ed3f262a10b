# The six quire services of docker-compose.yml on ECS: api (Fargate, behind the ALB),
# worker-cpu, sweeper and scaler (Fargate), worker-gpu and worker-train (EC2 GPU capacity
# provider).
# Every QUIRE_* name below is a field of shared.settings.Settings (tests/unit/test_infra.py).

locals {
  service_names = ["api", "worker-cpu", "worker-gpu", "worker-train", "sweeper", "scaler"]
  gpu_service   = "worker-gpu"
  # Also the Service dimension the scaler publishes the train queue under (TRAIN_SERVICE in
  # worker/scaling/scaler.py).
  train_service = "worker-train"

  # Plain settings shared by every process. Production mode refuses the dev secret, SQLite,
  # a missing Redis URL and the local store at start.
  common_environment = [
    { name = "QUIRE_MODE", value = "production" },
    { name = "QUIRE_STORE_BACKEND", value = "s3" },
    { name = "QUIRE_S3_BUCKET", value = var.bucket_name },
    { name = "QUIRE_S3_REGION", value = var.region },
    { name = "QUIRE_PUBLIC_BASE_URL", value = var.public_base_url },
    { name = "QUIRE_LOG_FORMAT", value = "json" },
    { name = "QUIRE_LOG_LEVEL", value = var.log_level },
    { name = "QUIRE_WORKER_SOFT_SHUTDOWN_SECONDS", value = tostring(var.worker_soft_shutdown_seconds) },
  ]

  # Injected by the ECS agent from Secrets Manager with the execution role.
  common_secrets = [
    { name = "QUIRE_DATABASE_URL", valueFrom = var.database_url_secret_arn },
    { name = "QUIRE_REDIS_URL", valueFrom = var.redis_url_secret_arn },
    { name = "QUIRE_SECRET_KEY", valueFrom = aws_secretsmanager_secret.secret_key.arn },
  ]

  gpu_environment = concat(
    [
      { name = "QUIRE_ENGINE", value = var.gpu_engine },
      { name = "QUIRE_DEVICE", value = "cuda" },
      { name = "QUIRE_GPU_CONCURRENCY", value = tostring(var.gpu_concurrency) },
      # /models is a host folder on the instance: the S3 model cache survives task restarts
      # and warm-pool stop/start.
      { name = "QUIRE_MODEL_CACHE_DIR", value = "/models/cache" },
    ],
    var.detector_model == null ? [] : [{ name = "QUIRE_DETECTOR_MODEL", value = var.detector_model }],
    var.recognizer_model == null ? [] : [{ name = "QUIRE_RECOGNIZER_MODEL", value = var.recognizer_model }],
  )

  # Trainings on the instance's T4; the rest (lease, attempts, threads) keeps its defaults.
  train_environment = [
    { name = "QUIRE_TRAINING_DEVICE", value = "cuda" },
  ]

  scaler_environment = [
    { name = "QUIRE_SCALER_PUBLISH", value = "true" },
    { name = "QUIRE_SCALER_SERVICE_NAME", value = local.gpu_service },
    { name = "QUIRE_CLOUDWATCH_NAMESPACE", value = "Quire" },
  ]

  log_options = {
    for s in local.service_names : s => {
      logDriver = "awslogs"
      options = {
        "awslogs-group"         = "/quire/${var.name}/${s}"
        "awslogs-region"        = var.region
        "awslogs-stream-prefix" = s
      }
    }
  }

  api_container = {
    name         = "api"
    image        = var.api_image
    essential    = true
    command      = ["quire", "api", "--host", "0.0.0.0", "--port", "8000"]
    environment  = local.common_environment
    secrets      = local.common_secrets
    portMappings = [{ containerPort = 8000, protocol = "tcp" }]
    healthCheck = {
      command     = ["CMD", "python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 20
    }
    logConfiguration = local.log_options["api"]
  }

  worker_cpu_container = {
    name             = "worker-cpu"
    image            = var.worker_image
    essential        = true
    command          = ["quire", "worker", "--queues", "cpu"]
    environment      = local.common_environment
    secrets          = local.common_secrets
    stopTimeout      = var.worker_stop_timeout_seconds
    logConfiguration = local.log_options["worker-cpu"]
  }

  worker_gpu_container = {
    name        = "worker-gpu"
    image       = var.worker_image
    essential   = true
    command     = ["quire", "worker", "--queues", "gpu"]
    environment = concat(local.common_environment, local.gpu_environment)
    secrets     = local.common_secrets
    # SIGTERM -> Celery soft shutdown (QUIRE_WORKER_SOFT_SHUTDOWN_SECONDS = 60) -> SIGKILL
    # after stopTimeout: 120 leaves a margin for the cold shutdown that hands unacknowledged
    # pages back to Redis.
    stopTimeout          = 120
    resourceRequirements = [{ type = "GPU", value = "1" }]
    mountPoints          = [{ sourceVolume = "models", containerPath = "/models", readOnly = false }]
    logConfiguration     = local.log_options["worker-gpu"]
  }

  worker_train_container = {
    name        = "worker-train"
    image       = var.worker_image
    essential   = true
    command     = ["quire", "worker", "--queues", "train"]
    environment = concat(local.common_environment, local.train_environment)
    secrets     = local.common_secrets
    # The epoch in progress is not awaited (it can take an hour and the worker has no
    # stop-at-epoch hook): SIGTERM -> 60 s soft shutdown -> the message goes back; the
    # per-epoch checkpoint caps the loss at one epoch. 120 s outlasts the soft shutdown.
    stopTimeout          = 120
    resourceRequirements = [{ type = "GPU", value = "1" }]
    # Detector training passes batches between data-loading processes through /dev/shm
    # (Docker's default is 64 MiB). EC2 launch type only.
    linuxParameters  = { sharedMemorySize = var.train_shared_memory_mib }
    logConfiguration = local.log_options["worker-train"]
  }

  sweeper_container = {
    name             = "sweeper"
    image            = var.worker_image
    essential        = true
    command          = ["quire", "sweeper"]
    environment      = local.common_environment
    secrets          = local.common_secrets
    logConfiguration = local.log_options["sweeper"]
  }

  scaler_container = {
    name             = "scaler"
    image            = var.worker_image
    essential        = true
    command          = ["quire", "scaler"]
    environment      = concat(local.common_environment, local.scaler_environment)
    secrets          = local.common_secrets
    logConfiguration = local.log_options["scaler"]
  }
}

data "aws_caller_identity" "current" {}

# --- QUIRE_SECRET_KEY ------------------------------------------------------------------------------

resource "random_password" "secret_key" {
  length  = 64
  special = false
}

resource "aws_secretsmanager_secret" "secret_key" {
  name_prefix = "${var.name}/secret-key-"
  description = "QUIRE_SECRET_KEY: pepper of the API key hashes (changing it invalidates every key)"
  kms_key_id  = var.kms_key_arn
  #checkov:skip=CKV2_AWS_57:Rotating the pepper invalidates every issued API key; it is rotated deliberately, never on a schedule.
  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "secret_key" {
  secret_id     = aws_secretsmanager_secret.secret_key.id
  secret_string = random_password.secret_key.result

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# --- logs --------------------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "service" {
  for_each          = toset(local.service_names)
  name              = "/quire/${var.name}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
  #checkov:skip=CKV_AWS_338:90 days is the chosen retention for application logs (log_retention_days).
  tags = var.tags
}

# --- IAM: one execution role, one task role per service ----------------------------------------------

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-exec-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "execution" {
  role       = aws_iam_role.execution.name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
}

data "aws_iam_policy_document" "execution_secrets" {
  statement {
    sid     = "ReadQuireSecrets"
    actions = ["secretsmanager:GetSecretValue"]
    resources = [
      var.database_url_secret_arn,
      var.redis_url_secret_arn,
      aws_secretsmanager_secret.secret_key.arn,
    ]
  }
  statement {
    sid       = "DecryptQuireSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execution_secrets" {
  name   = "quire-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution_secrets.json
}

resource "aws_iam_role" "task" {
  for_each           = toset(local.service_names)
  name_prefix        = "${var.name}-${each.key}-"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_assume.json
  tags               = var.tags
}

# api: stores uploads (single and multipart PUT) and deletes them when a submission fails;
# DELETE of a job or batch purges its objects, every version of each (see PurgeObjects).
data "aws_iam_policy_document" "task_api" {
  statement {
    sid       = "StoreUploads"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/*"]
  }
  statement {
    sid       = "PurgeObjects"
    actions   = ["s3:DeleteObjectVersion"]
    resources = ["${var.bucket_arn}/*"]
  }
  statement {
    sid       = "ListForPurge"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"]
    resources = [var.bucket_arn]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

# worker-cpu: reads an upload and writes its page images (prepare_job), writes each archive
# member as a job's file and deletes what a failed ingest left (ingest_batch), and writes the
# zip a dataset made from a batch is imported from (import_dataset).
data "aws_iam_policy_document" "task_worker_cpu" {
  statement {
    sid       = "ReadUploads"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/*"]
  }
  statement {
    sid       = "WritePagesMembersDatasets"
    actions   = ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${var.bucket_arn}/*"]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

# worker-gpu: reads page images and the models (a TrOCR folder is listed under its prefix), and
# sets its own scale-in protection through the ECS agent, which calls UpdateTaskProtection
# with the task role's credentials.
data "aws_iam_policy_document" "task_worker_gpu" {
  statement {
    sid       = "ReadObjectsAndModels"
    actions   = ["s3:GetObject"]
    resources = ["${var.bucket_arn}/*"]
  }
  statement {
    sid       = "ListModels"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.models_prefix}*"]
    }
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  statement {
    sid       = "OwnScaleInProtection"
    actions   = ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
    resources = ["arn:aws:ecs:${var.region}:${data.aws_caller_identity.current.account_id}:task/${var.cluster_name}/*"]
  }
}

# worker-train: reads datasets and base models, writes a checkpoint every epoch and the trained
# weights, and deletes the checkpoint at the end (the store deletes every version of a key,
# which it finds by listing).
data "aws_iam_policy_document" "task_worker_train" {
  statement {
    sid       = "DatasetsCheckpointsModels"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = ["${var.bucket_arn}/*"]
  }
  # Also makes a missing checkpoint a 404 rather than a 403 (HeadObject without ListBucket).
  statement {
    sid       = "ListForCheckpoints"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"]
    resources = [var.bucket_arn]
  }
  statement {
    sid       = "BucketKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
  # While a training runs the worker protects its own task from scale-in (ECS agent).
  statement {
    sid       = "OwnScaleInProtection"
    actions   = ["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"]
    resources = ["arn:aws:ecs:${var.region}:${data.aws_caller_identity.current.account_id}:task/${var.cluster_name}/*"]
  }
}

# scaler: the only role that may publish metrics, and only into the Quire namespace.
data "aws_iam_policy_document" "task_scaler" {
  statement {
    sid       = "PublishQuireMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["Quire"]
    }
  }
}

# sweeper: webhook retries and reconciling (database and Redis), and the retention purge:
# it lists and deletes expired objects, every version and delete marker of each.
data "aws_iam_policy_document" "task_sweeper" {
  statement {
    sid       = "PurgeObjects"
    actions   = ["s3:DeleteObject", "s3:DeleteObjectVersion"]
    resources = ["${var.bucket_arn}/*"]
  }
  statement {
    sid       = "ListForPurge"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketVersioning"]
    resources = [var.bucket_arn]
  }
}

resource "aws_iam_role_policy" "task_api" {
  name   = "quire-api"
  role   = aws_iam_role.task["api"].id
  policy = data.aws_iam_policy_document.task_api.json
}

resource "aws_iam_role_policy" "task_worker_cpu" {
  name   = "quire-worker-cpu"
  role   = aws_iam_role.task["worker-cpu"].id
  policy = data.aws_iam_policy_document.task_worker_cpu.json
}

resource "aws_iam_role_policy" "task_worker_gpu" {
  name   = "quire-worker-gpu"
  role   = aws_iam_role.task["worker-gpu"].id
  policy = data.aws_iam_policy_document.task_worker_gpu.json
}

resource "aws_iam_role_policy" "task_worker_train" {
  name   = "quire-worker-train"
  role   = aws_iam_role.task["worker-train"].id
  policy = data.aws_iam_policy_document.task_worker_train.json
}

resource "aws_iam_role_policy" "task_sweeper" {
  name   = "quire-sweeper"
  role   = aws_iam_role.task["sweeper"].id
  policy = data.aws_iam_policy_document.task_sweeper.json
}

resource "aws_iam_role_policy" "task_scaler" {
  name   = "quire-scaler"
  role   = aws_iam_role.task["scaler"].id
  policy = data.aws_iam_policy_document.task_scaler.json
}

# --- load balancer -------------------------------------------------------------------------------------

resource "aws_lb" "api" {
  name                       = substr("${var.name}-api", 0, 32)
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.public_subnet_ids
  security_groups            = [var.alb_security_group_id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  # Uploads run up to QUIRE_MAX_UPLOAD_MB (50 MB) on slow links.
  idle_timeout = 120
  #checkov:skip=CKV_AWS_91:ALB access logs need a separate log bucket; enable when an audit trail of requests is required.
  #checkov:skip=CKV2_AWS_28:No WAF in this baseline; the API authenticates every request with a bearer key.
  tags = var.tags
}

resource "aws_lb_target_group" "api" {
  #checkov:skip=CKV_AWS_378:TLS ends at the ALB; the API serves plain HTTP on 8000 inside private subnets, reachable only from the ALB's security group.
  name                 = substr("${var.name}-api", 0, 32)
  port                 = 8000
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 30

  # Liveness only: /readyz checks the database, broker and store, and a shared outage there
  # must not make the ALB drain every task at once.
  health_check {
    path                = "/healthz"
    matcher             = "200"
    interval            = 15
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 3
  }

  tags = var.tags
}

resource "aws_lb_listener" "https" {
  count             = var.certificate_arn == null ? 0 : 1
  load_balancer_arn = aws_lb.api.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.api.arn
  port              = 80
  protocol          = "HTTP"
  #checkov:skip=CKV_AWS_2:Port 80 redirects to HTTPS whenever certificate_arn is set; plain forwarding is only for a first test without a certificate.
  #checkov:skip=CKV_AWS_103:TLS policy is set on the HTTPS listener; this one is HTTP.
  #checkov:skip=CKV2_AWS_20:Redirects to HTTPS whenever certificate_arn is set.

  default_action {
    type             = var.certificate_arn == null ? "forward" : "redirect"
    target_group_arn = var.certificate_arn == null ? aws_lb_target_group.api.arn : null

    dynamic "redirect" {
      for_each = var.certificate_arn == null ? [] : [1]
      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

# --- task definitions -------------------------------------------------------------------------------

resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 512
  memory                   = 1024
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task["api"].arn
  container_definitions    = jsonencode([local.api_container])
  #checkov:skip=CKV_AWS_336:The app writes its data dir (/var/lib/quire) and temp files; a read-only root needs those as volumes first.

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "worker_cpu" {
  family                   = "${var.name}-worker-cpu"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 1024
  memory                   = 4096
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task["worker-cpu"].arn
  container_definitions    = jsonencode([local.worker_cpu_container])
  #checkov:skip=CKV_AWS_336:The app writes its data dir (/var/lib/quire) and temp files; a read-only root needs those as volumes first.

  # The worker image carries torch and CUDA libraries: more than Fargate's default 20 GiB.
  ephemeral_storage {
    size_in_gib = 40
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "sweeper" {
  family                   = "${var.name}-sweeper"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task["sweeper"].arn
  container_definitions    = jsonencode([local.sweeper_container])
  #checkov:skip=CKV_AWS_336:The app writes its data dir (/var/lib/quire) and temp files; a read-only root needs those as volumes first.

  ephemeral_storage {
    size_in_gib = 40
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "scaler" {
  family                   = "${var.name}-scaler"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task["scaler"].arn
  container_definitions    = jsonencode([local.scaler_container])
  #checkov:skip=CKV_AWS_336:The app writes its data dir (/var/lib/quire) and temp files; a read-only root needs those as volumes first.

  ephemeral_storage {
    size_in_gib = 40
  }

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "worker_gpu" {
  family                   = "${var.name}-worker-gpu"
  requires_compatibilities = ["EC2"]
  network_mode             = "awsvpc"
  # g4dn.xlarge: 4 vCPU, 16 GiB, one T4; leave room for the ECS agent and the OS.
  cpu                   = 3584
  memory                = 14336
  execution_role_arn    = aws_iam_role.execution.arn
  task_role_arn         = aws_iam_role.task["worker-gpu"].arn
  container_definitions = jsonencode([local.worker_gpu_container])
  #checkov:skip=CKV_AWS_336:The app writes its data dir (/var/lib/quire) and temp files; a read-only root needs those as volumes first.

  volume {
    name      = "models"
    host_path = "/var/lib/quire/models"
  }

  tags = var.tags
}

resource "aws_ecs_task_definition" "worker_train" {
  family                   = "${var.name}-worker-train"
  requires_compatibilities = ["EC2"]
  network_mode             = "awsvpc"
  # The GPU instance type's whole share, as for worker-gpu: one task per instance.
  cpu                   = 3584
  memory                = 14336
  execution_role_arn    = aws_iam_role.execution.arn
  task_role_arn         = aws_iam_role.task["worker-train"].arn
  container_definitions = jsonencode([local.worker_train_container])
  #checkov:skip=CKV_AWS_336:The app writes its data dir (/var/lib/quire) and temp files; a read-only root needs those as volumes first.

  tags = var.tags
}

# --- services -----------------------------------------------------------------------------------------

resource "aws_ecs_service" "api" {
  name                              = "api"
  cluster                           = var.cluster_arn
  task_definition                   = aws_ecs_task_definition.api.arn
  desired_count                     = var.api_desired_count
  launch_type                       = "FARGATE"
  health_check_grace_period_seconds = 30
  propagate_tags                    = "SERVICE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.api_security_group_id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "api"
    container_port   = 8000
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  depends_on = [aws_lb_listener.http]
  tags       = var.tags
}

resource "aws_ecs_service" "worker_cpu" {
  name            = "worker-cpu"
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.worker_cpu.arn
  desired_count   = var.worker_cpu_desired_count
  launch_type     = "FARGATE"
  propagate_tags  = "SERVICE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.workers_security_group_id]
    assign_public_ip = false
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  tags = var.tags
}

resource "aws_ecs_service" "sweeper" {
  name            = "sweeper"
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.sweeper.arn
  desired_count   = 1
  launch_type     = "FARGATE"
  propagate_tags  = "SERVICE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.workers_security_group_id]
    assign_public_ip = false
  }

  tags = var.tags
}

resource "aws_ecs_service" "scaler" {
  name            = "scaler"
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.scaler.arn
  desired_count   = 1
  launch_type     = "FARGATE"
  propagate_tags  = "SERVICE"

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.workers_security_group_id]
    assign_public_ip = false
  }

  tags = var.tags
}

resource "aws_ecs_service" "worker_gpu" {
  name            = local.gpu_service
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.worker_gpu.arn
  # Application Auto Scaling owns the count (modules/scaling); it starts at zero.
  desired_count  = 0
  propagate_tags = "SERVICE"

  capacity_provider_strategy {
    capacity_provider = var.gpu_capacity_provider_name
    weight            = 1
    base              = 0
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.workers_security_group_id]
    assign_public_ip = false
  }

  # Spread over AZs first, then pack onto as few instances as possible.
  ordered_placement_strategy {
    type  = "spread"
    field = "attribute:ecs.availability-zone"
  }
  ordered_placement_strategy {
    type  = "binpack"
    field = "memory"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags
}

# Trainings on the GPU capacity provider, like worker-gpu; modules/scaling sets its count to
# the trainings queued or running (0 when there are none).
resource "aws_ecs_service" "worker_train" {
  name            = local.train_service
  cluster         = var.cluster_arn
  task_definition = aws_ecs_task_definition.worker_train.arn
  desired_count   = 0
  propagate_tags  = "SERVICE"

  capacity_provider_strategy {
    capacity_provider = var.gpu_capacity_provider_name
    weight            = 1
    base              = 0
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [var.workers_security_group_id]
    assign_public_ip = false
  }

  ordered_placement_strategy {
    type  = "spread"
    field = "attribute:ecs.availability-zone"
  }
  ordered_placement_strategy {
    type  = "binpack"
    field = "memory"
  }

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  lifecycle {
    ignore_changes = [desired_count]
  }

  tags = var.tags
}
