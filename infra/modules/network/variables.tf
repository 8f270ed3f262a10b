variable "name" {
  description = "Name prefix for every resource (e.g. quire-prod)."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "az_count" {
  description = "Availability zones used (one public and one private subnet in each)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count == 2
    error_message = "The layout is two public and two private subnets; az_count must be 2."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for both private subnets (cheaper; an AZ outage cuts egress for the other AZ). false: one per AZ."
  type        = bool
  default     = true
}

variable "alb_ingress_cidrs" {
  description = "CIDRs allowed to reach the public load balancer on 80/443."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "api_port" {
  description = "Port the API container listens on (quire api --port)."
  type        = number
  default     = 8000
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group."
  type        = number
  default     = 30
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
