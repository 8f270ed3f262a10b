output "alb_dns_name" {
  description = "DNS name of the load balancer (point the API's domain here)."
  value       = aws_lb.api.dns_name
}

output "alb_arn_suffix" {
  description = "Load balancer ARN suffix (CloudWatch dimension LoadBalancer)."
  value       = aws_lb.api.arn_suffix
}

output "target_group_arn_suffix" {
  description = "API target group ARN suffix (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.api.arn_suffix
}

output "service_names" {
  description = "ECS service names, as in docker-compose.yml."
  value       = [for s in [aws_ecs_service.api, aws_ecs_service.worker_cpu, aws_ecs_service.worker_gpu, aws_ecs_service.worker_train, aws_ecs_service.sweeper, aws_ecs_service.scaler] : s.name]
}

output "train_service_name" {
  description = "ECS service of the training worker (the scaler's Service dimension for the train queue)."
  value       = aws_ecs_service.worker_train.name
}

output "gpu_service_name" {
  description = "ECS service of the GPU worker (the scaler's Service dimension)."
  value       = aws_ecs_service.worker_gpu.name
}

output "api_task_definition_arn" {
  description = "API task definition; run it with a command override for `quire db upgrade` and `quire keys create`."
  value       = aws_ecs_task_definition.api.arn
}

output "task_role_arns" {
  description = "Task role ARN per service."
  value       = { for k, r in aws_iam_role.task : k => r.arn }
}

output "secret_key_secret_arn" {
  description = "Secret holding QUIRE_SECRET_KEY."
  value       = aws_secretsmanager_secret.secret_key.arn
}

output "log_group_names" {
  description = "CloudWatch log group per service."
  value       = { for k, g in aws_cloudwatch_log_group.service : k => g.name }
}
