"""Pure wire codecs for Engine.IO v4 and Socket.IO protocol 5: no I/O, bytes and str in, dataclasses out."""
