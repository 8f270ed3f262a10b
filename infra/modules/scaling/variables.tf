variable "name" {
  description = "Name prefix for every resource (e.g. quire-prod)."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster of the GPU service."
  type        = string
}

variable "gpu_service_name" {
  description = "ECS service of the GPU worker; also the metrics' Service dimension (QUIRE_SCALER_SERVICE_NAME)."
  type        = string
}

variable "min_capacity" {
  description = "Fewest GPU worker tasks (0: scale to zero when idle)."
  type        = number
  default     = 0
}

variable "max_capacity" {
  description = "Most GPU worker tasks (GPU budget)."
  type        = number
  default     = 4
}

variable "target_backlog_per_task" {
  description = "Target of BacklogPerTask: waiting pages per running GPU worker."
  type        = number
  default     = 8
}

variable "scale_out_cooldown_seconds" {
  description = "Least time between two scale-outs."
  type        = number
  default     = 60
}

variable "scale_in_cooldown_seconds" {
  description = "Least time between two scale-ins."
  type        = number
  default     = 300
}

variable "train_service_name" {
  description = "ECS service of the training worker; also its metrics' Service dimension (TRAIN_SERVICE in worker/scaling/scaler.py)."
  type        = string
}

variable "train_max_capacity" {
  description = "Most training worker tasks (trainings at once; one GPU instance each)."
  type        = number
  default     = 2

  validation {
    condition     = var.train_max_capacity >= 0 && floor(var.train_max_capacity) == var.train_max_capacity
    error_message = "train_max_capacity is a whole number of tasks, 0 or more."
  }
}
