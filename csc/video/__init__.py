"""Video input: reading collections, scene cuts, synthetic movies."""
