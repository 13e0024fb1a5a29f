"""The node's parameters: one table, and the typed configuration built from it at the edges."""
