"""Sharing checkpoints: the Trainer that writes NegCLIP's model card, and the card itself."""
