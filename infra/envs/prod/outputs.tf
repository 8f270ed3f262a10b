output "api_url" {
  description = "Load balancer DNS name: point the API's domain (public_base_url) at it."
  value       = module.services.alb_dns_name
}

output "ecr_repository_urls" {
  description = "Push the api and worker images here."
  value       = module.ecs.ecr_repository_urls
}

output "cluster_name" {
  description = "ECS cluster."
  value       = module.ecs.cluster_name
}

output "service_names" {
  description = "ECS services."
  value       = module.services.service_names
}

output "api_task_definition_arn" {
  description = "Task definition for one-off admin tasks (quire db upgrade, quire keys create)."
  value       = module.services.api_task_definition_arn
}

output "private_subnet_ids" {
  description = "Subnets for one-off tasks."
  value       = module.network.private_subnet_ids
}

output "api_security_group_id" {
  description = "Security group for one-off tasks (reaches the database and Redis)."
  value       = module.network.api_security_group_id
}

output "bucket_name" {
  description = "Object store bucket (upload models under models/)."
  value       = module.data.bucket_name
}

output "dashboard_name" {
  description = "CloudWatch dashboard."
  value       = module.monitoring.dashboard_name
}

output "alarm_topic_arn" {
  description = "SNS topic of the alarms."
  value       = module.monitoring.alarm_topic_arn
}
