variable "name" {
  description = "Name prefix for every resource (e.g. quire-prod)."
  type        = string
}

variable "region" {
  description = "AWS region of the dashboard's widgets."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the alarm topic."
  type        = string
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm by email)."
  type        = list(string)
  default     = []
}

variable "alb_arn_suffix" {
  description = "Load balancer ARN suffix."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "API target group ARN suffix."
  type        = string
}

variable "db_instance_id" {
  description = "RDS instance identifier."
  type        = string
}

variable "redis_replication_group_id" {
  description = "ElastiCache replication group id; its nodes are <id>-001, <id>-002, ..."
  type        = string
}

variable "redis_node_count" {
  description = "Nodes in the replication group (primary + replicas): one memory alarm each."
  type        = number
}

variable "gpu_service_name" {
  description = "Service dimension of the Quire metrics."
  type        = string
}

variable "train_service_name" {
  description = "Service dimension of the train queue's Quire metrics."
  type        = string
}

variable "api_5xx_threshold" {
  description = "5xx responses per 5 minutes (ALB and targets together) that raise the alarm."
  type        = number
  default     = 10
}

variable "db_free_storage_threshold_bytes" {
  description = "Alarm when free RDS storage falls below this."
  type        = number
  default     = 5368709120
}

variable "backlog_high_threshold" {
  description = "Alarm when the GPU backlog stays above this for 15 minutes (stuck or undersized fleet)."
  type        = number
  default     = 500
}
