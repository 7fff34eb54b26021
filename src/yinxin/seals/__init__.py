"""Electronic seals: software-made seal images (render) and their lifecycle."""
