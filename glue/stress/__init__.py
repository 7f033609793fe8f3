"""`bubble stress`: HTTP load at a constant arrival rate against one site (`load`), its
figures (`stats`), the run with the agent's usage, the scaler's events and a noisy
neighbour (`run`), and the report as JSON and HTML (`report`)."""
