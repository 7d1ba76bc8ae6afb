"""The bot runtime: lifecycle state machine, plugin host, roster, fleet."""
