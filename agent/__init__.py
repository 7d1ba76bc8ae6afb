"""pexbot: headless conference bots for Pexip Infinity."""
