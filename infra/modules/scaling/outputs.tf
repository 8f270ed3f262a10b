output "target_tracking_policy_arn" {
  description = "Target tracking policy on BacklogPerTask."
  value       = aws_appautoscaling_policy.backlog_per_task.arn
}

output "from_zero_policy_arn" {
  description = "Step policy that takes the GPU service from 0 to 1."
  value       = aws_appautoscaling_policy.from_zero.arn
}

output "from_zero_alarm_name" {
  description = "Alarm that triggers the step policy."
  value       = aws_cloudwatch_metric_alarm.from_zero.alarm_name
}

output "train_size_policy_arn" {
  description = "Step policy that sets the train service's count (ExactCapacity)."
  value       = aws_appautoscaling_policy.train_size.arn
}

output "train_size_alarm_name" {
  description = "Alarm that triggers the train service's step policy."
  value       = aws_cloudwatch_metric_alarm.train_size.alarm_name
}
