output "cluster_name" {
  description = "ECS cluster name."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ECS cluster ARN."
  value       = aws_ecs_cluster.this.arn
}

output "gpu_capacity_provider_name" {
  description = "Capacity provider of the GPU Auto Scaling group."
  value       = aws_ecs_capacity_provider.gpu.name
}

output "gpu_autoscaling_group_name" {
  description = "GPU Auto Scaling group."
  value       = aws_autoscaling_group.gpu.name
}

output "ecr_repository_urls" {
  description = "ECR repository URLs by image (api, worker)."
  value       = { for k, r in aws_ecr_repository.this : k => r.repository_url }
}
