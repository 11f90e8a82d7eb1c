"""Learning from thumbs-up/down: Bradley-Terry fine-tuning of the query side against the
target tokens already in a library's index (SPN's second stage, on the user's own pairs)."""
