# VPC: two public subnets (ALB, NAT) and two private subnets (ECS tasks, GPU instances, RDS,
# ElastiCache). Private egress goes through NAT; S3 traffic through a free gateway endpoint.

data "aws_availability_zones" "available" {
  #checkov:skip=CKV_AWS_394:Only the first two zones (sorted by name) are used; a new zone does not change them.
  state = "available"
}

data "aws_region" "current" {}

locals {
  azs     = slice(data.aws_availability_zones.available.names, 0, var.az_count)
  nat_azs = var.single_nat_gateway ? 1 : var.az_count
  public  = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 8, i)]
  private = [for i in range(var.az_count) : cidrsubnet(var.vpc_cidr, 4, i + 1)]
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(var.tags, { Name = var.name })
}

# The default security group of the VPC allows nothing: every resource gets its own group.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count             = var.az_count
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.public[count.index]
  availability_zone = local.azs[count.index]
  # Only the ALB and the NAT gateway live here; neither needs an auto-assigned public IP.
  map_public_ip_on_launch = false
  tags                    = merge(var.tags, { Name = "${var.name}-public-${local.azs[count.index]}", Tier = "public" })
}

resource "aws_subnet" "private" {
  count             = var.az_count
  vpc_id            = aws_vpc.this.id
  cidr_block        = local.private[count.index]
  availability_zone = local.azs[count.index]
  tags              = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}", Tier = "private" })
}

resource "aws_eip" "nat" {
  count  = local.nat_azs
  domain = "vpc"
  tags   = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })
}

resource "aws_nat_gateway" "this" {
  count         = local.nat_azs
  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id
  tags          = merge(var.tags, { Name = "${var.name}-nat-${count.index}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  count          = var.az_count
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  count  = var.az_count
  vpc_id = aws_vpc.this.id
  tags   = merge(var.tags, { Name = "${var.name}-private-${local.azs[count.index]}" })
}

resource "aws_route" "private_nat" {
  count                  = var.az_count
  route_table_id         = aws_route_table.private[count.index].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = aws_nat_gateway.this[var.single_nat_gateway ? 0 : count.index].id
}

resource "aws_route_table_association" "private" {
  count          = var.az_count
  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# S3 through a gateway endpoint: uploads, page images and model downloads skip the NAT
# gateway's per-GB processing charge.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id
  tags              = merge(var.tags, { Name = "${var.name}-s3" })
}

# --- flow logs -------------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "flow" {
  name              = "/quire/${var.name}/vpc-flow"
  retention_in_days = var.flow_log_retention_days
  #checkov:skip=CKV_AWS_158:Flow logs hold no secrets; the AWS-managed CloudWatch Logs encryption is enough here.
  #checkov:skip=CKV_AWS_338:30 days of flow logs is the chosen retention; raise flow_log_retention_days if policy needs a year.
  tags = var.tags
}

data "aws_iam_policy_document" "flow_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "flow" {
  name_prefix        = "${var.name}-flow-"
  assume_role_policy = data.aws_iam_policy_document.flow_assume.json
  tags               = var.tags
}

data "aws_iam_policy_document" "flow" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow.arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow" {
  role   = aws_iam_role.flow.id
  policy = data.aws_iam_policy_document.flow.json
}

resource "aws_flow_log" "this" {
  vpc_id          = aws_vpc.this.id
  traffic_type    = "REJECT"
  log_destination = aws_cloudwatch_log_group.flow.arn
  iam_role_arn    = aws_iam_role.flow.arn
  tags            = var.tags
}

# --- security groups -------------------------------------------------------------------------
# alb     <- internet on 80/443
# api     <- alb on the API port
# workers    (CPU/GPU workers, sweeper, scaler, GPU instances): no inbound at all
# db      <- api, workers on 5432
# redis   <- api, workers on 6379

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ALB, ECS services, RDS, ElastiCache) through this module's outputs, which checkov does not follow.
  name_prefix = "${var.name}-alb-"
  description = "Public load balancer of the quire API"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-alb" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each          = toset(var.alb_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from clients"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers with a redirect to HTTPS once certificate_arn is set.
  for_each          = toset(var.alb_ingress_cidrs)
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from clients (redirected to HTTPS when a certificate is set)"
  cidr_ipv4         = each.value
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the API tasks"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = var.api_port
  to_port                      = var.api_port
}

resource "aws_security_group" "api" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ALB, ECS services, RDS, ElastiCache) through this module's outputs, which checkov does not follow.
  name_prefix = "${var.name}-api-"
  description = "quire API tasks"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-api" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "From the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.api_port
  to_port                      = var.api_port
}

resource "aws_security_group" "workers" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ALB, ECS services, RDS, ElastiCache) through this module's outputs, which checkov does not follow.
  name_prefix = "${var.name}-workers-"
  description = "quire workers, sweeper, scaler and GPU container instances (no inbound)"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-workers" })

  lifecycle {
    create_before_destroy = true
  }
}

# API and workers need outbound HTTPS (ECR, S3, Secrets Manager, CloudWatch, webhooks to
# arbitrary tenant URLs) plus PostgreSQL and Redis inside the VPC.
resource "aws_vpc_security_group_egress_rule" "app_all" {
  for_each          = { api = aws_security_group.api.id, workers = aws_security_group.workers.id }
  security_group_id = each.value
  description       = "Outbound: AWS APIs, image pulls, tenant webhooks, database, broker"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"
}

resource "aws_security_group" "db" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ALB, ECS services, RDS, ElastiCache) through this module's outputs, which checkov does not follow.
  name_prefix = "${var.name}-db-"
  description = "quire PostgreSQL"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-db" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "db" {
  for_each                     = { api = aws_security_group.api.id, workers = aws_security_group.workers.id }
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from ${each.key}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "redis" {
  #checkov:skip=CKV2_AWS_5:Attached in other modules (ALB, ECS services, RDS, ElastiCache) through this module's outputs, which checkov does not follow.
  name_prefix = "${var.name}-redis-"
  description = "quire Redis broker"
  vpc_id      = aws_vpc.this.id
  tags        = merge(var.tags, { Name = "${var.name}-redis" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "redis" {
  for_each                     = { api = aws_security_group.api.id, workers = aws_security_group.workers.id }
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from ${each.key}"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
