"""crossforce over Flower (DESIGN.md §10).

- ``protocol``   the two message types, the byte-payload records, and the two services
                 the apps drive: ``NodeService`` (node side) and ``CoordinatorService``
- ``gateway``    the node gateway a force runs: FastAPI on loopback / Unix socket, two
                 endpoints, relay secret, audit hook
- ``clientapp``  the thin relay Flower ships to SuperNodes (untrusted: holds nothing)
- ``serverapp``  the coordinator's rounds: collect → link → notify (``run_federation``)
- ``grid``       an in-process Grid for tests and ``--engine inprocess``
- ``deployment`` SuperLink + SuperNodes on loopback, TLS + node authentication, supervised
"""
