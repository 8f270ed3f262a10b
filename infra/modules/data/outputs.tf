output "kms_key_arn" {
  description = "KMS key of the bucket, the secrets, RDS and ElastiCache."
  value       = aws_kms_key.this.arn
}

output "bucket_name" {
  description = "Object store bucket (QUIRE_S3_BUCKET)."
  value       = aws_s3_bucket.store.bucket
}

output "bucket_arn" {
  description = "ARN of the object store bucket."
  value       = aws_s3_bucket.store.arn
}

output "database_url_secret_arn" {
  description = "Secrets Manager secret holding QUIRE_DATABASE_URL."
  value       = aws_secretsmanager_secret.database_url.arn
}

output "redis_url_secret_arn" {
  description = "Secrets Manager secret holding QUIRE_REDIS_URL."
  value       = aws_secretsmanager_secret.redis_url.arn
}

output "db_instance_id" {
  description = "RDS instance identifier (CloudWatch dimension DBInstanceIdentifier)."
  value       = aws_db_instance.this.identifier
}

output "db_address" {
  description = "RDS endpoint host name."
  value       = aws_db_instance.this.address
}

output "redis_replication_group_id" {
  description = "ElastiCache replication group id."
  value       = aws_elasticache_replication_group.this.id
}

output "redis_node_count" {
  description = "Nodes in the replication group (primary + replicas)."
  value       = 1 + var.redis_replicas
}
