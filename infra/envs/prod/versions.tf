terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # Remote state. Create the bucket (versioned, encrypted) and the lock table once, by hand
  # or from a separate bootstrap stack, then uncomment this block, fill in the names and run
  # `terraform init -migrate-state`. Until then state is local (terraform.tfstate here),
  # and it holds the generated database and Redis passwords: keep it out of git.
  #
  # backend "s3" {
  #   bucket         = "my-org-terraform-state"
  #   key            = "quire/prod/terraform.tfstate"
  #   region         = "us-east-1"
  #   dynamodb_table = "terraform-locks"
  #   encrypt        = true
  # }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "quire"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}
