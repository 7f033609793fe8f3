terraform {
  # terraform_data and validation messages that name the bad entries need >= 1.9.
  required_version = ">= 1.9"

  # Only builtin things: this stack works offline. The state path is given at init by the
  # wrapper (glue/terraform.py): -backend-config=path=ROOT/state/terraform/lab/terraform.tfstate.
  backend "local" {}
}
