"""The gold: what the validated annotations of each document say once adjudicated (used by the knowledge base and the build)."""
