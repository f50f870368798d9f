"""What keeps a lab safe to share: who may use a shared lab and whose saved runs are whose, which key may go to which URL, which addresses a Base URL may reach, and untrusted text kept as text (CSV cells, Markdown).

Import from the modules (`from core.security.<module> import ...`): this package re-exports nothing, so
importing one module never loads its heavier siblings.
"""
