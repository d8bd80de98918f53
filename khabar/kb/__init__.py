"""The knowledge base of the annotations: real-world entities, links of mentions to them, quote clusters."""
