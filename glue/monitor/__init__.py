"""Monitoring: alert rules (catalog/alerts.yml), their pure evaluation, alert state in the
state DB, health from the agent and control-plane probes, and the channels that notify."""
