"""Stage 4: the signed apt repository (and, from it, source uploads)."""
