"""The client API v2 routes."""
