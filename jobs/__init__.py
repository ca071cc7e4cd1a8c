"""Scheduled and background work: reminders and deliveries (later issues)."""
