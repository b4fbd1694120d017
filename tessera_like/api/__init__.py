"""HTTP surfaces of the manager: Q2T (its own node) and P2P (other managers)."""
