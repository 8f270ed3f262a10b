variable "name" {
  description = "Name prefix for every resource (e.g. quire-prod)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for the GPU container instances."
  type        = list(string)
}

variable "workers_security_group_id" {
  description = "Security group of the GPU container instances (no inbound)."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key for the instances' EBS volumes and the ECR repositories."
  type        = string
}

variable "gpu_instance_type" {
  description = "GPU instance type (one GPU each; the GPU task asks for the whole GPU)."
  type        = string
  default     = "g4dn.xlarge"
}

variable "gpu_max_instances" {
  description = "Ceiling of the GPU Auto Scaling group."
  type        = number
  default     = 4
}

variable "gpu_warm_pool_size" {
  description = "Stopped, pre-initialised GPU instances kept in the warm pool (EBS cost only)."
  type        = number
  default     = 1
}

variable "gpu_root_volume_gb" {
  description = "Root EBS volume of a GPU instance: AMI + worker image (torch, CUDA) + model cache."
  type        = number
  default     = 100
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
