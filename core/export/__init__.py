"""What leaves the lab: the session report, runnable code snippets, and traces sent to LangSmith or an OpenTelemetry backend.

Import from the modules (`from core.export.<module> import ...`): this package re-exports nothing, so
importing one module never loads its heavier siblings.
"""
