"""The running service: sources chained into one view, health, and the write path."""
