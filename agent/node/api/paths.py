"""URL prefixes of the client API v2 routes."""

PREFIX = "/api/client/v2/conferences/{alias}"
P_PREFIX = PREFIX + "/participants/{participant}"
C_PREFIX = P_PREFIX + "/calls/{call}"
