"""PostgreSQL: versioned migrations, the asyncpg pool and the registry repository."""
