"""Live analysis: EIS fits, CT microstructure, cycling metrics, and their results in Tiled."""
