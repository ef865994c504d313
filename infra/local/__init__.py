"""The local stack (the template deployed into moto's server) and ``fpw up``.

Development and test tooling: nothing that deploys to AWS or runs in the fleet
imports it.
"""
