"""Money: token usage as reported, price tables, the cost of a call, a call's receipt, and the session ledger that prices every call.

Import from the modules (`from core.money.<module> import ...`): this package re-exports nothing, so
importing one module never loads its heavier siblings.
"""
