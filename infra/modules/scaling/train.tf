# Training service sizing on the scaler's train-queue metric (namespace Quire, dimension
# Service = the train service): one task per training queued or running, 0 when none.
#
# Not target tracking as for worker-gpu: a training holds its worker for hours whatever the
# backlog, so the count is exact, not a ratio. WorkersNeeded comes from the database
# (trainings queued or running), not the queue's depth alone: a running training's message is
# unacked, not waiting, and scaling on the depth would stop the worker under it.
#
# The alarm is raised while the service's desired count differs from min(needed, max); its
# value is that count + 1, and the step policy maps it to an exact count (ExactCapacity), so
# one policy scales out, scales in and goes to and from zero. CloudWatch repeats an
# auto-scaling action every minute while the alarm stays raised, which is harmless here:
# the same exact count again.

resource "aws_appautoscaling_target" "train" {
  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${var.cluster_name}/${var.train_service_name}"
  min_capacity       = 0
  max_capacity       = var.train_max_capacity
}

resource "aws_appautoscaling_policy" "train_size" {
  name               = "${var.name}-train-size"
  policy_type        = "StepScaling"
  service_namespace  = aws_appautoscaling_target.train.service_namespace
  scalable_dimension = aws_appautoscaling_target.train.scalable_dimension
  resource_id        = aws_appautoscaling_target.train.resource_id

  step_scaling_policy_configuration {
    adjustment_type         = "ExactCapacity"
    cooldown                = 60
    metric_aggregation_type = "Maximum"

    # Bounds are relative to the alarm's threshold (1): alarm value k + 1 -> k tasks.
    dynamic "step_adjustment" {
      for_each = range(var.train_max_capacity + 1)
      content {
        metric_interval_lower_bound = step_adjustment.value
        metric_interval_upper_bound = step_adjustment.value == var.train_max_capacity ? null : step_adjustment.value + 1
        scaling_adjustment          = step_adjustment.value
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "train_size" {
  alarm_name          = "${var.name}-train-resize"
  alarm_description   = "worker-train's desired count differs from the trainings queued or running (at most ${var.train_max_capacity}): set it to that."
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 1
  datapoints_to_alarm = 1
  # The scaler silent: keep the count (running trainings keep their workers); the
  # scaler-silent alarm in modules/monitoring reports it.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_appautoscaling_policy.train_size.arn]

  metric_query {
    id          = "resize"
    expression  = "IF(wanted != FILL(desired, 0), wanted + 1, 0)"
    label       = "Train workers to set, + 1 (0: in step)"
    return_data = true
  }

  metric_query {
    id          = "wanted"
    expression  = "IF(needed > ${var.train_max_capacity}, ${var.train_max_capacity}, needed)"
    label       = "Train workers wanted"
    return_data = false
  }

  metric_query {
    id = "needed"
    metric {
      namespace   = local.namespace
      metric_name = "WorkersNeeded"
      dimensions  = { Service = var.train_service_name }
      period      = 60
      stat        = "Maximum"
    }
  }

  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = { ClusterName = var.cluster_name, ServiceName = var.train_service_name }
      period      = 60
      stat        = "Maximum"
    }
  }
}
