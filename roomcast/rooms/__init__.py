"""Room membership and the adapters that carry broadcasts between one server and many."""
