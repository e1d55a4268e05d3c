"""Load-test stage: closed-loop (and open-loop) users against an OpenAI-compatible server."""
