variable "name" {
  description = "Name prefix for every resource (e.g. quire-prod)."
  type        = string
}

variable "region" {
  description = "AWS region (QUIRE_S3_REGION; the scaler's CloudWatch client uses it too)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster ARN."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster name."
  type        = string
}

variable "gpu_capacity_provider_name" {
  description = "Capacity provider the GPU worker is placed on."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the load balancer target group."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Private subnets of the tasks."
  type        = list(string)
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer."
  type        = string
}

variable "api_security_group_id" {
  description = "Security group of the API tasks."
  type        = string
}

variable "workers_security_group_id" {
  description = "Security group of the workers, sweeper and scaler tasks."
  type        = string
}

variable "bucket_name" {
  description = "Object store bucket (QUIRE_S3_BUCKET)."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the object store bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key of the bucket, the secrets and the log groups."
  type        = string
}

variable "database_url_secret_arn" {
  description = "Secret holding QUIRE_DATABASE_URL."
  type        = string
}

variable "redis_url_secret_arn" {
  description = "Secret holding QUIRE_REDIS_URL."
  type        = string
}

variable "api_image" {
  description = "API image URI with tag (Dockerfile.api)."
  type        = string
}

variable "worker_image" {
  description = "Worker image URI with tag (Dockerfile.worker); also runs the sweeper and the scaler."
  type        = string
}

variable "certificate_arn" {
  description = "ACM certificate for the HTTPS listener; null serves plain HTTP on 80 (testing only)."
  type        = string
  default     = null
}

variable "public_base_url" {
  description = "QUIRE_PUBLIC_BASE_URL: base of the result links in webhook payloads."
  type        = string
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
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

variable "gpu_engine" {
  description = "QUIRE_ENGINE of the GPU worker."
  type        = string
  default     = "yolo-trocr"
}

variable "detector_model" {
  description = "QUIRE_DETECTOR_MODEL, e.g. s3://<bucket>/models/detector.pt (null: unset)."
  type        = string
  default     = null
}

variable "recognizer_model" {
  description = "QUIRE_RECOGNIZER_MODEL, e.g. s3://<bucket>/models/trocr/ (null: unset)."
  type        = string
  default     = null
}

variable "models_prefix" {
  description = "Key prefix of the models in the bucket; the GPU worker may list and read it."
  type        = string
  default     = "models/"
}

variable "gpu_concurrency" {
  description = "QUIRE_GPU_CONCURRENCY: page tasks per GPU worker."
  type        = number
  default     = 4
}

variable "train_shared_memory_mib" {
  description = "/dev/shm of the training container (linuxParameters.sharedMemorySize), for data-loading processes."
  type        = number
  default     = 2048
}

variable "worker_soft_shutdown_seconds" {
  description = "QUIRE_WORKER_SOFT_SHUTDOWN_SECONDS: SIGTERM grace for in-flight pages."
  type        = number
  default     = 60
}

variable "worker_stop_timeout_seconds" {
  description = "ECS stopTimeout of the workers (SIGTERM to SIGKILL); must exceed the soft shutdown. 120 is Fargate's maximum."
  type        = number
  default     = 120

  validation {
    condition     = var.worker_stop_timeout_seconds <= 120
    error_message = "Fargate caps stopTimeout at 120 seconds."
  }
}

variable "log_level" {
  description = "QUIRE_LOG_LEVEL."
  type        = string
  default     = "INFO"
}

variable "log_retention_days" {
  description = "Retention of the services' log groups."
  type        = number
  default     = 90
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
