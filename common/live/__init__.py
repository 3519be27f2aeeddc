"""Live, endless generation: a paced stream of blocks, its outputs (stdout,
sound card, recorder) and its web server."""
