"""Privacy: pseudonymous customer ids, redaction of free text, erasure."""
