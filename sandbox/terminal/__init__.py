"""The browser terminal: a small command language (parser), what it may do (policy), and the
process runner that executes real kubectl for it. See docs in each module."""
