"""The process: settings, the command line, one running instance with its roles, leadership and
background work, and its HTTP server (health, metrics, calendars, the webhook's door)."""
