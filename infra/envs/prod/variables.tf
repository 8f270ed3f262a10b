variable "region" {
  description = "AWS region."
  type        = string
  default     = "us-east-1"
}

variable "environment" {
  description = "Environment name, part of every resource name."
  type        = string
  default     = "prod"
}

variable "bucket_name" {
  description = "Object store bucket name (globally unique)."
  type        = string
}

variable "image_tag" {
  description = "Tag of the api and worker images in ECR (immutable tags: one per release)."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate of the API's domain; null serves plain HTTP (first test only)."
  type        = string
  default     = null
}

variable "public_base_url" {
  description = "Public URL of the API (QUIRE_PUBLIC_BASE_URL), e.g. https://ocr.example.com."
  type        = string
}

variable "alb_ingress_cidrs" {
  description = "Client CIDRs allowed to reach the API."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_multi_az" {
  description = "RDS standby in a second AZ."
  type        = bool
  default     = false
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_replicas" {
  description = "ElastiCache replicas (1+ enables automatic failover)."
  type        = number
  default     = 0
}

variable "api_desired_count" {
  description = "API tasks."
  type        = number
  default     = 2
}

variable "worker_cpu_desired_count" {
  description = "CPU-queue worker tasks."
  type        = number
  default     = 1
}

variable "gpu_instance_type" {
  description = "GPU instance type."
  type        = string
  default     = "g4dn.xlarge"
}

variable "gpu_min_tasks" {
  description = "Fewest GPU worker tasks (0: scale to zero)."
  type        = number
  default     = 0
}

variable "gpu_max_tasks" {
  description = "Most GPU worker tasks (and GPU instances: one task per instance)."
  type        = number
  default     = 4
}

variable "gpu_warm_pool_size" {
  description = "Stopped GPU instances kept ready in the warm pool."
  type        = number
  default     = 1
}

variable "train_max_tasks" {
  description = "Most training worker tasks, i.e. trainings at once (one GPU instance each; 0: no trainings)."
  type        = number
  default     = 2
}

variable "target_backlog_per_task" {
  description = "Target waiting pages per running GPU worker."
  type        = number
  default     = 8
}

variable "detector_model" {
  description = "QUIRE_DETECTOR_MODEL, e.g. s3://<bucket>/models/detector.pt."
  type        = string
  default     = null
}

variable "recognizer_model" {
  description = "QUIRE_RECOGNIZER_MODEL, e.g. s3://<bucket>/models/trocr/."
  type        = string
  default     = null
}

variable "alarm_emails" {
  description = "Addresses that receive the alarms."
  type        = list(string)
  default     = []
}
