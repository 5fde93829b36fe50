"""Running roomcast on several processes: workers sharing one port, sessions kept on their owner."""
