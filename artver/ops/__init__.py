"""Use-cases: each module is one thing a user asks artver to do, over a Repo."""
