"""AWS EC2 (terraform/stacks/aws): type is the instance type (e.g. t3.medium), region the AWS
region (e.g. eu-central-1); EC2 assigns the public IPv4 when it launches the instance."""

from __future__ import annotations

from glue.providers import Provider


class Aws(Provider):
    name = "aws"


PROVIDER = Aws()
