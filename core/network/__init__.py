"""The network between the lab and a model: the network-conditions proxy, record and replay, and the loopback server both serve on.

Import from the modules (`from core.network.<module> import ...`): this package re-exports nothing, so
importing one module never loads its heavier siblings.
"""
