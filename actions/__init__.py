"""Custom actions (rasa-sdk). One small module per feature; shared logic in `base`.

Actions compose replies from `content/` (answers, citations, contacts) and domain responses
(the fixed words around them). No prose lives in Python.
"""
