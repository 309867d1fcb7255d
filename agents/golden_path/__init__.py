"""The local golden path: plays the control plane and runs every step of the seed with the real CLIs."""
