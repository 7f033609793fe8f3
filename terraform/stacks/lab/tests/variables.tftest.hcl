# terraform test (offline): the lab stack's variable contract. Run by
# tests/integration/test_terraform_wrapper.py, or by hand: terraform init && terraform test.
# bubble_command = ["true"] makes the create/destroy provisioners no-ops, so the apply run
# checks the wiring (for_each keys, outputs) without booting lab servers.

variables {
  ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBubbleHostTestKeyOnly test@bubblehost"
  bubble_command = ["true"]
  servers = {
    web1  = { type = "lab", region = "lab", cores = 2, core_mhz = 2000, memory_mib = 4096, disk_gib = 40, address = "198.18.0.11" }
    web-2 = { type = "lab", region = "lab", cores = 1, core_mhz = 2500, memory_mib = 1024, disk_gib = 10, address = "198.18.0.12" }
  }
}

run "valid_servers_plan_one_resource_each" {
  command = plan

  assert {
    condition     = toset(keys(terraform_data.server)) == toset(["web1", "web-2"])
    error_message = "Expected one terraform_data per server, keyed by name."
  }

  assert {
    condition     = terraform_data.server["web1"].triggers_replace.disk_gib == 40
    error_message = "disk_gib must be a replacement trigger."
  }
}

run "apply_outputs_addresses_by_name" {
  command = apply

  assert {
    condition     = output.servers == { web1 = { address = "198.18.0.11" }, web-2 = { address = "198.18.0.12" } }
    error_message = "output servers must map each name to { address }."
  }
}

run "rejects_upper_case_name" {
  command = plan
  variables {
    servers = { "Web1" = { type = "lab", region = "lab", cores = 2, core_mhz = 2000, memory_mib = 4096, disk_gib = 40, address = "198.18.0.11" } }
  }
  expect_failures = [var.servers]
}

run "rejects_name_starting_with_digit" {
  command = plan
  variables {
    servers = { "1web" = { type = "lab", region = "lab", cores = 2, core_mhz = 2000, memory_mib = 4096, disk_gib = 40, address = "198.18.0.11" } }
  }
  expect_failures = [var.servers]
}

run "rejects_underscore_name" {
  command = plan
  variables {
    servers = { web_1 = { type = "lab", region = "lab", cores = 2, core_mhz = 2000, memory_mib = 4096, disk_gib = 40, address = "198.18.0.11" } }
  }
  expect_failures = [var.servers]
}

run "rejects_zero_cores" {
  command = plan
  variables {
    servers = { web1 = { type = "lab", region = "lab", cores = 0, core_mhz = 2000, memory_mib = 4096, disk_gib = 40, address = "198.18.0.11" } }
  }
  expect_failures = [var.servers]
}

run "rejects_zero_disk" {
  command = plan
  variables {
    servers = { web1 = { type = "lab", region = "lab", cores = 2, core_mhz = 2000, memory_mib = 4096, disk_gib = 0, address = "198.18.0.11" } }
  }
  expect_failures = [var.servers]
}

run "rejects_bad_address" {
  command = plan
  variables {
    servers = { web1 = { type = "lab", region = "lab", cores = 2, core_mhz = 2000, memory_mib = 4096, disk_gib = 40, address = "198.18.0.256" } }
  }
  expect_failures = [var.servers]
}

run "rejects_missing_lab_address" {
  command = plan
  variables {
    servers = { web1 = { type = "lab", region = "lab", cores = 2, core_mhz = 2000, memory_mib = 4096, disk_gib = 40, address = "" } }
  }
  expect_failures = [var.servers]
}

run "rejects_bad_ssh_key" {
  command = plan
  variables {
    ssh_public_key = "not a key"
  }
  expect_failures = [var.ssh_public_key]
}

run "rejects_empty_bubble_command" {
  command = plan
  variables {
    bubble_command = []
  }
  expect_failures = [var.bubble_command]
}
