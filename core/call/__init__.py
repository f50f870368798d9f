"""One model call: the model built from the settings, its call trace and the figures derived from it, groups of calls (runs), and its errors in words.

Import from the modules (`from core.call.<module> import ...`): this package re-exports nothing, so
importing one module never loads its heavier siblings.
"""
