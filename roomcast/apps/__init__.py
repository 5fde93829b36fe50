"""Ready-made Socket.IO apps: the chat that ``roomcast serve`` runs."""
