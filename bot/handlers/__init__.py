"""Handlers: each module turns updates into calls on storage and answers into messages."""
