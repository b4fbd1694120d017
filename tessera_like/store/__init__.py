"""Payload storage: one SQL code path for SQLite and PostgreSQL, with numbered migrations."""
