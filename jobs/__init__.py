"""Background work: when reminders are due, the delivery engine and its pacing, supervision and
outages. Only ``jobs.sender`` knows Telegram."""
