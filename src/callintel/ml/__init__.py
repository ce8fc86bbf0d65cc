"""Model backends. The only package that imports torch, faster_whisper, transformers or
sentence_transformers; everything above talks to the Protocols in ``protocols``."""
