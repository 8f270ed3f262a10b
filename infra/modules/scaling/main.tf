# Autoscaling of the two services on the GPU capacity provider, on the scaler's metrics
# (namespace Quire, dimension Service): worker-gpu here, worker-train in train.tf.
#
# * target tracking on BacklogPerTask = Backlog / max(RunningWorkers, 1) between min and max;
# * from zero, target tracking cannot act (it scales the current count, and 0 x anything is 0),
#   so a step policy sets the count to 1 when pages wait, no worker runs and ECS wants none.

locals {
  namespace  = "Quire"
  dimensions = { Service = var.gpu_service_name }
}

resource "aws_appautoscaling_target" "gpu" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${var.gpu_service_name}"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity
}

resource "aws_appautoscaling_policy" "backlog_per_task" {
  name               = "${var.name}-gpu-backlog-per-task"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.gpu.service_namespace
  scalable_dimension = aws_appautoscaling_target.gpu.scalable_dimension
  resource_id        = aws_appautoscaling_target.gpu.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.target_backlog_per_task
    scale_out_cooldown = var.scale_out_cooldown_seconds
    scale_in_cooldown  = var.scale_in_cooldown_seconds
    disable_scale_in   = false

    customized_metric_specification {
      namespace   = "Quire"
      metric_name = "BacklogPerTask"
      statistic   = "Average"
      unit        = "Count"

      dimensions {
        name  = "Service"
        value = var.gpu_service_name
      }
    }
  }
}

resource "aws_appautoscaling_policy" "from_zero" {
  name               = "${var.name}-gpu-from-zero"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.gpu.service_namespace
  scalable_dimension = aws_appautoscaling_target.gpu.scalable_dimension
  resource_id        = aws_appautoscaling_target.gpu.resource_id

  step_scaling_policy_configuration {
    # Exact, not +1: the alarm stays in ALARM for the whole cold start (RunningWorkers is 0
    # until the first worker's heartbeat), and must not add a task per evaluation.
    adjustment_type         = "ExactCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    step_adjustment {
      metric_interval_lower_bound = 0
      scaling_adjustment          = 1
    }
  }
}

# 1 when pages wait (Backlog > 0), no worker runs (RunningWorkers == 0) and the service's
# desired count is 0 (Container Insights), else 0. The desired-count term keeps the alarm from
# pulling a service that target tracking already sized back down to 1.
resource "aws_cloudwatch_metric_alarm" "from_zero" {
  alarm_name          = "${var.name}-gpu-backlog-with-no-worker"
  alarm_description   = "Pages wait in the GPU queue and no GPU worker runs: scale worker-gpu from 0 to 1."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_appautoscaling_policy.from_zero.arn]

  metric_query {
    id          = "wake"
    expression  = "IF(backlog > 0 AND running == 0 AND FILL(desired, 0) == 0, 1, 0)"
    label       = "GPU backlog with no worker"
    return_data = true
  }

  metric_query {
    id = "backlog"
    metric {
      namespace   = local.namespace
      metric_name = "Backlog"
      dimensions  = local.dimensions
      period      = 60
      stat        = "Maximum"
    }
  }

  metric_query {
    id = "running"
    metric {
      namespace   = local.namespace
      metric_name = "RunningWorkers"
      dimensions  = local.dimensions
      period      = 60
      stat        = "Maximum"
    }
  }

  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = { ClusterName = var.cluster_name, ServiceName = var.gpu_service_name }
      period      = 60
      stat        = "Maximum"
    }
  }
}
