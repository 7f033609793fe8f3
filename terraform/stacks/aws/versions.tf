terraform {
  required_version = ">= 1.9"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }

  # State path given at init by the wrapper: ROOT/state/terraform/aws/terraform.tfstate.
  backend "local" {}
}

# One provider configuration serves one region: every server of this stack shares it
# (checked in main.tf). Credentials come from the environment / shared config, never variables.
provider "aws" {
  region = local.region

  default_tags {
    tags = { managed-by = "bubblehost" }
  }
}
