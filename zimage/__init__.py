"""zimage: make images with Z-Image-Turbo from Python, the command line or a Gradio app."""

__version__ = "0.1.0"
