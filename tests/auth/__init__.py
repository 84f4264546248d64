"""Authentication flows against independent, real acceptors."""
