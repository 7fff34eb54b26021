"""Who may call the API: API keys bound to a role (and for some roles to one organization),
and the answers kept so a retried POST acts once (``Idempotency-Key``)."""
