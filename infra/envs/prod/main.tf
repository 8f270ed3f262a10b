locals {
  name = "quire-${var.environment}"
}

module "network" {
  source            = "../../modules/network"
  name              = local.name
  alb_ingress_cidrs = var.alb_ingress_cidrs
}

module "data" {
  source                  = "../../modules/data"
  name                    = local.name
  vpc_id                  = module.network.vpc_id
  private_subnet_ids      = module.network.private_subnet_ids
  db_security_group_id    = module.network.db_security_group_id
  redis_security_group_id = module.network.redis_security_group_id
  db_instance_class       = var.db_instance_class
  db_multi_az             = var.db_multi_az
  redis_node_type         = var.redis_node_type
  redis_replicas          = var.redis_replicas
  bucket_name             = var.bucket_name
  ui_origins              = [var.public_base_url]
}

# The GPU Auto Scaling group runs both GPU services' tasks, one task per instance.
module "ecs" {
  source                    = "../../modules/ecs"
  name                      = local.name
  private_subnet_ids        = module.network.private_subnet_ids
  workers_security_group_id = module.network.workers_security_group_id
  kms_key_arn               = module.data.kms_key_arn
  gpu_instance_type         = var.gpu_instance_type
  gpu_max_instances         = var.gpu_max_tasks + var.train_max_tasks
  gpu_warm_pool_size        = var.gpu_warm_pool_size
}

module "services" {
  source                     = "../../modules/services"
  name                       = local.name
  region                     = var.region
  cluster_arn                = module.ecs.cluster_arn
  cluster_name               = module.ecs.cluster_name
  gpu_capacity_provider_name = module.ecs.gpu_capacity_provider_name
  vpc_id                     = module.network.vpc_id
  public_subnet_ids          = module.network.public_subnet_ids
  private_subnet_ids         = module.network.private_subnet_ids
  alb_security_group_id      = module.network.alb_security_group_id
  api_security_group_id      = module.network.api_security_group_id
  workers_security_group_id  = module.network.workers_security_group_id
  bucket_name                = module.data.bucket_name
  bucket_arn                 = module.data.bucket_arn
  kms_key_arn                = module.data.kms_key_arn
  database_url_secret_arn    = module.data.database_url_secret_arn
  redis_url_secret_arn       = module.data.redis_url_secret_arn
  api_image                  = "${module.ecs.ecr_repository_urls["api"]}:${var.image_tag}"
  worker_image               = "${module.ecs.ecr_repository_urls["worker"]}:${var.image_tag}"
  certificate_arn            = var.certificate_arn
  public_base_url            = var.public_base_url
  api_desired_count          = var.api_desired_count
  worker_cpu_desired_count   = var.worker_cpu_desired_count
  detector_model             = var.detector_model
  recognizer_model           = var.recognizer_model
}

module "scaling" {
  source                  = "../../modules/scaling"
  name                    = local.name
  cluster_name            = module.ecs.cluster_name
  gpu_service_name        = module.services.gpu_service_name
  min_capacity            = var.gpu_min_tasks
  max_capacity            = var.gpu_max_tasks
  target_backlog_per_task = var.target_backlog_per_task
  train_service_name      = module.services.train_service_name
  train_max_capacity      = var.train_max_tasks
}

module "monitoring" {
  source                     = "../../modules/monitoring"
  name                       = local.name
  region                     = var.region
  kms_key_arn                = module.data.kms_key_arn
  alarm_emails               = var.alarm_emails
  alb_arn_suffix             = module.services.alb_arn_suffix
  target_group_arn_suffix    = module.services.target_group_arn_suffix
  db_instance_id             = module.data.db_instance_id
  redis_replication_group_id = module.data.redis_replication_group_id
  redis_node_count           = module.data.redis_node_count
  gpu_service_name           = module.services.gpu_service_name
  train_service_name         = module.services.train_service_name
}
