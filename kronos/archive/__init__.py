"""Reading package archives: mirrors, signed Release files, indices."""
