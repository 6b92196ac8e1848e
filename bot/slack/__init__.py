"""Slack transport: slack-bolt wiring, payload → Invocation, Reply → Block Kit and modals."""
