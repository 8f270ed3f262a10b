# Alarms to one SNS topic, and a dashboard of the scaler's Quire metrics next to the AWS ones.

locals {
  quire_dims = { Service = var.gpu_service_name }
  actions    = [aws_sns_topic.alarms.arn]
  # Keys known at plan time (for_each), ids from the replication group's naming rule.
  redis_nodes = { for i in range(var.redis_node_count) : tostring(i + 1) => format("%s-%03d", var.redis_replication_group_id, i + 1) }
}

resource "aws_sns_topic" "alarms" {
  name              = "${var.name}-alarms"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.alarm_emails)
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = each.value
}

# API 5xx: errors the ALB generated (no healthy target, timeouts) plus the API's own.
resource "aws_cloudwatch_metric_alarm" "api_5xx" {
  alarm_name          = "${var.name}-api-5xx"
  alarm_description   = "The API answered more than ${var.api_5xx_threshold} 5xx in 5 minutes."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.api_5xx_threshold
  evaluation_periods  = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  metric_query {
    id          = "total"
    expression  = "FILL(elb, 0) + FILL(target, 0)"
    label       = "5xx"
    return_data = true
  }
  metric_query {
    id = "elb"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix }
      period      = 300
      stat        = "Sum"
    }
  }
  metric_query {
    id = "target"
    metric {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
      period      = 300
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "api_unhealthy" {
  alarm_name          = "${var.name}-api-no-healthy-target"
  alarm_description   = "No API task passes the /healthz check."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HealthyHostCount"
  dimensions          = { LoadBalancer = var.alb_arn_suffix, TargetGroup = var.target_group_arn_suffix }
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "db_cpu" {
  alarm_name          = "${var.name}-db-cpu"
  alarm_description   = "PostgreSQL CPU above 80% for 15 minutes."
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  dimensions          = { DBInstanceIdentifier = var.db_instance_id }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "db_free_storage" {
  alarm_name          = "${var.name}-db-free-storage"
  alarm_description   = "PostgreSQL free storage below ${var.db_free_storage_threshold_bytes} bytes."
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  dimensions          = { DBInstanceIdentifier = var.db_instance_id }
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.db_free_storage_threshold_bytes
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# maxmemory-policy is noeviction: a full broker refuses new messages (uploads fail to enqueue).
resource "aws_cloudwatch_metric_alarm" "redis_memory" {
  for_each            = local.redis_nodes
  alarm_name          = "${var.name}-redis-memory-${each.key}"
  alarm_description   = "Redis memory above 80% of maxmemory; at 100% (noeviction) enqueues fail."
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  dimensions          = { CacheClusterId = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# The dead-letter signal of this design (there is no DLQ: failed pages end in the database):
# a backlog that stays high for 15 minutes means the GPU fleet is stuck, at its ceiling, or
# cannot start.
resource "aws_cloudwatch_metric_alarm" "backlog_high" {
  alarm_name          = "${var.name}-gpu-backlog-high"
  alarm_description   = "GPU backlog above ${var.backlog_high_threshold} pages for 15 minutes."
  namespace           = "Quire"
  metric_name         = "Backlog"
  dimensions          = local.quire_dims
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.backlog_high_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# The scaler itself stopped publishing: without its metrics nothing scales.
resource "aws_cloudwatch_metric_alarm" "scaler_silent" {
  alarm_name          = "${var.name}-scaler-silent"
  alarm_description   = "No Quire Backlog datapoint for 10 minutes: the scaler is down, so the GPU service cannot scale."
  namespace           = "Quire"
  metric_name         = "Backlog"
  dimensions          = local.quire_dims
  statistic           = "SampleCount"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_dashboard" "quire" {
  dashboard_name = var.name
  dashboard_body = jsonencode({
    widgets = [
      {
        type = "metric", x = 0, y = 0, width = 12, height = 6
        properties = {
          title  = "GPU queue: backlog and pages in flight"
          region = var.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["Quire", "Backlog", "Service", var.gpu_service_name],
            ["Quire", "InFlight", "Service", var.gpu_service_name],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 0, width = 12, height = 6
        properties = {
          title  = "GPU workers: running and busy"
          region = var.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["Quire", "RunningWorkers", "Service", var.gpu_service_name],
            ["Quire", "BusyWorkers", "Service", var.gpu_service_name],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 6, width = 12, height = 6
        properties = {
          title  = "BacklogPerTask (target tracking signal)"
          region = var.region
          stat   = "Average"
          period = 60
          metrics = [
            ["Quire", "BacklogPerTask", "Service", var.gpu_service_name],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 6, width = 12, height = 6
        properties = {
          title  = "API: requests and 5xx"
          region = var.region
          stat   = "Sum"
          period = 300
          metrics = [
            ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", var.alb_arn_suffix],
            ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
            ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", var.alb_arn_suffix],
          ]
        }
      },
      {
        type = "metric", x = 0, y = 12, width = 12, height = 6
        properties = {
          title  = "PostgreSQL"
          region = var.region
          stat   = "Average"
          period = 300
          metrics = [
            ["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", var.db_instance_id],
            ["AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", var.db_instance_id],
          ]
        }
      },
      {
        type = "metric", x = 12, y = 12, width = 12, height = 6
        properties = {
          title   = "Redis memory (noeviction)"
          region  = var.region
          stat    = "Maximum"
          period  = 300
          metrics = [for c in values(local.redis_nodes) : ["AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "CacheClusterId", c]]
        }
      },
      {
        type = "metric", x = 0, y = 18, width = 12, height = 6
        properties = {
          title  = "Trainings: waiting messages, running, workers needed"
          region = var.region
          stat   = "Maximum"
          period = 60
          metrics = [
            ["Quire", "Backlog", "Service", var.train_service_name],
            ["Quire", "InFlight", "Service", var.train_service_name],
            ["Quire", "WorkersNeeded", "Service", var.train_service_name],
          ]
        }
      },
    ]
  })
}
