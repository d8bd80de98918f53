"""The entity model: a CRF per nesting level, trained here on CPU, served to Label Studio."""
