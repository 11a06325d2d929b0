"""Configuration texts that several daemon tests share: the secretaría's two agents and
the info queue they answer."""

# Berta answers; Carlos coordinates.
AGENTS = """
[[agents]]
name = "Berta Gómez"
addresses = ["berta@uni.example"]
groups = ["secretaria"]

[[agents]]
name = "Carlos"
addresses = ["carlos@uni.example"]
groups = ["secretaria"]
coordinator = true
"""
# One agent in the rotation: on duty whatever day the test runs.
QUEUES = """
[[queues]]
name = "info"
addresses = ["info@uni.example"]
tag = "INFO"
groups = ["secretaria"]
rotation = ["berta@uni.example"]
"""
