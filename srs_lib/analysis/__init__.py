"""What the book measures, on any corpus in the release format: the ranking metrics and their
significance, sticker similarity (SSIM), the reference scorers, the comparison grid's results
and the diagnostic runs."""
