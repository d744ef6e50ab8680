"""The accounts REST API: projects, teams, memberships, tokens, credentials and audit events."""
