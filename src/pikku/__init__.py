"""pikku: durable workflows for Python."""
