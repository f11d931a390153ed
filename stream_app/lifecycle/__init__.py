"""Model lifecycle: job states, champion/challenger, artifacts, Redis coordination, the job runner."""
