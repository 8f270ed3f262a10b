variable "name" {
  description = "Name prefix for every resource (e.g. quire-prod)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the data stores."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for RDS and ElastiCache (two AZs)."
  type        = list(string)
}

variable "db_security_group_id" {
  description = "Security group of the database."
  type        = string
}

variable "redis_security_group_id" {
  description = "Security group of the Redis broker."
  type        = string
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage_gb" {
  description = "Initial RDS storage (gp3), GiB."
  type        = number
  default     = 50
}

variable "db_max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling, GiB."
  type        = number
  default     = 200
}

variable "db_multi_az" {
  description = "Standby replica in a second AZ (doubles the instance cost)."
  type        = bool
  default     = false
}

variable "db_backup_retention_days" {
  description = "Automated backup retention, days."
  type        = number
  default     = 14
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database instance."
  type        = bool
  default     = true
}

variable "db_name" {
  description = "Database name."
  type        = string
  default     = "quire"
}

variable "db_username" {
  description = "Master user name."
  type        = string
  default     = "quire"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_replicas" {
  description = "Read replicas besides the primary (1+ gives automatic failover)."
  type        = number
  default     = 0
}

variable "bucket_name" {
  description = "Name of the object store bucket (globally unique)."
  type        = string
}

variable "ui_origins" {
  description = "Origins of the web UI (scheme://host[:port]) allowed to PUT presigned parts to the bucket; empty: no CORS rule."
  type        = list(string)
  default     = []
}

variable "noncurrent_version_expiration_days" {
  description = "Days before an overwritten or deleted object version is removed."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
