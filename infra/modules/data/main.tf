# Data stores: PostgreSQL (system of record), Redis (broker only: noeviction, so a full broker
# refuses writes rather than dropping queued pages), S3 (uploads, page images, models).
#
# The application reads full URLs (QUIRE_DATABASE_URL, QUIRE_REDIS_URL), so the generated
# passwords are stored in Secrets Manager as whole URLs, which ECS injects as task secrets.
# (RDS's own managed master secret holds only username/password JSON, which ECS cannot
# assemble into a URL; hence random_password here.)

data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

# --- KMS: one key for the bucket, the secrets, RDS and ElastiCache -------------------------------

data "aws_iam_policy_document" "kms" {
  # In a key policy "*" means this key only; the account root statement is AWS's default.
  #checkov:skip=CKV_AWS_109:Key policy: resource "*" is the key itself; admin stays with the account as in AWS's default key policy.
  #checkov:skip=CKV_AWS_111:Key policy: resource "*" is the key itself.
  #checkov:skip=CKV_AWS_356:Key policy: resource "*" is the key itself.
  statement {
    sid       = "AccountAdmin"
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
  statement {
    sid       = "CloudWatchAlarmsToEncryptedTopic"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
  }
  statement {
    sid       = "CloudWatchLogs"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${data.aws_region.current.name}.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:aws:logs:${data.aws_region.current.name}:${data.aws_caller_identity.current.account_id}:log-group:/quire/*"]
    }
  }
}

resource "aws_kms_key" "this" {
  description             = "${var.name}: S3 objects, secrets, RDS, ElastiCache, logs"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this.key_id
}

# --- PostgreSQL 16 -------------------------------------------------------------------------------

resource "random_password" "db" {
  length = 40
  # RDS refuses / @ " and space; keep to characters that need no escaping inside a URL.
  special          = true
  override_special = "-_~"
}

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-db"
  subnet_ids = var.private_subnet_ids
  tags       = var.tags
}

resource "aws_db_parameter_group" "this" {
  name   = "${var.name}-pg16"
  family = "postgres16"
  tags   = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
  parameter {
    name  = "log_min_duration_statement"
    value = "1000"
  }
}

resource "aws_db_instance" "this" {
  identifier     = "${var.name}-db"
  engine         = "postgres"
  engine_version = "16"
  instance_class = var.db_instance_class

  db_name  = var.db_name
  username = var.db_username
  password = random_password.db.result

  allocated_storage     = var.db_allocated_storage_gb
  max_allocated_storage = var.db_max_allocated_storage_gb
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.db_security_group_id]
  publicly_accessible    = false
  parameter_group_name   = aws_db_parameter_group.this.name

  backup_retention_period    = var.db_backup_retention_days
  backup_window              = "03:00-04:00"
  maintenance_window         = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot      = true
  auto_minor_version_upgrade = true
  deletion_protection        = var.db_deletion_protection
  skip_final_snapshot        = false
  final_snapshot_identifier  = "${var.name}-db-final"

  performance_insights_enabled        = true
  performance_insights_kms_key_id     = aws_kms_key.this.arn
  enabled_cloudwatch_logs_exports     = ["postgresql", "upgrade"]
  iam_database_authentication_enabled = false
  #checkov:skip=CKV_AWS_161:The application authenticates with a password URL from Secrets Manager, not IAM tokens.
  #checkov:skip=CKV_AWS_118:Enhanced monitoring is optional; the basic RDS metrics feed the alarms.
  #checkov:skip=CKV_AWS_157:Multi-AZ is the db_multi_az variable (off by default for cost; set true in production tfvars).
  #checkov:skip=CKV_AWS_354:Performance Insights is encrypted with the module's KMS key (performance_insights_kms_key_id).

  tags = var.tags
}

resource "aws_secretsmanager_secret" "database_url" {
  name_prefix = "${var.name}/database-url-"
  description = "QUIRE_DATABASE_URL: SQLAlchemy URL of the quire database"
  kms_key_id  = aws_kms_key.this.arn
  #checkov:skip=CKV2_AWS_57:Rotating this password needs a coordinated redeploy of every task; rotate by re-applying with a new random_password.
  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = "postgresql+psycopg://${var.db_username}:${random_password.db.result}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${var.db_name}?sslmode=require"
}

# --- Redis 7 (broker) ----------------------------------------------------------------------------

resource "random_password" "redis" {
  # ElastiCache AUTH tokens: 16-128 printable characters, none of / " @; alphanumerics only.
  length  = 48
  special = false
}

resource "aws_elasticache_subnet_group" "this" {
  name       = "${var.name}-redis"
  subnet_ids = var.private_subnet_ids
  tags       = var.tags
}

resource "aws_elasticache_parameter_group" "this" {
  name   = "${var.name}-redis7"
  family = "redis7"
  tags   = var.tags

  # Queued pages and webhook deliveries live here: refuse writes when full, never evict.
  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

resource "aws_elasticache_replication_group" "this" {
  replication_group_id = "${var.name}-redis"
  description          = "quire Celery broker"
  #checkov:skip=CKV2_AWS_50:Failover follows redis_replicas (0 by default for cost; the example tfvars sets 1).
  engine               = "redis"
  engine_version       = "7.1"
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.this.name
  subnet_group_name    = aws_elasticache_subnet_group.this.name
  security_group_ids   = [var.redis_security_group_id]

  num_cache_clusters         = 1 + var.redis_replicas
  automatic_failover_enabled = var.redis_replicas > 0
  multi_az_enabled           = var.redis_replicas > 0

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis.result

  snapshot_retention_limit   = 3
  snapshot_window            = "02:00-03:00"
  maintenance_window         = "sun:05:30-sun:06:30"
  auto_minor_version_upgrade = true
  apply_immediately          = false

  tags = var.tags
}

resource "aws_secretsmanager_secret" "redis_url" {
  name_prefix = "${var.name}/redis-url-"
  description = "QUIRE_REDIS_URL: TLS URL of the quire Celery broker, with its AUTH token"
  kms_key_id  = aws_kms_key.this.arn
  #checkov:skip=CKV2_AWS_57:Rotating the AUTH token needs a coordinated redeploy of every task.
  tags = var.tags
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.redis_url.id
  secret_string = "rediss://:${random_password.redis.result}@${aws_elasticache_replication_group.this.primary_endpoint_address}:6379/0?ssl_cert_reqs=required"
}

# --- S3 object store ----------------------------------------------------------------------------

resource "aws_s3_bucket" "store" {
  bucket = var.bucket_name
  #checkov:skip=CKV_AWS_144:Cross-region replication is a disaster-recovery choice left to the operator; versioning covers mistakes.
  #checkov:skip=CKV_AWS_18:Server access logging would need a second bucket; CloudTrail data events are the audit path if required.
  #checkov:skip=CKV2_AWS_62:Nothing consumes bucket event notifications.
  tags = var.tags
}

resource "aws_s3_bucket_ownership_controls" "store" {
  bucket = aws_s3_bucket.store.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "store" {
  bucket                  = aws_s3_bucket.store.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "store" {
  bucket = aws_s3_bucket.store.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "store" {
  bucket = aws_s3_bucket.store.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    # One data key per bucket rather than per object: far fewer KMS requests (and charges).
    bucket_key_enabled = true
  }
}

# A backstop only, never the retention mechanism: lifecycle expiry runs late and asynchronously,
# and on this versioned bucket deleting a current object only adds a delete marker. quire's
# sweeper purges expired work itself (QUIRE_RETENTION_DAYS, every version and delete marker,
# with a receipt); this rule sweeps up noncurrent versions and abandoned multipart uploads.
resource "aws_s3_bucket_lifecycle_configuration" "store" {
  bucket = aws_s3_bucket.store.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 2
    }
  }

  depends_on = [aws_s3_bucket_versioning.store]
}

# The web UI sends large files straight to the bucket with presigned PUTs: the browser needs
# the UI's origin allowed for PUT and the ETag header exposed (completing the upload needs it).
resource "aws_s3_bucket_cors_configuration" "store" {
  count  = length(var.ui_origins) > 0 ? 1 : 0
  bucket = aws_s3_bucket.store.id
  cors_rule {
    id              = "quire-ui-presigned-uploads"
    allowed_origins = var.ui_origins
    allowed_methods = ["PUT"]
    allowed_headers = ["Content-Type"]
    expose_headers  = ["ETag"]
    max_age_seconds = 3600
  }
}

data "aws_iam_policy_document" "store" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.store.arn,
      "${aws_s3_bucket.store.arn}/*",
    ]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "store" {
  bucket = aws_s3_bucket.store.id
  policy = data.aws_iam_policy_document.store.json

  depends_on = [aws_s3_bucket_public_access_block.store]
}
