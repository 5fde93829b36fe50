"""The Engine.IO server (sessions, transports, HTTP front) and the Socket.IO server built on it."""
