"""Client API v2 for Pexip Infinity: typed endpoints, join flows, token refresh, events."""
