"""Dead-letter capture: every reason, with its header and the original body byte-identical."""
