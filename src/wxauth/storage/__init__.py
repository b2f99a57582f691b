"""SQL storage (SQLAlchemy 2.0 async) and its alembic migrations."""
