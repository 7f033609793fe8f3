terraform {
  required_version = ">= 1.9"

  required_providers {
    hcloud = {
      source  = "hetznercloud/hcloud"
      version = "~> 1.48"
    }
  }

  # State path given at init by the wrapper: ROOT/state/terraform/hcloud/terraform.tfstate.
  backend "local" {}
}

# The API token comes from HCLOUD_TOKEN in the environment, never from a variable or a file.
provider "hcloud" {}
