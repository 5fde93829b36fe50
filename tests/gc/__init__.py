"""A connection's life on the server leaves no cyclic garbage."""
