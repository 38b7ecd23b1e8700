"""The default model: procedural clips, captions, the tiny video transformer's training."""
