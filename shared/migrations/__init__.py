"""Alembic migrations for the quire database."""
