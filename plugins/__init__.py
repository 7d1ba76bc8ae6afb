"""Built-in pexbot plugins."""
