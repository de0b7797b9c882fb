"""The national coordinator: tokens and links only, linkage, networks, hits."""
