"""Stage 6, render: records -> text for people (rich) or JSON for machines.

Renderers only format; they never decide anything about a connection.
"""
