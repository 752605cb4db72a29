"""The knowledge base and FAQ manual."""
