"""What the commands do, without any CLI: each function takes a Context and plain values."""
