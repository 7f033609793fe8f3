"""Where servers come from: one module per provider (lab, hcloud, aws)."""
