"""The project's own books: run history, metrics, quarantined row keys, and their retention."""
