"""Storage: the only package that speaks SQL or opens a database connection."""
