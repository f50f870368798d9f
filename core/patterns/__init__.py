"""The execution patterns' runners: streaming, measure, async concurrency, compare, streaming events, fallbacks, retries, rate limits, caching, conversations, structured output and tools, load at an arrival rate.

Import from the modules (`from core.patterns.<module> import ...`): this package re-exports nothing, so
importing one module never loads its heavier siblings.
"""
