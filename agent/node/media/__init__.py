"""The node's media plane."""
